#!/usr/bin/perl

# RFC 9111 on the request path, one rule at a time: response directives
# (max-age, s-maxage, no-store, private, no-cache, must-revalidate,
# Expires valid and invalid, heuristics), proxy_cache_valid as the
# fallback, Authorization, request directives (no-cache, Pragma,
# max-age=0, max-stale, min-fresh, only-if-cached), CDN-Cache-Control
# (RFC 9213), conditional client requests and byte ranges answered from
# the store, status codes, and unsafe methods invalidating.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

write_cache_conf($t, {
    workers => 1,
    log => '$request_method $request_uri $status $upstream_cache_status',
}, <<'EOF');
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache one;
        }
        location /valid/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache one;
            proxy_cache_valid 200 1m;
            proxy_cache_valid 404 10s;
        }
        # the key leaves the query out: the query steers the origin
        location /k/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache one;
            proxy_cache_key $scheme$host$uri;
        }
    }
EOF

my $u = start_cache($t);
my $p0 = $t->port(0);

# Asks twice; returns the number of origin requests and the 2nd answer.
sub twice {
    my ($path, %h) = @_;
    $u->clear;
    my @a = get($path, %h);
    my @b = get($path, %h);
    return ($u->nrequests, \@a, \@b);
}

my $now = 'date=now';

# ---- response directives ----------------------------------------------------

{
    my ($n, $a, $b) = twice("/r/maxage?h=Cache-Control:max-age=60&$now");
    is($n, 1, 'max-age=60: stored, second is a hit');
    like($b->[1]{'cache-status'}, qr/^sluice; hit/, 'max-age=60: Cache-Status hit');
}
{
    my ($n, $a, $b) = twice("/r/smax?h=Cache-Control:max-age=0,%20s-maxage=60&$now");
    is($n, 1, 's-maxage=60 overrides max-age=0 for a shared cache');
}
{
    my ($n) = twice("/r/nostore?h=Cache-Control:no-store,%20max-age=60&$now");
    is($n, 2, 'no-store: not stored');
}
{
    my ($n, $a, $b) = twice("/r/private?h=Cache-Control:private,%20max-age=60&$now");
    is($n, 2, 'private: not stored by a shared cache');
    like($a->[1]{'cache-status'}, qr/fwd=miss; detail=private/, 'private: Cache-Status says why');
}
{
    my ($n) = twice("/k/nocache1?h=Cache-Control:no-cache&h=ETag:%22n1%22&$now");
    is($n, 2, 'no-cache: stored but asked about every time');
    $u->clear;
    my ($s, $h) = get("/k/nocache1?h=Cache-Control:no-cache&h=ETag:%22n1%22&$now&inm=1");
    my $req = $u->last_request;
    is(SluiceTest::Upstream::header($req, 'If-None-Match'), '"n1"',
        'no-cache: revalidated with the stored ETag');
    is($s, 200, 'no-cache: the 304 turned into the stored 200');
    like($h->{'cache-status'}, qr/fwd=stale; fwd-status=304/, 'no-cache: Cache-Status fwd=stale; fwd-status=304');
}
{
    my ($n) = twice("/r/expires?h=Expires:" . enc(httpdate(60)) . "&$now");
    is($n, 1, 'Expires in the future: a hit');
    ($n) = twice("/r/expires0?h=Expires:0&h=ETag:%22e0%22&$now");
    is($n, 2, 'Expires: 0 (invalid): stale at once, asked again');
    ($n) = twice("/r/expirespast?h=Expires:" . enc(httpdate(-60)) . "&h=ETag:%22e1%22&$now");
    is($n, 2, 'Expires in the past: stale');
}
{
    my ($n) = twice("/r/heur?h=Last-Modified:" . enc(httpdate(-86400 * 10)) . "&$now");
    is($n, 1, 'heuristic freshness from Last-Modified for a 200');
    ($n) = twice("/r/noinfo?$now");
    is($n, 2, 'no freshness and no validator: not stored');
    ($n) = twice("/r/heur201?status=201&h=Last-Modified:" . enc(httpdate(-86400 * 10)) . "&$now");
    is($n, 2, '201 is not heuristically cacheable');
}
{
    my ($n) = twice("/valid/a?$now");
    is($n, 1, 'proxy_cache_valid 200 1m: used when the response says nothing');
    ($n) = twice("/valid/b?h=Cache-Control:max-age=0&$now");
    is($n, 2, 'proxy_cache_valid does not override explicit max-age=0');
    ($n) = twice("/valid/c?status=404&$now");
    is($n, 1, 'proxy_cache_valid 404 10s');
    ($n) = twice("/valid/d?status=403&$now");
    is($n, 2, 'a status not listed: not stored');
    ($n) = twice("/r/404?status=404&h=Cache-Control:max-age=60&$now");
    is($n, 1, '404 with max-age: stored');
}
{
    my ($n, $a, $b) = twice("/r/mr?h=Cache-Control:max-age=1,%20must-revalidate&$now");
    is($n, 1, 'must-revalidate, fresh: a hit');
}

# ---- Authorization -------------------------------------------------------------

{
    my %auth = (Authorization => 'Basic dTpw');
    my ($n) = twice("/r/auth1?h=Cache-Control:max-age=60&$now", %auth);
    is($n, 2, 'Authorization + max-age: not stored');
    ($n) = twice("/r/auth2?h=Cache-Control:public,%20max-age=60&$now", %auth);
    is($n, 1, 'Authorization + public: stored');
    ($n) = twice("/r/auth3?h=Cache-Control:s-maxage=60&$now", %auth);
    is($n, 1, 'Authorization + s-maxage: stored');
    # stored for a request without credentials, max-age only
    $u->clear;
    get("/r/auth4?h=Cache-Control:max-age=60&$now");
    my ($s, $h) = get("/r/auth4?h=Cache-Control:max-age=60&$now", %auth);
    is($u->nrequests, 2, 'a request with Authorization does not use a response that did not allow it');
    my (undef, $h2) = get("/r/auth4?h=Cache-Control:max-age=60&$now");
    like($h2->{'cache-status'}, qr/^sluice; hit/, 'without credentials it still hits');
}

# ---- request directives --------------------------------------------------------

{
    my $p = "/r/req?h=Cache-Control:max-age=60&h=ETag:%22q%22&$now";
    get($p);
    $u->clear;
    my ($s, $h) = get($p, 'Cache-Control' => 'no-cache');
    is($u->nrequests, 1, 'request no-cache: went to the origin');
    like($h->{'cache-status'}, qr/fwd=request/, 'request no-cache: fwd=request');
    $u->clear;
    get($p, 'Pragma' => 'no-cache');
    is($u->nrequests, 1, 'Pragma: no-cache without Cache-Control: to the origin');
    $u->clear;
    get($p, 'Pragma' => 'no-cache', 'Cache-Control' => 'max-stale=5');
    is($u->nrequests, 0, 'Pragma: no-cache ignored when Cache-Control is there');
    sleep 1.1;      # ages are whole seconds: now older than 0
    $u->clear;
    get($p, 'Cache-Control' => 'max-age=0');
    is($u->nrequests, 1, 'request max-age=0: to the origin');
    $u->clear;
    get($p, 'Cache-Control' => 'min-fresh=3600');
    is($u->nrequests, 1, 'request min-fresh beyond the lifetime: to the origin');
    $u->clear;
    my ($s2, $h2) = get($p, 'Cache-Control' => 'only-if-cached');
    is($s2, 200, 'only-if-cached with a stored response: 200');
    my ($s3, $h3) = get('/r/nothere', 'Cache-Control' => 'only-if-cached');
    is($s3, 504, 'only-if-cached on a miss: 504');
    is($u->nrequests, 0, 'only-if-cached: the origin never asked');
}
{
    my $p = "/r/stale1?h=Cache-Control:max-age=1&h=ETag:%22s%22&$now";
    get($p);
    sleep 2.2;
    $u->clear;
    my ($s, $h) = get($p, 'Cache-Control' => 'max-stale=60');
    is($u->nrequests, 0, 'max-stale=60: a stale response is used');
    like($h->{'cache-status'}, qr/hit.*detail=max-stale/, 'max-stale: Cache-Status hit; detail=max-stale');
    cmp_ok($h->{age}, '>=', 2, 'max-stale: Age tells how old');
    get($p);
    is($u->nrequests, 1, 'without max-stale the stale response is revalidated');
}

# ---- CDN-Cache-Control (RFC 9213) ---------------------------------------------------

{
    my ($n, $a, $b) = twice("/r/cdn1?h=Cache-Control:no-store&h=CDN-Cache-Control:max-age=60&$now");
    is($n, 1, 'CDN-Cache-Control: max-age=60 wins over Cache-Control: no-store');
    ok(!defined $a->[1]{'cdn-cache-control'}, 'CDN-Cache-Control not forwarded on a miss');
    ok(!defined $b->[1]{'cdn-cache-control'}, 'CDN-Cache-Control not forwarded on a hit');
    is($b->[1]{'cache-control'}, 'no-store', 'Cache-Control passed on for downstream caches');
    ($n) = twice("/r/cdn2?h=Cache-Control:max-age=60&h=CDN-Cache-Control:no-store&$now");
    is($n, 2, 'CDN-Cache-Control: no-store wins over Cache-Control: max-age');
}

# ---- conditional requests and ranges from the store -------------------------------

{
    my $lm = enc(httpdate(-3600));
    my $p = "/r/cond?h=Cache-Control:max-age=60&h=ETag:%22v1%22&h=Last-Modified:$lm&len=1000&seed=7&$now";
    get($p);
    $u->clear;
    my ($s, $h, $b) = get($p, 'If-None-Match' => '"v1"');
    is($s, 304, 'If-None-Match matching: 304 from the store');
    is($h->{etag}, '"v1"', '304 carries the ETag');
    like($h->{'cache-status'}, qr/^sluice; hit/, '304 is a hit');
    ($s) = get($p, 'If-None-Match' => 'W/"v1"');
    is($s, 304, 'If-None-Match weak comparison: 304');
    ($s) = get($p, 'If-None-Match' => '"other"');
    is($s, 200, 'If-None-Match not matching: 200');
    ($s) = get($p, 'If-Modified-Since' => httpdate(0));
    is($s, 304, 'If-Modified-Since after Last-Modified: 304');
    ($s) = get($p, 'If-Modified-Since' => httpdate(-7200));
    is($s, 200, 'If-Modified-Since before Last-Modified: 200');
    ($s) = get($p, 'If-Match' => '"other"');
    is($s, 412, 'If-Match not matching: 412');
    is($u->nrequests, 0, 'conditionals answered without the origin');

    my $body = SluiceTest::Upstream::body_bytes(1000, 7);
    ($s, $h) = get($p);
    is($h->{'accept-ranges'}, 'bytes', 'a stored 200 says Accept-Ranges: bytes');
    ($s, $h, $b) = get($p, Range => 'bytes=100-199');
    is($s, 206, 'Range: 206');
    is($h->{'content-range'}, 'bytes 100-199/1000', 'Range: Content-Range');
    is($b, substr($body, 100, 100), 'Range: the bytes asked for');
    ($s, $h, $b) = get($p, Range => 'bytes=-10');
    is($b, substr($body, 990), 'suffix range');
    ($s, $h) = get($p, Range => 'bytes=5000-6000');
    is($s, 416, 'unsatisfiable range: 416');
    is($h->{'content-range'}, 'bytes */1000', '416 Content-Range');
    ($s, $h, $b) = get($p, Range => 'bytes=0-1,5-6');
    is($s, 200, 'several ranges: the whole 200');
    is(length $b, 1000, 'several ranges: the whole body');
    ($s, $h, $b) = get($p, Range => 'bytes=0-9', 'If-Range' => '"v1"');
    is($s, 206, 'If-Range matching: 206');
    ($s, $h, $b) = get($p, Range => 'bytes=0-9', 'If-Range' => '"v0"');
    is($s, 200, 'If-Range not matching: 200');
    is($u->nrequests, 0, 'ranges answered without the origin');

    # a Range miss: the origin is asked for the whole response, stored
    $u->clear;
    my $p2 = "/r/rangemiss?h=Cache-Control:max-age=60&len=1000&seed=8&$now";
    ($s, $h, $b) = get($p2, Range => 'bytes=0-9');
    ok(!defined SluiceTest::Upstream::header($u->last_request, 'Range'),
        'Range miss: no Range sent to the origin');
    is($s, 206, 'Range miss: the client still gets a 206');
    is($h->{'content-range'}, 'bytes 0-9/1000', 'Range miss: Content-Range');
    is($b, substr(SluiceTest::Upstream::body_bytes(1000, 8), 0, 10), 'Range miss: its bytes');
    my $p3 = "/r/rangemiss2?h=Cache-Control:max-age=60&len=70000&seed=8&$now";
    ($s, $h, $b) = get($p3, Range => 'bytes=65000-65009');
    is($b, substr(SluiceTest::Upstream::body_bytes(70000, 8), 65000, 10),
        'Range miss: a range beyond the first read');
    ($s, $h, $b) = get($p3);
    is(SluiceTest::Upstream::sha($b), SluiceTest::Upstream::body_sha(70000, 8),
        'and the whole was stored');
    ($s, $h, $b) = get("/r/rangemiss3?h=Cache-Control:max-age=60&len=100&$now",
        Range => 'bytes=500-600');
    is($s, 416, 'Range miss beyond the end: 416');
    ($s, $h, $b) = get("/r/rangemiss3?h=Cache-Control:max-age=60&len=100&$now");
    is(length $b, 100, 'and the whole was stored');
    ($s, $h, $b) = get($p2, Range => 'bytes=10-19');
    is($s, 206, 'Range miss stored the whole; the next range is a 206 hit');
    is($b, substr(SluiceTest::Upstream::body_bytes(1000, 8), 10, 10), 'the right bytes');
}

# ---- unsafe methods invalidate --------------------------------------------------

{
    my $p = "/k/inv";
    my $q = "h=Cache-Control:max-age=60&$now";
    get("$p?$q");
    get("/k/other?$q");
    get("/k/third?$q");
    $u->clear;
    get("$p?$q");
    is($u->nrequests, 0, 'stored before the POST');
    my $raw = http("POST $p?$q&status=201&h=Location:/k/other"
        . "&h=Content-Location:http://localhost/k/third HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
        port => $p0);
    my ($s) = parse_response($raw);
    is($s, 201, 'POST answered 201');
    $u->clear;
    get("$p?$q");
    get("/k/other?$q");
    get("/k/third?$q");
    is($u->nrequests, 3, 'a successful POST invalidated its URL, Location and Content-Location');

    $u->clear;
    $raw = http("DELETE $p?status=500 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        port => $p0);
    get("$p?$q");
    is($u->nrequests, 1, 'a failed DELETE invalidates nothing');
    $u->clear;
    $raw = http("PUT $p?status=204 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Length: 0\r\n\r\n", port => $p0);
    get("$p?$q");
    is($u->nrequests, 2, 'a successful PUT invalidates');
}

$t->stop;

{
    my $log = $t->read_file('access.log') // '';
    like($log, qr{^GET /r/maxage\S* 200 MISS$}m, 'access log: MISS');
    like($log, qr{^GET /r/maxage\S* 200 HIT$}m, 'access log: HIT');
    like($log, qr{^GET /k/nocache1\S* 200 REVALIDATED$}m, 'access log: REVALIDATED');
    like($log, qr{^GET /r/stale1\S* 200 EXPIRED$}m, 'access log: EXPIRED');
}

done_testing;
