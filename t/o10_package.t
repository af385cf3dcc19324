#!/usr/bin/perl

# The Debian package: `make deb-check` in a temp copy of the tree builds
# it from the release tarball with contrib/debian, lintian finds no error,
# and the package holds what an install needs, with a configuration that
# works as installed.
#
# Building a package takes a while and needs dpkg-buildpackage, debhelper
# and lintian, so this runs only with SLUICE_TEST_PACKAGE=1.  It needs
# neither SLUICE_BIN nor root.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Find ();
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

plan(skip_all => 'set SLUICE_TEST_PACKAGE=1 to build the Debian package')
    unless $ENV{SLUICE_TEST_PACKAGE};

sub have { my $c = shift; return !system("command -v $c >/dev/null 2>&1") }

for my $tool (qw(dpkg-buildpackage dh lintian autoreconf make)) {
    plan(skip_all => "$tool not installed") unless have($tool);
}

my $top = abs_path(dirname(abs_path($0)) . '/..');
my $keep = $ENV{SLUICE_TEST_KEEP};
my $tmp = tempdir('sluice-pkg-XXXXXXXX', TMPDIR => 1, CLEANUP => !$keep);
diag("package test dir $tmp") if $keep;
# sluice -t runs as nobody below and must reach the unpacked files.
chmod 0755, $tmp if $> == 0;
my $src = "$tmp/src";

# ---- a clean copy of the tree ------------------------------------------------------

# The files a checkout has (tracked, or new and not ignored), else, for a
# tree unpacked from a tarball, all of them.
sub tree_files {
    if (-e "$top/.git" && have('git')) {
        my @f = `git -C '$top' ls-files -z --cached --others --exclude-standard`;
        return grep { length && -f "$top/$_" } split /\0/, join '', @f
            unless $?;
    }
    my @f;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $rel = File::Spec->abs2rel($_, $top);
        # Build directories: the usual names, or any with a config.status
        # below the top.
        if (-d $_ && ($rel =~ m{^(?:_build|_inst|autom4te\.cache|deb-build
                                    |sluice-[\d.]+)(?:/|$)}x
                      || ($rel ne '.' && -e "$_/config.status"))) {
            $File::Find::prune = 1;
            return;
        }
        push @f, $rel if -f $_;
    } }, $top);
    return @f;
}

my @files = tree_files();
ok(scalar(grep { $_ eq 'contrib/debian/control' } @files),
    'the tree has contrib/debian')
    or BAIL_OUT('no contrib/debian/control in the tree');
for my $f (@files) {
    make_path(dirname("$src/$f"));
    copy("$top/$f", "$src/$f") or die "copy $f: $!\n";
    chmod((stat "$top/$f")[2] & 0777 | 0200, "$src/$f");
}

# ---- make deb-check -------------------------------------------------------------------

# Runs a shell command in the copy, bounded, output to a log.  Returns
# the exit code; on failure shows the end of the log.
sub run {
    my ($name, $cmd, $timeout) = @_;
    my $log = "$tmp/$name.log";
    my $rc = system('sh', '-c',
        "cd '$src' && timeout $timeout sh -c '$cmd' >'$log' 2>&1");
    $rc = $rc == -1 ? -1 : $rc >> 8;
    if ($rc != 0) {
        open my $f, '<', $log;
        my @l = <$f>;
        diag("$name failed (exit $rc), last lines:\n",
            join '', @l[($#l > 40 ? $#l - 40 : 0) .. $#l]);
    }
    return $rc;
}

my $t0 = time;
is(run('autoreconf', 'autoreconf -fi', 300), 0, 'autoreconf')
    or BAIL_OUT('cannot bootstrap the copy');
is(run('configure', './configure', 300), 0, 'configure')
    or BAIL_OUT('cannot configure the copy');
my $rc = run('deb-check', 'make deb-check', 1800);
is($rc, 0, 'make deb-check');
diag(sprintf 'package built and checked in %d s', time - $t0);

my ($deb) = glob("$src/sluice_*_*.deb");
ok($deb && -f $deb, 'sluice_*.deb left in the build directory')
    or BAIL_OUT('no package');

# ---- lintian ----------------------------------------------------------------------------

my $lintian = do { local (@ARGV, $/) = "$src/lintian.log"; <> } // '';
my @errors = $lintian =~ /^(E: .*)$/mg;
is(scalar @errors, 0, 'lintian: no errors') or diag(join "\n", @errors);
my @warnings = $lintian =~ /^(W: .*)$/mg;
note("lintian warning: $_") for @warnings;

# ---- contents ----------------------------------------------------------------------------

my %in_deb = map { (split ' ', $_)[5] => 1 } `dpkg -c '$deb'`;
for my $f (qw(
    ./usr/sbin/sluice ./usr/sbin/sluicectl
    ./etc/sluice/sluice.conf ./etc/sluice/conf.d/
    ./usr/share/man/man8/sluice.8.gz ./usr/share/man/man8/sluicectl.8.gz
    ./usr/share/man/man5/sluice.conf.5.gz
    ./lib/systemd/system/sluice.service
    ./etc/logrotate.d/sluice
    ./usr/lib/tmpfiles.d/sluice.conf
    ./usr/share/bash-completion/completions/sluicectl
    ./usr/share/doc/sluice/copyright
    ./var/log/sluice/ ./var/lib/sluice/ ./var/cache/sluice/))
{
    ok($in_deb{$f}, "package holds $f");
}

my %conffile = map { chomp; $_ => 1 } `dpkg-deb -I '$deb' conffiles`;
ok($conffile{$_}, "$_ is a conffile")
    for qw(/etc/sluice/sluice.conf /etc/logrotate.d/sluice);

my $control = `dpkg-deb -f '$deb'`;
like($control, qr/^Depends:.*\badduser\b/m, 'depends on adduser');
my $scripts = `dpkg-deb -I '$deb'`;
like($scripts, qr/\bpostinst\b/, 'has a postinst');
like($scripts, qr/\bpostrm\b/, 'has a postrm');

# ---- the files as installed ----------------------------------------------------------------

my $root = "$tmp/root";
make_path($root);
is(system('dpkg-deb', '-x', $deb, $root), 0, 'unpacks');

sub slurp { my $p = shift; local (@ARGV, $/) = $p; return <> // '' }

my $conf = slurp("$root/etc/sluice/sluice.conf");
like($conf, qr/^user\s+sluice\s*;/m, 'sluice.conf: user sluice');
like($conf, qr{^\s*include\s+/etc/sluice/conf\.d/\*\.conf\s*;}m,
    'sluice.conf: includes /etc/sluice/conf.d/*.conf');
like($conf, qr/^\s*listen\s+80\b/m, 'sluice.conf: a server on port 80');

# The shipped configuration passes -t with the shipped binary.  As root,
# -t looks the user up, and this machine need not have it: run it as
# nobody, which checks everything else.
SKIP: {
    skip 'setpriv not installed', 1 unless have('setpriv');
    my @as = $> == 0
        ? ('setpriv', '--reuid=65534', '--regid=65534', '--clear-groups')
        : ();
    my $out = `@as '$root/usr/sbin/sluice' -t -c '$root/etc/sluice/sluice.conf' 2>&1`;
    is($out, "configuration OK\n", 'sluice -t accepts the shipped sluice.conf');
}

my $unit = slurp("$root/lib/systemd/system/sluice.service");
like($unit, qr/^Type=notify$/m, 'unit: Type=notify');
like($unit, qr{^ExecStart=/usr/sbin/sluice -f$}m, 'unit: sluice -f');
like($unit, qr{^ExecReload=/usr/sbin/sluicectl reload$}m,
    'unit: reload through sluicectl');
SKIP: {
    skip 'systemd-analyze not installed', 1 unless have('systemd-analyze');
    # Only the unit's syntax: the binaries it names are not installed here.
    my $out = `systemd-analyze verify '$root/lib/systemd/system/sluice.service' 2>&1`;
    my @bad = grep { !/is not executable|Command 'man / } split /\n/, $out;
    is(scalar @bad, 0, 'systemd-analyze verify: no complaint about the unit')
        or diag(join "\n", @bad);
}

my $rot = slurp("$root/etc/logrotate.d/sluice");
like($rot, qr/sluicectl reopen/, 'logrotate: reopens through sluicectl');
like($rot, qr/^\s*create 0640 sluice adm$/m, 'logrotate: new logs for sluice');

my $tmpf = slurp("$root/usr/lib/tmpfiles.d/sluice.conf");
like($tmpf, qr{^d /run/sluice 0755 root root}m, 'tmpfiles: /run/sluice');

done_testing;
