#!/usr/bin/perl

# Active health checks (the checker process) together with passive
# failures, over three workers: a server whose health URI answers 500
# goes down within about fall x interval and gets no traffic while
# clients loop requests without a single failure, and comes back up
# within about rise x interval once it answers 200 again; each transition
# is logged once; a server killed while clients loop costs no request
# (retries, then the health table) and is back once restarted; type=tcp,
# status=RANGE, body=REGEX (a mismatch is down), port= and host=; the
# health state in sluicectl servers.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Load;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ---- helpers -----------------------------------------------------------------




sub health { server_rec($t, @_)->{health} // '' }

# Seconds until upstream/addr has health state (polled every 20 ms), or
# undef after timeout.
sub time_to {
    my ($up, $addr, $state, $timeout) = @_;
    my $t0 = time;
    return wait_for(sub { health($up, $addr) eq $state }, $timeout, 0.02)
        ? time - $t0 : undef;
}

sub nlog {
    my ($re) = @_;
    return scalar(() = $t->error_log =~ /$re/g);
}

# Runs load() in a helper process; returns a sub that waits for it and
# returns its results.
sub bg_load {
    my (%o) = @_;
    my $out = $t->testdir . '/bg' . int(rand(1e9)) . '.json';
    my $pid = $t->spawn(sub {
        my @r = load($t->port(0), %o);
        $t->write_file($out, JSON::PP::encode_json(\@r));
    });
    return sub {
        $t->wait_helpers(($o{duration} // 10) + 15, $pid);
        my $r = eval { JSON::PP::decode_json($t->read_file($out) // '') } || [];
        return @$r;
    };
}

# ---- configuration -------------------------------------------------------------

# ports: 0 sluice; 1 a, 2 b, 3 c, 5 e (fake upstreams); 4 nobody listens.
$t->write_conf(<<'EOF2');
%%MAIN%%
worker_processes 3;
events {
    worker_connections 1024;
}
http {
    access_log %%TESTDIR%%/access.log;

    upstream hc {
        server 127.0.0.1:%%PORT_1%% max_fails=2 fail_timeout=1s;
        server 127.0.0.1:%%PORT_2%% max_fails=2 fail_timeout=1s;
        health_check uri=/health interval=300ms fall=2 rise=2;
    }
    upstream kl {
        # passive too: the default max_fails=1, a short fail_timeout
        server 127.0.0.1:%%PORT_1%% fail_timeout=1s;
        server 127.0.0.1:%%PORT_3%% fail_timeout=1s;
        health_check uri=/kl-health interval=300ms fall=2 rise=2;
    }
    upstream tcp    { server 127.0.0.1:%%PORT_5%%; server 127.0.0.1:%%PORT_4%%;
                      health_check type=tcp uri=/tcp-check interval=300ms fall=2 rise=1; }
    upstream st_bad { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/st?status=404 interval=200ms fall=1; }
    upstream st_ok  { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/st?status=404 status=404 interval=400ms fall=3; }
    upstream st_rng { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/st?status=302 status=300-399 interval=400ms fall=3; }
    upstream bd_bad { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/bd body=NEVER_THERE interval=200ms fall=1; }
    upstream bd_ok  { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/bd "body=sluice-health-c[h]eck" interval=400ms fall=3; }
    upstream po_ok  { server 127.0.0.1:%%PORT_4%%;
                      health_check uri=/po port=%%PORT_5%% interval=400ms fall=3; }
    upstream po_bad { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/po-bad port=%%PORT_4%% interval=200ms fall=1; }
    upstream hs     { server 127.0.0.1:%%PORT_5%%;
                      health_check uri=/hs host=check.example interval=400ms; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /hc/ { proxy_pass http://hc; }
        location /kl/ { proxy_pass http://kl; }
    }
}
EOF2

my %up;
for ([1, 'a'], [2, 'b'], [3, 'c'], [5, 'e']) {
    $up{ $_->[1] } = SluiceTest::Upstream->new($t, port => $t->port($_->[0]),
        name => $_->[1])->start;
}
my %addr = map { $_->[0] => '127.0.0.1:' . $t->port($_->[1]) }
    [a => 1], [b => 2], [c => 3], [e => 5], [dead => 4];
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 3 }, 5), 'three workers');
ok($t->checker_pid, 'a checker process');
my $p0 = $t->port(0);

# Every server starts up (assumed so) and the checks confirm it.
ok(wait_for(sub {
    my $j = servers_json($t, 'hc') or return 0;
    return !grep { ($_->{checks} // 0) < 2 || $_->{health} ne 'up' }
        @{ $j->{upstreams}[0]{servers} };
}, 5), 'hc: both servers up after two checks each');

# ---- a health URI answering 500, clients looping ----------------------------------------

{
    my $t_start = time;
    my $wait = bg_load(duration => 5, n => 100000, conc => 3, timeout => 12,
        path => sub { "/hc/$_[0]?status=200" });
    sleep 0.5;

    # b goes on serving traffic (?status=200) but /health answers 500.
    $up{b}->stop;
    my $b500 = SluiceTest::Upstream->new($t, port => $t->port(2), name => 'b500',
        params => { status => 500 })->start;
    my $t_swap = time;
    my $down = time_to('hc', $addr{b}, 'down', 5);
    my $t_down = time;
    ok(defined $down, 'hc: b down once its health URI answers 500');
    # fall=2 x interval=300ms, plus up to one interval to the next check
    ok(defined $down && $down < 2.0, sprintf('hc: down within %.2fs (< 2 s; fall x interval '
        . '= 0.6 s)', $down // -1));
    my $rec = server_rec($t, 'hc', $addr{b});
    is($rec->{last_result}, 500, 'hc: servers -j shows the last result 500');
    ok(($rec->{check_failures} // 0) >= 2, 'hc: check failures counted');
    sleep 0.8;

    # b answers 200 again.
    $b500->stop;
    my $b2 = SluiceTest::Upstream->new($t, port => $t->port(2), name => 'b2')->start;
    my $up_t = time_to('hc', $addr{b}, 'up', 5);
    my $t_up = time;
    ok(defined $up_t, 'hc: b up again once /health answers 200');
    ok(defined $up_t && $up_t < 2.0, sprintf('hc: up within %.2fs (< 2 s; rise x interval = 0.6 s)',
        $up_t // -1));

    my @r = $wait->();
    my ($c, $bad) = tally(@r);
    diag(sprintf 'hc: %d requests over %.1fs: %s; b down %.2fs after /health went 500, '
        . 'up %.2fs after it came back', scalar @r, time - $t_start, fmt($c), $down // -1,
        $up_t // -1);
    ok(@r > 100, 'hc: clients looped (' . scalar(@r) . ' requests)');
    is($bad, 0, 'hc: zero failed requests');
    # What b500 received after it was down: health checks only.
    my @late = grep { $_->{target} !~ m{^/health} && $_->{time} > $t_down + 0.05 }
        $b500->requests;
    is(scalar @late, 0, 'hc: no traffic to b while it was down');
    ok(scalar(grep { $_->{target} eq '/health' } $b500->requests) >= 2,
        'hc: b still checked while down');
    my @back = grep { $_->{target} !~ m{^/health} && $_->{time} > $t_up + 0.05 } $b2->requests;
    ok(@back > 0, 'hc: traffic back to b after it came up (' . scalar(@back) . ' requests)');
    my $hdr = (grep { $_->{target} eq '/health' } $b2->requests)[0];
    is(SluiceTest::Upstream::header($hdr // {}, 'User-Agent'), 'sluice-health-check',
        'health check request: User-Agent');
    is(SluiceTest::Upstream::header($hdr // {}, 'Host'), $addr{b},
        'health check request: Host is the server address');

    is(nlog(qr/upstream server \Q$addr{b}\E in "hc" is down after 2 failed checks, last: unexpected status/),
        1, 'hc: "is down after 2 failed checks, last: unexpected status" logged once');
    is(nlog(qr/upstream server \Q$addr{b}\E in "hc" is up after 2 successful checks/), 1,
        'hc: "is up after 2 successful checks" logged once');
    is(nlog(qr/upstream server \Q$addr{a}\E in "hc" is (?:down|up)/), 0, 'hc: a never changed');
    $up{b} = $b2;
}

# ---- a server killed while clients loop -------------------------------------------------

{
    my $wait = bg_load(duration => 4.5, n => 100000, conc => 3, timeout => 12,
        path => sub { "/kl/$_[0]" });
    sleep 0.7;
    $up{c}->stop;
    my $t_kill = time;
    my $down = time_to('kl', $addr{c}, 'down', 5);
    my $t_down = time;
    ok(defined $down && $down < 2.0, sprintf('kl: killed server down within %.2fs (< 2 s)',
        $down // -1));
    is(server_rec($t, 'kl', $addr{c})->{last_result} < 0 ? 1 : 0, 1,
        'kl: last result is an error (negative errno)');
    my (undef, $txt) = $t->ctl('servers', 'kl');
    like($txt, qr/^kl\s+\Q$addr{c}\E\s+1\s+ready\s+down\s+\S+\s+fail\s/m,
        'kl: sluicectl servers shows it down, last check "fail"');
    sleep 0.5;
    my $c2 = SluiceTest::Upstream->new($t, port => $t->port(3), name => 'c2')->start;
    my $up_t = time_to('kl', $addr{c}, 'up', 5);
    my $t_up = time;
    ok(defined $up_t && $up_t < 2.0, sprintf('kl: restarted server up within %.2fs (< 2 s)',
        $up_t // -1));

    my @r = $wait->();
    my ($c, $bad) = tally(@r);
    my $during = grep { $_->{up} eq 'c' && $_->{t0} > $t_down + 0.05 } @r;
    my $after = grep { $_->{up} eq 'c2' && $_->{t0} > $t_up + 0.05 } @r;
    diag(sprintf 'kl: %d requests: %s; c down %.2fs after the kill, up %.2fs after the '
        . 'restart', scalar @r, fmt($c), $down // -1, $up_t // -1);
    ok(@r > 100, 'kl: clients looped (' . scalar(@r) . ' requests)');
    is($bad, 0, 'kl: zero failed requests although a server was killed under load');
    is($during, 0, 'kl: none answered by the killed server after it was marked down');
    ok($after > 0, "kl: traffic back to the restarted server ($after requests)");
    is(nlog(qr/upstream server \Q$addr{c}\E in "kl" is down after 2 failed checks/), 1,
        'kl: down logged once');
    is(nlog(qr/upstream server \Q$addr{c}\E in "kl" is up after 2 successful checks/), 1,
        'kl: up logged once');
    $up{c} = $c2;
}

# ---- type=tcp, status=, body=, port=, host= ---------------------------------------------

{
    # Each needs a few checks (interval 200ms) before its state means
    # anything; by now they have had seconds.
    ok(wait_for(sub {
        my $j = servers_json($t) or return 0;
        return !grep { ($_->{servers}[0]{checks} // 0) < 3 } @{ $j->{upstreams} };
    }, 5), 'every server checked at least three times');

    is(health('tcp', $addr{e}), 'up', 'type=tcp: a listening server is up');
    is(health('tcp', $addr{dead}), 'down', 'type=tcp: a refusing one is down');
    is(server_rec($t, 'tcp', $addr{e})->{last_result}, 0, 'type=tcp: last result 0 (connected)');
    ok($up{e}->accepts > 0, 'type=tcp: connections were made');
    is(scalar(grep { $_->{target} eq '/tcp-check' } $up{e}->requests), 0,
        'type=tcp: no HTTP request sent');

    is(health('st_bad', $addr{e}), 'down', 'status: 404 outside the default 200-399: down');
    is(server_rec($t, 'st_bad', $addr{e})->{last_result}, 404, 'status: last result 404');
    is(health('st_ok', $addr{e}), 'up', 'status=404: a 404 is up');
    is(server_rec($t, 'st_ok', $addr{e})->{last_result}, 404, 'status=404: last result 404');
    is(health('st_rng', $addr{e}), 'up', 'status=300-399: a 302 is up');
    is(server_rec($t, 'st_rng', $addr{e})->{last_result}, 302, 'status=300-399: last result 302');

    is(health('bd_bad', $addr{e}), 'down', 'body=REGEX: a body that does not match is down');
    is(health('bd_ok', $addr{e}), 'up', 'body=REGEX: a matching body is up');
    is(server_rec($t, 'bd_ok', $addr{e})->{check_failures}, 0, 'body=REGEX: no failed check');
    like($t->error_log, qr/in "bd_bad" is down after 1 failed checks?, last: body does not match/,
        'body: the reason logged');

    is(health('po_ok', $addr{dead}), 'up', 'port=: a dead server checked on a live port is up');
    is(server_rec($t, 'po_ok', $addr{dead})->{last_result}, 200, 'port=: last result 200');
    ok(scalar(grep { $_->{target} eq '/po' } $up{e}->requests) >= 3,
        'port=: the checks went to the override port');
    is(health('po_bad', $addr{e}), 'down', 'port=: a live server checked on a dead port is down');

    my ($hs) = grep { $_->{target} eq '/hs' } $up{e}->requests;
    is(SluiceTest::Upstream::header($hs // {}, 'Host'), 'check.example', 'host=: the Host header');

    # Transitions are logged once, not at every failed check.
    my $n = server_rec($t, 'st_bad', $addr{e})->{checks};
    ok($n >= 3, "st_bad checked $n times");
    is(nlog(qr/in "st_bad" is down after/), 1, 'st_bad: "is down" logged once over many checks');
    is(nlog(qr/in "st_ok" is (?:down|up) after/), 0, 'st_ok: never a transition');

    my ($rc, $out) = $t->ctl('servers');
    like($out, qr/^st_bad\s+\Q$addr{e}\E\s+1\s+ready\s+down\s+\S+\s+404\/\d+\s/m,
        'sluicectl servers: st_bad down, check 404/latency');
    like($out, qr/^bd_ok\s+\Q$addr{e}\E\s+1\s+ready\s+up\s+\S+\s+200\/\d+\s/m,
        'sluicectl servers: bd_ok up, check 200/latency');
}

$t->stop;
$_->stop for values %up;

done_testing;
