#!/usr/bin/perl

# Revalidation (RFC 9111 4.3): a stale stored response is checked with
# the origin using its validators (If-None-Match, If-Modified-Since); a
# 304 freshens the stored head (new fields replace old ones, the body
# stays) and the client gets the stored body; a 200 replaces the object;
# a client's own conditionals are passed on untouched.

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
        keepalive 2;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        # the key leaves the query out: the query steers the origin
        location / {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_key $scheme$host$uri;
        }
    }
EOF

my $u = start_cache($t);

# ---- ETag ---------------------------------------------------------------------

{
    my ($s, $h, $b) = get('/e?h=Cache-Control:max-age=1&h=ETag:%22x1%22&h=X-Version:1'
        . '&body=version-one&date=now');
    is($b, 'version-one', 'stored');
    sleep 2.2;
    $u->clear;
    my ($s2, $h2, $b2) = get('/e?h=Cache-Control:max-age=60&h=ETag:%22x1%22&h=X-Version:2'
        . '&body=SHOULD-NOT-BE-SENT&date=now&inm=1');
    my $req = $u->last_request;
    is(hdr($req, 'If-None-Match'), '"x1"', 'the stale object was revalidated with its ETag');
    is($s2, 200, 'the client gets a 200');
    is($b2, 'version-one', 'with the stored body');
    is($h2->{'x-version'}, '2', "the 304's fields replaced the stored ones");
    is($h2->{'cache-control'}, 'max-age=60', 'Cache-Control freshened');
    like($h2->{'cache-status'}, qr/^sluice; fwd=stale; fwd-status=304/, 'Cache-Status fwd=stale; fwd-status=304');
    cmp_ok($h2->{age} // 99, '<=', 1, 'Age starts again');

    $u->clear;
    my ($s3, $h3, $b3) = get('/e');
    is($u->nrequests, 0, 'fresh again: a hit');
    is($b3, 'version-one', 'hit: the stored body');
    is($h3->{'x-version'}, '2', 'hit: the freshened head');
    is(scalar(() = ($h3->{'x-version'} =~ /,/g)), 0, 'the field is not doubled');
}

# ---- Last-Modified ------------------------------------------------------------------

{
    my $lm = httpdate(-86400);
    get('/lm?h=Cache-Control:max-age=1&h=Last-Modified:' . enc($lm) . '&body=lm-one&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/lm?h=Cache-Control:max-age=60&body=nope&date=now&ims=1');
    is(hdr($u->last_request, 'If-Modified-Since'), $lm, 'revalidated with If-Modified-Since');
    ok(!defined hdr($u->last_request, 'If-None-Match'), 'no If-None-Match without an ETag');
    is($b, 'lm-one', '304: the stored body');
    is($h->{'last-modified'}, $lm, 'Last-Modified kept');
}

# ---- a 200 replaces -------------------------------------------------------------------

{
    get('/r?h=Cache-Control:max-age=1&h=ETag:%22r1%22&body=old&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/r?h=Cache-Control:max-age=60&h=ETag:%22r2%22&body=new&date=now');
    is(hdr($u->last_request, 'If-None-Match'), '"r1"', 'asked with the old ETag');
    is($b, 'new', 'the origin said 200: the new body');
    like($h->{'cache-status'}, qr/^sluice; fwd=stale; fwd-status=200; stored/, 'Cache-Status fwd=stale; fwd-status=200; stored');
    $u->clear;
    my (undef, $h2, $b2) = get('/r');
    is($b2, 'new', 'the new object replaced the old one');
    is($h2->{etag}, '"r2"', 'with its ETag');
    is($u->nrequests, 0, 'a hit');
}

# ---- the client's own conditionals ------------------------------------------------

{
    get('/c?h=Cache-Control:max-age=1&h=ETag:%22c1%22&body=cbody&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/c?h=Cache-Control:max-age=60&h=ETag:%22c1%22&date=now&inm=1',
        'If-None-Match' => '"c0", "c1"');
    is(hdr($u->last_request, 'If-None-Match'), '"c0", "c1"', "the client's If-None-Match passed on as it was");
    is($s, 304, "the origin's 304 goes to the client");
    $u->clear;
    ($s, $h, $b) = get('/c', 'If-None-Match' => '"c1"');
    is($s, 304, 'the 304 named the stored ETag and freshened it: 304 from the store');
    ($s, $h, $b) = get('/c');
    is($b, 'cbody', 'and the stored body is served again');
    is($u->nrequests, 0, 'without the origin');
}

# ---- no validator: fetched again ------------------------------------------------------

{
    get('/nv?h=Cache-Control:max-age=1&body=a&date=now');
    sleep 2.2;
    $u->clear;
    my ($s, $h, $b) = get('/nv?h=Cache-Control:max-age=60&body=b&date=now');
    ok(!defined hdr($u->last_request, 'If-None-Match')
        && !defined hdr($u->last_request, 'If-Modified-Since'), 'no validators: a plain request');
    is($b, 'b', 'and the new answer');
}

$t->stop;
my $log = $t->read_file('access.log') // '';
like($log, qr{^/e\S* 200 REVALIDATED$}m, '$upstream_cache_status REVALIDATED');
like($log, qr{^/r\S* 200 EXPIRED$}m, '$upstream_cache_status EXPIRED');

done_testing;
