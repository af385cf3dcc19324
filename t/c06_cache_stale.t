#!/usr/bin/perl

# Serving stale (RFC 5861, proxy_cache_use_stale): stale-while-revalidate
# and "updating" answer with the stale object at once while one
# background request refreshes it; stale-if-error and use_stale error,
# timeout and http_5xx answer with the stale object when the origin
# fails, answers 5xx, or every server of the upstream is down -- never
# past must-revalidate.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

write_cache_conf($t, {
    log => '$request_uri $status $upstream_cache_status',
}, <<'EOF');
    upstream u {
        server 127.0.0.1:%%PORT_5%%;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        # the key leaves the query out: the query steers the origin
        proxy_cache_key $scheme$host$uri;
        location / {
            proxy_pass http://u;
            proxy_cache one;
        }
        location /us/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_use_stale error timeout http_500 http_503;
            proxy_read_timeout 500ms;
        }
        location /upd/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_use_stale updating;
        }
    }
EOF

my $u = start_cache($t);
my $p0 = $t->port(0);

# Polls path until its body is want (bounded); returns the last answer.
sub until_body {
    my ($path, $want) = @_;
    my @r;
    wait_for(sub { @r = get($path); ($r[2] // '') eq $want }, 5, 0.1);
    return @r;
}

# ---- stale-while-revalidate --------------------------------------------------

{
    get('/swr?h=Cache-Control:max-age=1,%20stale-while-revalidate=30&body=v1&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/swr?h=Cache-Control:max-age=60&body=v2&date=now&delay=1');
    is($b, 'v1', 'stale-while-revalidate: the stale body at once, not the slow new one');
    like($h->{'cache-status'}, qr/^sluice; hit; ttl=-\d+; detail=stale/, 'Cache-Status hit; detail=stale');
    cmp_ok($h->{age}, '>=', 2, 'with its Age');
    ok($u->wait_requests(1, 5), 'the origin is asked in the background');
    my ($s2, $h2, $b2) = until_body('/swr', 'v2');
    is($b2, 'v2', 'the background refresh stored the new answer');
    like($h2->{'cache-status'}, qr/^sluice; hit/, 'and it is a hit');
    is($u->nrequests, 1, 'one background request, however many stale hits');
}

{
    get('/swr2?h=Cache-Control:max-age=1,%20stale-while-revalidate=30&h=ETag:%22w1%22'
        . '&h=X-V:1&body=w1&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/swr2?h=Cache-Control:max-age=60&h=ETag:%22w1%22&h=X-V:2'
        . '&date=now&inm=1');
    is($b, 'w1', 'swr with a validator: stale body at once');
    ok($u->wait_requests(1, 5), 'background revalidation');
    is(hdr(($u->requests)[0], 'If-None-Match'), '"w1"', 'it sent the stored ETag');
    my $ok = wait_for(sub { my (undef, $hh) = get('/swr2'); ($hh->{'x-v'} // '') eq '2' }, 5, 0.1);
    ok($ok, "the background 304 freshened the stored head");
    my (undef, $h3, $b3) = get('/swr2');
    is($b3, 'w1', 'the body kept');
    like($h3->{'cache-status'}, qr/^sluice; hit; ttl=\d+/, 'fresh again');
}

{
    # a HEAD on a stale object: answered stale, and it must not refresh
    # the object with its own body-less answer
    get('/swrh?h=Cache-Control:max-age=1,%20stale-while-revalidate=30&body=head-v1&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h) = parse_response(http_head($p0, '/swrh?h=Cache-Control:max-age=60&body=head-v2&date=now'),
        head => 1);
    is($s, 200, 'HEAD on a stale-while-revalidate object: 200');
    is($h->{'content-length'}, length 'head-v1', 'with the stored length');
    my (undef, undef, $b) = get('/swrh?h=Cache-Control:max-age=60&body=head-v2&date=now');
    is($b, 'head-v1', 'the GET after it still finds the whole stale body');
    my (undef, undef, $b2) = until_body('/swrh', 'head-v2');
    is($b2, 'head-v2', 'and the GET refreshed it');
}

# ---- proxy_cache_use_stale updating ----------------------------------------------

{
    get('/upd/x?h=Cache-Control:max-age=1&body=u1&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/upd/x?h=Cache-Control:max-age=60&body=u2&date=now&delay=1');
    is($b, 'u1', 'use_stale updating: the stale body at once');
    my (undef, undef, $b2) = until_body('/upd/x', 'u2');
    is($b2, 'u2', 'then the refreshed one');
}

# ---- errors ---------------------------------------------------------------------------

# stale objects for the error cases
my %obj = (
    '/sie'     => 'h=Cache-Control:max-age=1,%20stale-if-error=60',
    '/sie5'    => 'h=Cache-Control:max-age=1,%20stale-if-error=60',
    '/plain'   => 'h=Cache-Control:max-age=1',
    '/plain5'  => 'h=Cache-Control:max-age=1',
    '/us/e'    => 'h=Cache-Control:max-age=1',
    '/us/t'    => 'h=Cache-Control:max-age=1',
    '/us/500'  => 'h=Cache-Control:max-age=1',
    '/us/502'  => 'h=Cache-Control:max-age=1',
    '/us/mr'   => 'h=Cache-Control:max-age=1,%20must-revalidate',
    '/sieold'  => 'h=Cache-Control:max-age=1,%20stale-if-error=1',
);
for my $p (sort keys %obj) {
    my ($s) = get("$p?$obj{$p}&body=stale:$p&date=now");
    is($s, 200, "stored $p");
}
sleep 2.2;

{
    my ($s, $h, $b) = get('/sie5?status=503&body=err');
    is($s, 200, 'stale-if-error, origin answers 503: 200');
    is($b, 'stale:/sie5', 'the stale body');
    like($h->{'cache-status'}, qr/fwd=stale; fwd-status=503; ttl=-\d+; detail=stale-if-error/,
        'Cache-Status fwd=stale; fwd-status=503; detail=stale-if-error');
    ($s, $h, $b) = get('/plain5?status=500&body=err');
    is($s, 500, 'no stale-if-error, no use_stale: the 500 goes through');
    is($b, 'err', 'with its body');
    ($s, undef, $b) = get('/us/500?status=500&body=err');
    is($b, 'stale:/us/500', 'use_stale http_500: stale');
    ($s, undef, $b) = get('/us/502?status=502&body=err');
    is($s, 502, 'use_stale without http_502: the 502 goes through');
    ($s, undef, $b) = get('/us/t?delay=2&body=late');
    is($b, 'stale:/us/t', 'use_stale timeout: stale after proxy_read_timeout');
}

$u->stop;   # every server of the upstream is down from here

{
    my ($s, $h, $b) = get('/sie');
    is($s, 200, 'stale-if-error, origin down: 200');
    is($b, 'stale:/sie', 'the stale body');
    like($h->{'cache-status'}, qr/detail=stale-if-error/, 'Cache-Status detail=stale-if-error');
    cmp_ok($h->{age}, '>=', 2, 'with its Age');
    ($s) = get('/plain');
    is($s, 502, 'no stale-if-error, no use_stale: 502');
    ($s, $h, $b) = get('/us/e');
    is($b, 'stale:/us/e', 'use_stale error, origin down: stale');
    ($s) = get('/us/mr');
    is($s, 502, 'must-revalidate: never stale, even with use_stale');
    sleep 1;
    ($s) = get('/sieold');
    is($s, 502, 'past its stale-if-error window: 502');
    ($s) = get('/nothing');
    is($s, 502, 'nothing stored: 502');
}

$t->stop;
my $log = $t->read_file('access.log') // '';
like($log, qr{^/swr\S* 200 UPDATING$}m, '$upstream_cache_status UPDATING');
like($log, qr{^/sie 200 STALE$}m, '$upstream_cache_status STALE');
unlike($log, qr{^/swr\?h=Cache-Control:max-age=60\S* 200 MISS$}m, 'the background request is not logged');

done_testing;
