#!/usr/bin/perl

# Eviction.  Many distinct keys of assorted sizes are pushed through a
# small zone, several times its size in all: every body comes back
# intact (SHA-256 against what the upstream sent), the zone evicts (and
# counts it), holds no more than fits, keeps the most recently stored
# objects as hits, and stays consistent.  Responses larger than
# max_object, larger than the whole zone, and of unknown length that turn
# out too large on the way, are streamed to the client intact and not
# stored.  No worker dies on the way.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ports: 0 sluice; 1 the upstream.
$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
events {
    worker_connections 256;
}
http {
    access_log %%TESTDIR%%/access.log;
    cache_zone small size=1m max_object=64k;
    upstream app { server 127.0.0.1:%%PORT_1%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; proxy_cache small; }
    }
}
EOF

my $up = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'o',
    params => { date => 'now' })->start;
$t->start;
my $p0 = $t->port(0);
my @workers = sort $t->worker_pids;

sub stats {
    my ($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
    my $j = eval { JSON::PP->new->decode($out) } or return {};
    my ($z) = @{ $j->{zones} || [] };
    return $z // {};
}

# GET path; true when the answer is 200 with exactly body_bytes(len, seed).
sub fetch_ok {
    my ($path, $len, $seed) = @_;
    my ($st, $h, $body) = parse_response(http_get($p0, $path,
        _timeout => 20));
    return ($st // 0) == 200 && defined $body && length($body) == $len
        && SluiceTest::Upstream::sha($body)
           eq SluiceTest::Upstream::body_sha($len, $seed);
}

# ---- churn ---------------------------------------------------------------------

# 400 keys of 1 to 16 KiB (about 3.4 MB in all) through a 1 MB zone.
my $nkeys = 400;
my (@path, @len);
for my $i (0 .. $nkeys - 1) {
    $len[$i] = 1024 + ($i * 7919) % (15 * 1024);
    $path[$i] = "/k$i?len=$len[$i]&seed=k$i&h=Cache-Control:max-age=3600";
}
my $total = 0;
$total += $_ for @len;
cmp_ok($total, '>', 3 * 1048576, 'the keys add up to over 3 times the zone');

my $bad = 0;
for my $i (0 .. $nkeys - 1) {
    $bad++ unless fetch_ok($path[$i], $len[$i], "k$i");
}
is($bad, 0, "churn: all $nkeys bodies intact");
is($up->nrequests, $nkeys, 'churn: each key fetched once');

my $s = stats();
cmp_ok($s->{evicted}, '>', 0, 'churn: objects were evicted')
    or diag(explain($s));
cmp_ok($s->{stored}, '>=', $nkeys * 0.9, 'churn: (nearly) every key stored');
cmp_ok($s->{entries}, '<', $nkeys, 'churn: the zone holds fewer than all');
cmp_ok($s->{entries}, '>', 20, 'churn: ... but many');
is($s->{entries} + $s->{evicted}, $s->{stored},
    'churn: stored = held + evicted');
cmp_ok($s->{used}, '<=', $s->{size}, 'churn: used within the zone');
is($s->{check}, 'ok', 'churn: consistent');

# The most recently stored objects are still there.
{
    my $n = $up->nrequests;
    my $good = 0;
    for my $i ($nkeys - 5 .. $nkeys - 1) {
        $good++ if fetch_ok($path[$i], $len[$i], "k$i");
    }
    is($good, 5, 'the last 5 keys: intact');
    is($up->nrequests, $n, 'the last 5 keys: hits');
}

# A second round, in another order: every body still intact, whatever
# was evicted is fetched again.
{
    $bad = 0;
    for my $j (0 .. $nkeys - 1) {
        my $i = ($j * 37) % $nkeys;
        $bad++ unless fetch_ok($path[$i], $len[$i], "k$i");
    }
    is($bad, 0, 'second round: all bodies intact');
    $s = stats();
    cmp_ok($s->{hit}, '>', 5, 'second round: some hits');
    is($s->{check}, 'ok', 'second round: consistent');
}

# ---- too large to store ------------------------------------------------------

for my $case (
    [ 'over max_object', 200 * 1024, '' ],
    [ 'over the zone', 3 * 1048576, '' ],
    [ 'over max_object, chunked', 300 * 1024, '&te=chunked' ],
    [ 'over the zone, chunked', 2 * 1048576 + 17,
      '&te=chunked&chunks=65536,1000,7' ],
    [ 'over max_object, no length', 100 * 1024, '&te=close' ])
{
    my ($what, $len, $extra) = @$case;
    my $seed = "big$len";
    my $path = "/big$len?len=$len&seed=$seed$extra"
        . '&h=Cache-Control:max-age=3600';
    my $n = $up->nrequests;
    my $ns = stats()->{not_stored};
    ok(fetch_ok($path, $len, $seed), "$what: intact");
    ok(fetch_ok($path, $len, $seed), "$what: intact again");
    is($up->nrequests, $n + 2, "$what: not stored, fetched twice");
    cmp_ok(stats()->{not_stored}, '>=', $ns + 2, "$what: counted not stored");
}

{
    $s = stats();
    is($s->{check}, 'ok', 'after the large objects: consistent');
    # The zone still works.
    my $n = $up->nrequests;
    ok(fetch_ok("/after?len=5000&seed=a&h=Cache-Control:max-age=3600",
        5000, 'a'), 'a small object after them');
    ok(fetch_ok("/after?len=5000&seed=a&h=Cache-Control:max-age=3600",
        5000, 'a'), '... again');
    is($up->nrequests, $n + 1, '... stored and hit');
}

is_deeply([sort $t->worker_pids], \@workers, 'no worker died');
$t->stop;
done_testing;
