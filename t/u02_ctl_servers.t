#!/usr/bin/perl

# sluicectl on upstream servers: `servers [UPSTREAM]` (text and -j),
# drain (no new requests; those in flight finish), maint, ready (back in
# rotation), weight (the distribution follows, up and down again), the
# errors (unknown upstream or server, bad weight, no slash, missing
# argument: exit 1, one line on stderr), and state that survives
# `sluicectl reload`: admin state, runtime weight and health state.

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




# ---- configuration -------------------------------------------------------------

# ports: 0 sluice; 1 a, 2 b, 3 c, 4 d (fake upstreams).
$t->write_conf(<<'EOF2');
%%MAIN%%
worker_processes 2;
events {
    worker_connections 1024;
}
http {
    access_log %%TESTDIR%%/access.log;

    upstream w  { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%; }
    upstream dr { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                  server 127.0.0.1:%%PORT_3%%; }
    upstream hk { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_4%%;
                  health_check uri=/hc interval=200ms fall=2 rise=2; }
    upstream bk { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%% backup; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /w/  { proxy_pass http://w; }
        location /dr/ { proxy_pass http://dr; }
        location /hk/ { proxy_pass http://hk; }
        location /bk/ { proxy_pass http://bk; }
    }
}
EOF2

my %up;
for ([1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']) {
    $up{ $_->[1] } = SluiceTest::Upstream->new($t, port => $t->port($_->[0]),
        name => $_->[1])->start;
}
my %addr = map { $_ => '127.0.0.1:' . $up{$_}->port } keys %up;
$t->start;
my $p0 = $t->port(0);

# ---- servers: text -------------------------------------------------------------------

{
    my ($c, $bad) = tally(load($p0, n => 10, conc => 2, path => sub { "/w/$_[0]" }));
    is($bad, 0, '10 requests to w');

    my ($rc, $out, $err) = $t->ctl('servers');
    is($rc, 0, 'servers: exit 0') or diag($err);
    is($err, '', 'servers: nothing on stderr');
    my @l = split /\n/, $out;
    like($l[0] // '', qr/^UPSTREAM\s+SERVER\s+WEIGHT\s+ADMIN\s+HEALTH\s+SINCE\s+CHECK\s+ACTIVE\s+REQUESTS\s+FAILURES\s*$/,
        'servers: header line');
    is(scalar(@l), 1 + 2 + 3 + 2 + 2, 'servers: one line per server of every upstream');
    my ($wa) = grep { /^w\s+\Q$addr{a}\E\s/ } @l;
    my ($wb) = grep { /^w\s+\Q$addr{b}\E\s/ } @l;
    like($wa // '', qr/^w\s+\Q$addr{a}\E\s+1\s+ready\s+unchecked\s+\S+\s+-\s+0\s+\d+\s+0\s*$/,
        'servers: w/a ready, unchecked, no check, none active, no failures');
    my ($na) = ($wa // '') =~ /(\d+)\s+\d+\s*$/;
    my ($nb) = ($wb // '') =~ /(\d+)\s+\d+\s*$/;
    is(($na // 0) + ($nb // 0), 10, 'servers: the REQUESTS column counts the 10 requests');
    my ($hd) = grep { /^hk\s+\Q$addr{d}\E\s/ } @l;
    like($hd // '', qr/^hk\s+\Q$addr{d}\E\s+1\s+ready\s+up\s/, 'servers: hk/d is up (health checked)');
    my ($bl) = grep { /^bk\s+\Q$addr{b}\E\s/ } @l;
    like($bl // '', qr/\sbackup$/, 'servers: a backup server is marked');
    # The check column fills in once the checker ran.
    ok(wait_for(sub {
        my (undef, $o) = $t->ctl('servers', 'hk');
        return $o =~ /^hk\s+\Q$addr{d}\E\s.*\s200\/\d+\s/m;
    }, 5), 'servers hk: the CHECK column shows 200/latency');

    ($rc, $out) = $t->ctl('servers', 'w');
    @l = split /\n/, $out;
    is(scalar(@l), 3, 'servers w: header and the two servers of w');
    is(scalar(grep { /^w\s/ } @l), 2, 'servers w: only w');
}

# ---- servers: JSON -----------------------------------------------------------------

{
    my ($rc, $out, $err) = $t->ctl('-j', 'servers');
    is($rc, 0, 'servers -j: exit 0');
    my $j = eval { JSON::PP::decode_json($out) };
    ok($j, 'servers -j: valid JSON') or diag($out);
    is(join(',', map { $_->{name} } @{ $j->{upstreams} || [] }), 'w,dr,hk,bk',
        'servers -j: the upstreams in order');
    my ($w) = grep { $_->{name} eq 'w' } @{ $j->{upstreams} || [] };
    my ($hk) = grep { $_->{name} eq 'hk' } @{ $j->{upstreams} || [] };
    ok($w && !$w->{health_check} && $hk && $hk->{health_check}, 'servers -j: health_check flag');
    my $s = $w->{servers}[0] || {};
    my @fields = qw(server addr weight backup admin health since last_check last_result
        latency_ms active requests failures checks check_failures);
    is(join(',', grep { !exists $s->{$_} } @fields), '', 'servers -j: every field there');
    is($s->{server}, $addr{a}, 'servers -j: server as configured');
    is($s->{addr}, $addr{a}, 'servers -j: addr');
    is($s->{weight}, 1, 'servers -j: weight 1');
    is($s->{admin}, 'ready', 'servers -j: admin ready');
    is($s->{health}, 'unchecked', 'servers -j: health unchecked without health_check');
    is($s->{active}, 0, 'servers -j: active 0');
    is($w->{servers}[0]{requests} + $w->{servers}[1]{requests}, 10, 'servers -j: requests 10');
    is($s->{failures}, 0, 'servers -j: failures 0');
    my $d = (grep { $_->{addr} eq $addr{d} } @{ $hk->{servers} || [] })[0] || {};
    is($d->{health}, 'up', 'servers -j: hk/d up');
    ok(($d->{checks} // 0) >= 1 && ($d->{last_result} // 0) == 200,
        "servers -j: hk/d checked ($d->{checks} checks, last $d->{last_result})");
    ok(JSON::PP::is_bool($w->{servers}[0]{backup}) || 1, 'servers -j: backup');
    my ($bk) = grep { $_->{name} eq 'bk' } @{ $j->{upstreams} || [] };
    ok($bk && !$bk->{servers}[0]{backup} && $bk->{servers}[1]{backup},
        'servers -j: backup true for the backup server only');

    ($rc, $out) = $t->ctl('-j', 'servers', 'dr');
    $j = eval { JSON::PP::decode_json($out) } || {};
    is(scalar @{ $j->{upstreams} || [] }, 1, 'servers -j dr: one upstream');
    is(scalar @{ $j->{upstreams}[0]{servers} || [] }, 3, 'servers -j dr: three servers');
}

# ---- drain, maint, ready ---------------------------------------------------------------

{
    # Six slow requests in flight over dr's three servers.
    my $out = $t->testdir . '/slow.json';
    $t->spawn(sub {
        my @r = load($p0, n => 6, conc => 6, path => sub { "/dr/slow$_[0]?delay=2" });
        $t->write_file($out, JSON::PP::encode_json(\@r));
    });
    my $busy;
    wait_for(sub {
        my $j = servers_json($t, 'dr') or return 0;
        my @s = @{ $j->{upstreams}[0]{servers} || [] };
        my $sum = 0;
        $sum += $_->{active} for @s;
        return 0 if $sum < 6;
        ($busy) = sort { $b->{active} <=> $a->{active} } @s;
        return 1;
    }, 5);
    ok($busy && $busy->{active} >= 1, 'six slow requests in flight on dr');
    my $x = $busy ? $busy->{addr} : $addr{a};
    my ($xname) = grep { $addr{$_} eq $x } keys %addr;
    my $inflight = $busy ? $busy->{active} : 0;
    diag("draining dr/$x ($xname) with $inflight requests in flight");

    my ($rc, $o, $e) = $t->ctl('drain', "dr/$x");
    is($rc, 0, 'drain: exit 0') or diag($e);
    is($o, "dr/$x: drain\n", 'drain: output');
    my $rec = server_rec($t, 'dr', $x);
    is($rec->{admin}, 'drain', 'drain: admin drain in servers -j');
    is($rec->{active}, $inflight, "drain: its $inflight requests still active");

    my ($c, $bad) = tally(load($p0, n => 30, conc => 3, path => sub { "/dr/$_[0]" }));
    is($bad, 0, 'drain: 30 requests, all 200');
    is($c->{$xname} // 0, 0, 'drain: no new request went to the drained server (' . fmt($c) . ')');

    $t->wait_helpers(10);
    my $r = eval { JSON::PP::decode_json($t->read_file($out) // '') } || [];
    is(scalar(grep { $_->{status} eq '200' } @$r), 6, 'drain: the requests in flight finished, 200');
    is(scalar(grep { $_->{status} eq '200' && $_->{up} eq $xname } @$r), $inflight,
        'drain: including those on the drained server');
    is(server_rec($t, 'dr', $x)->{active}, 0, 'drain: none active afterwards');

    # maint a second server: only the third one serves.
    my ($y) = grep { $_ ne $xname } sort keys %{ { a => 1, b => 1, c => 1 } };
    ($rc, $o) = $t->ctl('-j', 'maint', "dr/$addr{$y}");
    is($rc, 0, 'maint: exit 0');
    is_deeply(eval { JSON::PP::decode_json($o) }, { server => "dr/$addr{$y}", admin => 'maint' },
        'maint -j: output');
    is(server_rec($t, 'dr', $addr{$y})->{admin}, 'maint', 'maint: admin maint');
    ($c, $bad) = tally(load($p0, n => 20, conc => 3, path => sub { "/dr/m$_[0]" }));
    my ($z) = grep { $_ ne $xname && $_ ne $y } qw(a b c);
    is($bad, 0, 'maint: 20 requests, all 200');
    is($c->{$z} // 0, 20, "maint and drain: all went to the third server (" . fmt($c) . ')');

    # maint and drain all of them: nothing left (503)
    $t->ctl('maint', "dr/$addr{$z}");
    my @r = load($p0, n => 4, conc => 2, path => sub { "/dr/none$_[0]" });
    is(scalar(grep { $_->{status} eq '503' } @r), 4, 'every server out: 503');

    for my $n (qw(a b c)) {
        ($rc, $o) = $t->ctl('ready', "dr/$addr{$n}");
        is($o, "dr/$addr{$n}: ready\n", "ready dr/$n");
    }
    ($c, $bad) = tally(load($p0, n => 60, conc => 3, path => sub { "/dr/r$_[0]" }));
    is($bad, 0, 'ready: 60 requests, all 200');
    ok(!grep({ ($c->{$_} // 0) < 10 } qw(a b c)), 'ready: all three back in rotation (' . fmt($c) . ')');
    like($t->error_log, qr/upstream server \Q$x\E in "dr" set to drain/, 'drain logged');
}

# ---- weight -------------------------------------------------------------------------

sub w_share {
    my ($tag) = @_;
    my ($c, $bad) = tally(load($p0, n => 200, conc => 2, path => sub { "/w/$tag$_[0]" }));
    return (($c->{b} // 0) / 200, $c, $bad);
}

{
    my ($s0, $c0, $bad0) = w_share('x');
    is($bad0, 0, 'weight: 200 requests, all 200');
    ok(abs($s0 - 0.5) <= 0.05, "weight 1:1: b's share $s0 about 0.5");

    my ($rc, $o, $e) = $t->ctl('weight', "w/$addr{b}", 3);
    is($rc, 0, 'weight 3: exit 0') or diag($e);
    is($o, "w/$addr{b}: weight 3\n", 'weight: output');
    is(server_rec($t, 'w', $addr{b})->{weight}, 3, 'weight: servers -j shows weight 3');
    my ($s1, $c1, $bad1) = w_share('y');
    is($bad1, 0, 'weight 3: 200 requests, all 200');
    ok($s1 >= 0.7 && $s1 <= 0.8, "weight 1:3: b's share $s1 within 0.70..0.80");

    ($rc, $o) = $t->ctl('-j', 'weight', "w/$addr{b}", 1);
    is_deeply(eval { JSON::PP::decode_json($o) }, { server => "w/$addr{b}", weight => 1 },
        'weight -j: output');
    my ($s2, $c2, $bad2) = w_share('z');
    is($bad2, 0, 'weight back to 1: 200 requests, all 200');
    ok(abs($s2 - 0.5) <= 0.05, "weight back to 1:1: b's share $s2 about 0.5 again");
    diag(sprintf "weight w/b: 1 -> share %.3f (%s); 3 -> %.3f (%s); back to 1 -> %.3f (%s)",
        $s0, fmt($c0), $s1, fmt($c1), $s2, fmt($c2));
}

# ---- errors -------------------------------------------------------------------------

for my $case (
    [['drain', "nosuch/$addr{a}"], qr/no upstream "nosuch"/, 'unknown upstream'],
    [['ready', 'w/127.0.0.1:1'], qr/no server "127\.0\.0\.1:1" in upstream "w"/, 'unknown server'],
    [['maint', 'w'], qr/expected UPSTREAM\/SERVER/, 'missing slash'],
    [['drain', '/x'], qr/expected UPSTREAM\/SERVER/, 'empty upstream'],
    [['drain', 'w/'], qr/expected UPSTREAM\/SERVER/, 'empty server'],
    [['weight', "w/$addr{a}", 0], qr/invalid weight "0"/, 'weight 0'],
    [['weight', "w/$addr{a}", 1001], qr/invalid weight "1001"/, 'weight 1001'],
    [['weight', "w/$addr{a}", 'x'], qr/invalid weight "x"/, 'weight x'],
    [['weight', "w/$addr{a}", '-2'], qr/invalid weight/, 'weight -2'],
    [['weight', "nosuch/$addr{a}", 2], qr/no upstream "nosuch"/, 'weight: unknown upstream'],
    [['weight', "w/$addr{a}"], qr/usage: weight/, 'weight without N'],
    [['drain'], qr/usage: drain/, 'drain without argument'],
    [['servers', 'nosuch'], qr/no upstream "nosuch"/, 'servers: unknown upstream'],
    [['-j', 'servers', 'nosuch'], qr/no upstream "nosuch"/, 'servers -j: unknown upstream'],
) {
    my ($args, $re, $name) = @$case;
    my ($rc, $o, $e) = $t->ctl(@$args);
    is($rc, 1, "error, $name: exit 1");
    like($e, $re, "error, $name: reason on stderr");
    is(scalar(() = $e =~ /\n/g), 1, "error, $name: one line on stderr");
    is($o, '', "error, $name: nothing on stdout");
}
is(server_rec($t, 'w', $addr{a})->{weight}, 1, 'errors changed nothing: w/a weight 1');
is(server_rec($t, 'w', $addr{a})->{admin}, 'ready', 'errors changed nothing: w/a ready');

# ---- state survives reload ---------------------------------------------------------------

{
    $t->ctl('drain', "dr/$addr{a}");
    $t->ctl('weight', "w/$addr{b}", 3);
    $up{d}->stop;
    ok(wait_for(sub { (server_rec($t, 'hk', $addr{d})->{health} // '') eq 'down' }, 5),
        'hk/d down once stopped');
    my $since = server_rec($t, 'hk', $addr{d})->{since};

    my @old = $t->all_worker_pids;
    my $oldchk = $t->checker_pid;
    my ($rc, $o, $e) = $t->ctl('reload');
    is($rc, 0, 'reload: exit 0') or diag($e);
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @old, $oldchk }, 10),
        'reload: old workers and checker gone');

    my $ra = server_rec($t, 'dr', $addr{a});
    is($ra->{admin}, 'drain', 'after reload: dr/a still drained');
    is(server_rec($t, 'w', $addr{b})->{weight}, 3, 'after reload: w/b still weight 3');
    my $rd = server_rec($t, 'hk', $addr{d});
    is($rd->{health}, 'down', 'after reload: hk/d still down');
    is($rd->{since}, $since, 'after reload: hk/d down since the same time');
    ok($ra->{requests} > 0, "after reload: request counters kept ($ra->{requests})");

    my ($c, $bad) = tally(load($p0, n => 30, conc => 3, path => sub { "/dr/after$_[0]" }));
    is($bad, 0, 'after reload: 30 requests to dr, all 200');
    is($c->{a} // 0, 0, 'after reload: none to the drained server (' . fmt($c) . ')');
    ($c, $bad) = tally(load($p0, n => 20, conc => 3, path => sub { "/hk/after$_[0]" }));
    is($bad, 0, 'after reload: 20 requests to hk, all 200');
    is($c->{d} // 0, 0, 'after reload: none to the down server');
    my ($s) = w_share('after');
    ok($s >= 0.7 && $s <= 0.8, "after reload: w weight 1:3 still holds (b's share $s)");

    # and the health check goes on: d comes back
    $up{d}->start;
    ok(wait_for(sub { (server_rec($t, 'hk', $addr{d})->{health} // '') eq 'up' }, 5),
        'after reload: hk/d up again once restarted');
}

$t->stop;
$_->stop for values %up;

done_testing;
