#!/usr/bin/perl

# systemd's notify protocol (sd_notify(3)), as a Type=notify unit sees it:
# READY=1 with MAINPID once the workers run, RELOADING=1 (with
# MONOTONIC_USEC) and READY=1 around a reload, READY=1 with "reload
# failed" in STATUS when the new configuration is refused, STOPPING=1 at
# a stop.  The test binds the datagram socket that NOTIFY_SOCKET names,
# as systemd would; an abstract one ("@name") and a missing one too.

use strict;
use warnings;

use Test::More;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_DGRAM);
use Time::HiRes qw(time sleep clock_gettime CLOCK_MONOTONIC);
use SluiceTest;

# sluicectl is used when there is one; the signals cover the rest.
my $t = SluiceTest->new(need_ctl => 0);
my $have_ctl = defined $t->ctlbin && -x $t->ctlbin;

my $dir = $t->testdir;
my $p0 = $t->port(0);

sub conf {
    my ($text, $extra) = @_;
    $extra //= '';
    $t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 2;
worker_shutdown_timeout 2s;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$text"; }
        $extra
    }
}
EOF
}

sub body {
    my ($st, undef, $b) = parse_response(http_get($p0, '/'));
    return defined $st ? "$st $b" : 'none';
}

# The socket systemd would listen on.  A path one must fit in sun_path.
sub notify_socket {
    my ($name) = @_;
    my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $name)
        or die "cannot bind notify socket: $!\n";
    return $s;
}

# The next datagram within timeout seconds, as a hash of its
# NAME=VALUE lines (and _raw => the text); undef when none came.
sub next_msg {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    return undef unless $sel->can_read($timeout // 5);
    my $buf = '';
    defined recv($s, $buf, 4096, 0) or return undef;
    my %m = (_raw => $buf);
    for my $l (split /\n/, $buf) {
        $m{$1} = $2 if $l =~ /^([A-Z_]+)=(.*)$/;
    }
    return \%m;
}

# Every datagram that arrives within timeout seconds.
sub drain_msgs {
    my ($s, $timeout) = @_;
    my @m;
    while (my $m = next_msg($s, $timeout)) {
        push @m, $m;
    }
    return @m;
}

sub show { my $m = shift; return defined $m ? $m->{_raw} : 'nothing' }

sub monotonic_usec { int(clock_gettime(CLOCK_MONOTONIC) * 1e6) }

# Checks a reload's pair of datagrams: RELOADING=1 with a MONOTONIC_USEC
# taken during the reload, then READY=1 with status matching $status_re.
sub check_reload_pair {
    my ($s, $what, $before, $status_re) = @_;
    my $m1 = next_msg($s, 5);
    ok($m1 && ($m1->{RELOADING} // '') eq '1', "$what: RELOADING=1 first")
        or diag('got: ' . show($m1));
    my $usec = $m1 ? $m1->{MONOTONIC_USEC} // '' : '';
    ok($usec =~ /^\d+$/ && $usec >= $before && $usec <= monotonic_usec(),
        "$what: MONOTONIC_USEC is CLOCK_MONOTONIC at the reload")
        or diag("MONOTONIC_USEC '$usec', before $before");
    ok(!$m1 || !exists $m1->{READY}, "$what: no READY=1 with RELOADING=1");
    my $m2 = next_msg($s, 5);
    ok($m2 && ($m2->{READY} // '') eq '1', "$what: then READY=1")
        or diag('got: ' . show($m2));
    like($m2 ? $m2->{STATUS} // '' : '', $status_re, "$what: STATUS");
    ok(!$m2 || !exists $m2->{MAINPID}, "$what: MAINPID only at the start");
}

my $ns_path = "$dir/notify.sock";
my $ns = notify_socket($ns_path);

# ---- start ------------------------------------------------------------------

conf('v1');
{
    local $ENV{NOTIFY_SOCKET} = $ns_path;
    $t->start;
}
my $master = $t->pid;

{
    my $m = next_msg($ns, 10);
    ok($m && ($m->{READY} // '') eq '1', 'start: READY=1')
        or diag('got: ' . show($m));
    is($m ? $m->{MAINPID} : undef, $master, 'start: MAINPID is the master');
    like($m ? $m->{STATUS} // '' : '', qr/generation 1\b/,
        'start: STATUS names generation 1');
    ok($t->worker_pids >= 1, 'start: workers run once READY=1 is sent');
    is(body(), '200 v1', 'start: serving');
    my @more = drain_msgs($ns, 0.3);
    is(scalar @more, 0, 'start: one datagram only')
        or diag(join ' | ', map { show($_) } @more);
}

# ---- reload by SIGHUP -----------------------------------------------------------

{
    conf('v2');
    my $before = monotonic_usec();
    $t->signal('HUP');
    check_reload_pair($ns, 'HUP', $before, qr/generation 2\b/);
    ok(wait_for(sub { body() eq '200 v2' }, 5), 'HUP: new config serves');
}

# ---- reload by sluicectl --------------------------------------------------------------

SKIP: {
    skip 'no SLUICECTL_BIN', 16 unless $have_ctl;

    conf('v3');
    my $before = monotonic_usec();
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'sluicectl reload: exit 0') or diag($err);
    check_reload_pair($ns, 'sluicectl reload', $before, qr/generation 3\b/);
    is(body(), '200 v3', 'sluicectl reload: new config serves');

    # A bad configuration: refused, the old one serves on, and the
    # service manager is told it is ready again, with the failure.
    conf('v4', 'no_such_directive on;');
    $before = monotonic_usec();
    ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 1, 'bad config: sluicectl reload exits 1');
    like($err, qr/no_such_directive/, 'bad config: the reason on stderr');
    check_reload_pair($ns, 'bad config', $before,
        qr/reload failed.*generation 3\b/);
}

# A bad configuration by SIGHUP: the same datagrams.
{
    conf('v5', 'no_such_directive on;');
    my $before = monotonic_usec();
    $t->signal('HUP');
    check_reload_pair($ns, 'bad config by HUP', $before, qr/reload failed/);
    my $want = $have_ctl ? '200 v3' : '200 v2';
    is(body(), $want, 'bad config by HUP: old config serves on');
}

# ---- stop -----------------------------------------------------------------------------

{
    conf('v6');    # a good file again; the running config is unchanged
    my $rc = $t->stop;
    is($rc, 0, 'TERM: exit 0');
    my $m = next_msg($ns, 5);
    ok($m && ($m->{STOPPING} // '') eq '1', 'TERM: STOPPING=1')
        or diag('got: ' . show($m));
    ok(!$m || !exists $m->{READY}, 'TERM: no READY=1 with STOPPING=1');
    my @more = drain_msgs($ns, 0.3);
    is(scalar @more, 0, 'TERM: nothing after STOPPING=1')
        or diag(join ' | ', map { show($_) } @more);
}

# ---- an abstract socket, graceful stop ---------------------------------------------------

{
    my $name = sprintf('sluice-test-notify-%d-%d', $$, int(rand(1e9)));
    my $as = notify_socket("\0$name");
    {
        local $ENV{NOTIFY_SOCKET} = "\@$name";
        $t->start;
    }
    my $m = next_msg($as, 10);
    ok($m && ($m->{READY} // '') eq '1', 'abstract socket: READY=1')
        or diag('got: ' . show($m));
    is($m ? $m->{MAINPID} : undef, $t->pid, 'abstract socket: MAINPID');
    is($t->stop(signal => 'QUIT'), 0, 'QUIT: exit 0');
    $m = next_msg($as, 5);
    ok($m && ($m->{STOPPING} // '') eq '1', 'QUIT: STOPPING=1')
        or diag('got: ' . show($m));
}

# ---- nobody listening ---------------------------------------------------------------------

# A socket that is gone (systemd restarted, say) costs a warning, not
# the service.
{
    $t->allow_log(qr/sendto\(\) to NOTIFY_SOCKET/);
    my $log_before = length $t->error_log;
    {
        local $ENV{NOTIFY_SOCKET} = "$dir/no-such.sock";
        $t->start;
    }
    is(body(), '200 v6', 'missing socket: serving');
    $t->signal('HUP');
    ok(wait_for(sub {
        substr($t->error_log, $log_before) =~ /reload complete/ }, 5),
        'missing socket: reload completes');
    like(substr($t->error_log, $log_before),
        qr/\[warn\] .*sendto\(\) to NOTIFY_SOCKET/,
        'missing socket: a warning in the error log');
    is($t->stop, 0, 'missing socket: stops cleanly');
}

# Without NOTIFY_SOCKET nothing is sent and nothing is logged about it.
{
    delete local $ENV{NOTIFY_SOCKET};
    my $log_before = length $t->error_log;
    $t->start;
    $t->signal('HUP');
    ok(wait_for(sub {
        substr($t->error_log, $log_before) =~ /reload complete/ }, 5),
        'no NOTIFY_SOCKET: reload completes');
    is($t->stop, 0, 'no NOTIFY_SOCKET: stops cleanly');
    unlike(substr($t->error_log, $log_before), qr/NOTIFY_SOCKET/,
        'no NOTIFY_SOCKET: nothing logged about it');
    my @stray = drain_msgs($ns, 0.2);
    is(scalar @stray, 0, 'no NOTIFY_SOCKET: nothing on the old socket');
}

done_testing;
