#!/usr/bin/perl

# Balancers through the real proxy over three workers: round robin and its
# weights, least_conn (a slow server gets few requests; weights), ip_hash
# (one client address, one server), hash $request_uri (one URI, one
# server; the keys spread) and hash consistent (removing one of four
# servers by reload moves only its keys), random (weights) and random two
# (a slow server gets few), backup servers only when every primary is
# down, `down` servers never, max_conns (the excess gets 503), and
# connection counts shared by the workers (sluicectl servers shows the
# active requests of every worker; max_conns holds across workers).
#
# Every request goes on its own connection, so the kernel's SO_REUSEPORT
# hash spreads them over the workers; the access log's $pid tells how many
# workers took part.  Which server answered is the fake upstream's
# X-Upstream response header.

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



# Distinct worker pids in the access log lines whose URI starts with
# prefix.
sub workers_seen {
    my ($prefix) = @_;
    my %p;
    for my $l (split /\n/, $t->read_file('access.log') // '') {
        my ($pid, $uri) = split / /, $l;
        $p{$pid} = 1 if defined $uri && index($uri, $prefix) == 0;
    }
    return scalar keys %p;
}

# ---- configuration -------------------------------------------------------------

# ports: 0 sluice; 1 a, 2 b, 3 c, 4 d (fast fake upstreams); 5 s (slow:
# 0.25 s per request); 6, 7 nobody listens.
my $conf = <<'EOF';
%%MAIN%%
worker_processes 3;
events {
    worker_connections 1024;
}
http {
    log_format w '$pid $request_uri $status "$upstream_addr"';
    access_log %%TESTDIR%%/access.log w;

    upstream rr   { server 127.0.0.1:%%PORT_1%% weight=3; server 127.0.0.1:%%PORT_2%%; }
    upstream lc   { least_conn; server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                    server 127.0.0.1:%%PORT_5%%; }
    upstream lcw  { least_conn; server 127.0.0.1:%%PORT_1%% weight=3;
                    server 127.0.0.1:%%PORT_2%%; }
    upstream iph  { ip_hash; server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                    server 127.0.0.1:%%PORT_3%%; }
    upstream hu   { hash $request_uri; server 127.0.0.1:%%PORT_1%%;
                    server 127.0.0.1:%%PORT_2%%; server 127.0.0.1:%%PORT_3%%; }
    upstream hc   { hash $request_uri consistent; server 127.0.0.1:%%PORT_1%%;
                    server 127.0.0.1:%%PORT_2%%; server 127.0.0.1:%%PORT_3%%;
                    ##D## server 127.0.0.1:%%PORT_4%%;
                  }
    upstream rnd  { random; server 127.0.0.1:%%PORT_1%% weight=3;
                    server 127.0.0.1:%%PORT_2%%; }
    upstream rnd2 { random two; server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                    server 127.0.0.1:%%PORT_5%%; }
    upstream rnds { random; server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                    server 127.0.0.1:%%PORT_5%%; }
    upstream bk   { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%;
                    server 127.0.0.1:%%PORT_3%% backup; }
    upstream bkd  { server 127.0.0.1:%%PORT_6%%; server 127.0.0.1:%%PORT_7%%;
                    server 127.0.0.1:%%PORT_3%% backup; }
    upstream dn   { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%% down;
                    server 127.0.0.1:%%PORT_3%%; }
    upstream mc   { server 127.0.0.1:%%PORT_4%% max_conns=1; }
    upstream act  { server 127.0.0.1:%%PORT_4%%; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /rr/   { proxy_pass http://rr; }
        location /lc/   { proxy_pass http://lc; }
        location /lcw/  { proxy_pass http://lcw; }
        location /iph/  { proxy_pass http://iph; }
        location /hu/   { proxy_pass http://hu; }
        location /hc/   { proxy_pass http://hc; }
        location /rnd/  { proxy_pass http://rnd; }
        location /rnd2/ { proxy_pass http://rnd2; }
        location /rnds/ { proxy_pass http://rnds; }
        location /bk/   { proxy_pass http://bk; }
        location /bkd/  { proxy_pass http://bkd; }
        location /dn/   { proxy_pass http://dn; }
        location /mc/   { proxy_pass http://mc; }
        location /act/  { proxy_pass http://act; }
    }
}
EOF

(my $c4 = $conf) =~ s/##D## //;
$t->write_conf($c4);
# The passive-failure warnings of bkd's dead servers are expected.
my @up = map {
    SluiceTest::Upstream->new($t, port => $t->port($_->[0]), name => $_->[1],
        $_->[2] ? (params => $_->[2]) : ())->start
} [1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 's', { delay => 0.25 }];
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 3 }, 5), 'three workers');

my $p0 = $t->port(0);

# ---- round robin -------------------------------------------------------------------

{
    my @r = load($p0, n => 400, conc => 4, path => sub { "/rr/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'round robin: 400 requests, all 200');
    my $share = ($c->{a} // 0) / 400;
    diag(sprintf 'round robin 3:1: %s (a %.3f), %d workers', fmt($c), $share,
        workers_seen('/rr/'));
    # Each worker runs its own smooth round robin, exact over every run of
    # four picks: the share is 0.75 give or take a few picks per worker.
    ok($share >= 0.72 && $share <= 0.78,
        "round robin weight=3 vs 1: a's share $share within 0.72..0.78");
    cmp_ok(workers_seen('/rr/'), '>=', 2, 'round robin: several workers served');
}

# ---- least_conn --------------------------------------------------------------------

{
    my $t0 = time;
    my @r = load($p0, n => 200, conc => 6, path => sub { "/lc/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'least_conn: 200 requests, all 200');
    my $s = ($c->{s} // 0) / 200;
    diag(sprintf 'least_conn with slow s (0.25 s), 6 at a time: %s (s %.3f) in %.1fs, '
        . '%d workers', fmt($c), $s, time - $t0, workers_seen('/lc/'));
    # Round robin would give s a third; least_conn only when a and b are
    # both busy.
    ok($s < 0.15, "least_conn: the slow server got far fewer (share $s < 0.15)");
    cmp_ok(workers_seen('/lc/'), '>=', 2, 'least_conn: several workers served');
}

{
    # One request at a time every server has 0 connections: a tie, which
    # the smooth weighted round robin breaks, so exactly 3:1 per worker.
    my @r = load($p0, n => 200, conc => 1, path => sub { "/lcw/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'least_conn weights, one at a time: 200 requests, all 200');
    my $share = ($c->{a} // 0) / 200;
    # Under load the pick compares conns/weight.
    my @r2 = load($p0, n => 200, conc => 4, path => sub { "/lcw/c$_[0]" });
    my ($c2, $bad2) = tally(@r2);
    my $share2 = ($c2->{a} // 0) / 200;
    diag(sprintf 'least_conn weight 3:1: one at a time %s (a %.3f); 4 at a time %s (a %.3f)',
        fmt($c), $share, fmt($c2), $share2);
    ok($share >= 0.70 && $share <= 0.80,
        "least_conn weight=3 vs 1, idle servers: a's share $share within 0.70..0.80");
    is($bad2, 0, 'least_conn weights, 4 at a time: 200 requests, all 200');
    ok($share2 > 0.55, "least_conn weight=3 vs 1 under load: a's share $share2 > 0.55");
}

# ---- ip_hash ----------------------------------------------------------------------

{
    # 24 client networks 127.0.N.0/24, five requests each, interleaved so
    # that they land on different workers.
    my @nets = (1 .. 24);
    my $per = 5;
    my $n = @nets * $per;
    my @r = load($p0, n => $n, conc => 4,
        path => sub { "/iph/$_[0]" },
        local => sub { '127.0.' . $nets[$_[0] % @nets] . '.1' });
    my (%map, $bad, $split);
    $bad = 0;
    for my $x (@r) {
        if ($x->{status} ne '200') { $bad++; next; }
        $map{ $nets[$x->{i} % @nets] }{ $x->{up} }++;
    }
    is($bad, 0, "ip_hash: $n requests from 24 addresses, all 200");
    $split = grep { keys %{ $map{$_} } != 1 } keys %map;
    is($split, 0, 'ip_hash: every client address went to one server, '
        . 'five requests each over the workers');
    my %per_server;
    for my $net (keys %map) { $per_server{$_}++ for keys %{ $map{$net} } }
    diag('ip_hash: addresses per server: ' . fmt(\%per_server) . ', '
        . workers_seen('/iph/') . ' workers');
    cmp_ok(scalar keys %per_server, '>=', 2, 'ip_hash: the addresses spread over servers');
}

# ---- hash $request_uri --------------------------------------------------------------

my %hc_before;
{
    my $keys = 60;
    my @r = load($p0, n => $keys * 3, conc => 4,
        path => sub { '/hu/key' . ($_[0] % $keys) });
    my (%map, $bad);
    $bad = 0;
    for my $x (@r) {
        if ($x->{status} ne '200') { $bad++; next; }
        $map{ $x->{i} % $keys }{ $x->{up} }++;
    }
    is($bad, 0, 'hash $request_uri: 180 requests, all 200');
    is(scalar(grep { keys %{ $map{$_} } != 1 } keys %map), 0,
        'hash $request_uri: each URI went to one server (three requests each)');
    my %per;
    for my $k (keys %map) { $per{$_}++ for keys %{ $map{$k} } }
    diag('hash $request_uri: keys per server: ' . fmt(\%per));
    ok(3 == keys %per && !grep({ $_ < 8 } values %per),
        'hash $request_uri: 60 keys spread over all three servers (>= 8 each)');
}

# ---- hash consistent (part 1: four servers) --------------------------------------------

my $hkeys = 200;
{
    my @r = load($p0, n => $hkeys * 2, conc => 4,
        path => sub { '/hc/item' . ($_[0] % $hkeys) });
    my (%map, $bad);
    $bad = 0;
    for my $x (@r) {
        if ($x->{status} ne '200') { $bad++; next; }
        $map{ $x->{i} % $hkeys }{ $x->{up} }++;
    }
    is($bad, 0, 'hash consistent: 400 requests, all 200');
    is(scalar(grep { keys %{ $map{$_} } != 1 } keys %map), 0,
        'hash consistent: each key went to one server (twice each)');
    %hc_before = map { $_ => (keys %{ $map{$_} })[0] } keys %map;
    my %per;
    $per{$_}++ for values %hc_before;
    diag('hash consistent, 4 servers: keys per server: ' . fmt(\%per));
    ok(4 == keys %per, 'hash consistent: keys on all four servers');
}

# ---- random ----------------------------------------------------------------------

{
    my @r = load($p0, n => 400, conc => 4, path => sub { "/rnd/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'random: 400 requests, all 200');
    my $share = ($c->{a} // 0) / 400;
    diag(sprintf 'random 3:1: %s (a %.3f)', fmt($c), $share);
    # Binomial(400, 0.75): sd 0.022; 0.65..0.85 is more than 4 sd.
    ok($share >= 0.65 && $share <= 0.85,
        "random weight=3 vs 1: a's share $share within 0.65..0.85");
}

{
    my @r = load($p0, n => 150, conc => 6, path => sub { "/rnd2/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'random two: 150 requests, all 200');
    my $s = ($c->{s} // 0) / 150;
    my @r1 = load($p0, n => 150, conc => 6, path => sub { "/rnds/$_[0]" });
    my ($c1, $bad1) = tally(@r1);
    my $s1 = ($c1->{s} // 0) / 150;
    diag(sprintf 'random two with slow s, 6 at a time: %s (s %.3f); plain random: '
        . '%s (s %.3f)', fmt($c), $s, fmt($c1), $s1);
    ok($s < 0.2, "random two: the slow server got fewer (share $s < 0.2)");
    ok($s1 > 0.2, "plain random for comparison: the slow server's share $s1 > 0.2");
}

# ---- backup and down ------------------------------------------------------------------

{
    my @r = load($p0, n => 60, conc => 4, path => sub { "/bk/$_[0]" });
    my ($c, $bad) = tally(@r);
    is($bad, 0, 'backup: 60 requests, all 200');
    is($c->{c} // 0, 0, 'backup: not used while the primaries are up (' . fmt($c) . ')');

    @r = load($p0, n => 60, conc => 4, path => sub { "/bkd/$_[0]" });
    ($c, $bad) = tally(@r);
    is($bad, 0, 'backup, primaries refuse connections: 60 requests, all 200');
    is($c->{c} // 0, 60, 'backup: takes every request when all primaries are down');

    @r = load($p0, n => 90, conc => 4, path => sub { "/dn/$_[0]" });
    ($c, $bad) = tally(@r);
    is($bad, 0, 'down: 90 requests, all 200');
    is($c->{b} // 0, 0, 'down: the down server never used (' . fmt($c) . ')');
    ok(($c->{a} // 0) >= 30 && ($c->{c} // 0) >= 30, 'down: the others share the load');
}

# ---- max_conns, across workers --------------------------------------------------------

{
    # Five requests at once, each held 1.5 s by the only server, which
    # takes one connection at a time: one 200, four 503 at once.
    my @r = load($p0, n => 5, conc => 5, path => sub { "/mc/$_[0]?delay=1.5" });
    my %st;
    $st{ $_->{status} }++ for @r;
    diag('max_conns=1, 5 concurrent slow requests: '
        . join(' ', map { "$_=$st{$_}" } sort keys %st) . ', '
        . workers_seen('/mc/') . ' workers');
    is($st{200} // 0, 1, 'max_conns=1: one request served');
    is($st{503} // 0, 4, 'max_conns=1: the other four got 503');
    my @fast = grep { $_->{status} eq '503' && $_->{elapsed} < 1.0 } @r;
    is(scalar @fast, $st{503} // 0, 'max_conns: the 503s came at once, not after the slow one');
    my ($c) = tally(load($p0, n => 3, conc => 1, path => sub { "/mc/after$_[0]" }));
    is($c->{d} // 0, 3, 'max_conns: served again once the slow request is done');
}

# ---- active counts are global ---------------------------------------------------------

{
    # Six slow requests in flight from a helper process, spread over the
    # workers: sluicectl servers (the master reading the shared table)
    # shows all six active on the one server.
    my $out = $t->testdir . '/act.json';
    $t->spawn(sub {
        my @r = load($p0, n => 6, conc => 6, path => sub { "/act/$_[0]?delay=2" });
        $t->write_file($out, JSON::PP::encode_json(\@r));
    });
    my $max = 0;
    wait_for(sub {
        my $j = servers_json($t, 'act') or return 0;
        my $a = $j->{upstreams}[0]{servers}[0]{active} // 0;
        $max = $a if $a > $max;
        return $max >= 6;
    }, 5, 0.05);
    is($max, 6, 'sluicectl -j servers: 6 active requests counted across workers');
    $t->wait_helpers(10);
    my $r = eval { JSON::PP::decode_json($t->read_file($out) // '') } || [];
    is(scalar(grep { $_->{status} eq '200' } @$r), 6, 'the six slow requests answered');
    ok(wait_for(sub {
        my $j = servers_json($t, 'act');
        return $j && ($j->{upstreams}[0]{servers}[0]{active} // -1) == 0;
    }, 5), 'active back to 0 when they are done');
    my $nw = workers_seen('/act/');
    diag("slow /act/ requests served by $nw workers");
    cmp_ok($nw, '>=', 2, 'the slow requests were spread over several workers');
}

# ---- hash consistent (part 2: one server removed by reload) -------------------------------

{
    my @old = $t->all_worker_pids;
    (my $c3 = $conf) =~ s/^\s*##D##.*\n//m;
    $t->write_conf($c3);
    my ($rc, $o, $e) = $t->ctl('reload');
    is($rc, 0, 'reload without server d') or diag($e);
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @old }, 10),
        'old workers gone');

    my @r = load($p0, n => $hkeys, conc => 4, path => sub { '/hc/item' . $_[0] });
    my (%after, $bad);
    $bad = 0;
    for my $x (@r) {
        if ($x->{status} ne '200') { $bad++; next; }
        $after{ $x->{i} } = $x->{up};
    }
    is($bad, 0, 'hash consistent after reload: 200 requests, all 200');
    my ($moved, $kept_moved, $on_d) = (0, 0, 0);
    for my $k (keys %after) {
        my $b = $hc_before{$k} // next;
        $on_d++ if $b eq 'd';
        next if $after{$k} eq $b;
        $moved++;
        $kept_moved++ if $b ne 'd';
    }
    diag(sprintf 'hash consistent, d removed: %d of %d keys moved, %d of them were on d '
        . '(d had %d); keys of a, b, c moved: %d', $moved, $hkeys, $moved - $kept_moved,
        $on_d, $kept_moved);
    is(scalar(grep { $_ eq 'd' } values %after), 0, 'no key goes to the removed server');
    ok($moved <= $hkeys * 0.4, "about 1/4 of the keys moved ($moved <= 40%)");
    ok($kept_moved <= $hkeys * 0.05,
        "keys of the remaining servers stayed ($kept_moved moved, <= 5%)");
}

$t->stop;
$_->stop for @up;

done_testing;
