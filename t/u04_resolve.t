#!/usr/bin/perl

# server NAME:PORT resolve: when the name's addresses change, the pool
# follows -- the checker notices, the master reloads.  The test changes
# the name's address through /etc/hosts, bind-mounted from its temp dir
# in a private mount namespace of sluice's own (root and unshare needed).

use strict;
use warnings;

use Test::More;
use SluiceTest;

plan(skip_all => 'needs root to make a mount namespace') if $> != 0;
my $unshare = (grep { -x "$_/unshare" } split /:/, $ENV{PATH})[0];
plan(skip_all => 'needs unshare(1)') unless $unshare;
plan(skip_all => 'unshare -m does not work here')
    if system("unshare -m true >/dev/null 2>&1") != 0;

my $t = SluiceTest->new;
my $dir = $t->testdir;
my $hosts = "$dir/hosts";

sub set_hosts {
    my (@ips) = @_;
    # In place: the bind mount follows the inode.
    my $f;
    open($f, '+<', $hosts) or open($f, '>', $hosts) or die "$hosts: $!";
    truncate $f, 0;
    seek $f, 0, 0;
    print $f "127.0.0.1 localhost\n", map { "$_ sltest.invalid\n" } @ips;
    close $f;
}
set_hosts('127.0.0.1');

my $real = $t->bin;
my $wrap = "$dir/sluice-ns";
open my $w, '>', $wrap or die;
print $w "#!/bin/sh\nexec unshare -m sh -c 'mount --bind \"\$0\" /etc/hosts "
    . "&& exec \"\$@\"' '$hosts' '$real' \"\$@\"\n";
close $w;
chmod 0755, $wrap;
$t->{bin} = $wrap;

$t->write_conf(<<'EOF2');
worker_processes 2;
http {
    access_log off;
    upstream app {
        server sltest.invalid:%%PORT_1%% resolve max_fails=0;
        resolve_interval 300ms;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; }
    }
    server { listen 127.0.0.1:%%PORT_1%%; location / { return 200 "one"; } }
    server { listen 127.0.0.2:%%PORT_1%%; location / { return 200 "two"; } }
}
EOF2
$t->start;
my $p0 = $t->port(0);

sub bodies {
    my %seen;
    for (1 .. 10) {
        my ($st, undef, $b) = parse_response(http_get($p0, '/'));
        $seen{($st // 0) == 200 ? $b : 'status ' . ($st // 'none')}++;
    }
    return join ',', sort keys %seen;
}

is(bodies(), 'one', 'the name resolves to 127.0.0.1');

set_hosts('127.0.0.2');
ok(wait_for(sub { bodies() eq 'two' }, 10),
    'after the address changed, requests go to 127.0.0.2');
my ($rc, $out) = $t->ctl('servers', 'app');
like($out, qr/127\.0\.0\.2:\d+/, 'sluicectl servers lists the new address');
unlike($out, qr/127\.0\.0\.1:\d+/, 'and not the old one');

set_hosts('127.0.0.1', '127.0.0.2');
ok(wait_for(sub { bodies() eq 'one,two' }, 10),
    'two addresses: both served');

like($t->error_log, qr/the addresses of sltest\.invalid changed/,
    'the change is logged');
my $reloads = () = $t->error_log =~ /upstream addresses changed in DNS, reloading/g;
is($reloads, 2, 'one reload per change');

$t->stop;
done_testing;
