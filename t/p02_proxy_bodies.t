#!/usr/bin/perl

# Proxy bodies: downloads and uploads of several sizes checked by SHA-256;
# chunked request bodies sent with Content-Length; chunked and
# close-delimited responses re-chunked for HTTP/1.1 and close-delimited for
# HTTP/1.0; bodies past client_body_buffer_size; Expect: 100-continue;
# HEAD, 204, 304 without body; interim responses; pipelining.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
events {
    worker_connections 256;
}
http {
    access_log off;
    client_max_body_size 0;
    proxy_read_timeout 3s;

    upstream up {
        server 127.0.0.1:%%PORT_5%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://up; }
        location /ret { return 200 "ret"; }
        location /cbt/ {
            client_body_timeout 1s;
            proxy_pass http://up;
        }
        location /small/ {
            client_max_body_size 1k;
            proxy_pass http://up;
        }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'a');
$u->start;
$t->start;

my $p0 = $t->port(0);

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }
sub hdr { SluiceTest::Upstream::header(@_) }
sub sha { SluiceTest::Upstream::sha(@_) }
sub bsha { SluiceTest::Upstream::body_sha(@_) }
sub human { my $n = shift; $n >= 1048576 ? ($n / 1048576) . 'M' : $n >= 1024 ? ($n / 1024) . 'K' : $n }

my $big = $ENV{SLUICE_TEST_BIG} // 50 * 1048576;

# ---- downloads ---------------------------------------------------------------------

for my $n (0, 1, 100 * 1024, 5 * 1048576, $big) {
    my $to = $n > 10485760 ? 20 : 5;
    my $s = human($n);
    my $start = time;
    my ($st, $h, $b) = parse_response(http_get($p0, "/dl?len=$n&seed=3",
        _timeout => $to));
    is($st, 200, "download $s (Content-Length): 200");
    is($h->{'content-length'}, $n, "download $s: Content-Length kept");
    is(length($b // ''), $n, "download $s: length");
    is(sha($b // ''), bsha($n, 3), "download $s: SHA-256");
    diag(sprintf 'download %s took %.2fs', $s, time - $start) if $n > 10485760;
}

for my $n (0, 1, 100 * 1024, 5 * 1048576) {
    my $s = human($n);
    my $r = http_ex("GET /dlc?len=$n&te=chunked&chunks=1,3,5000,70000&trailers=1&ext=1 HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", port => $p0);
    my ($st, $h, $b) = parse_response($r->{raw});
    is($st, 200, "chunked response $s: 200");
    is($h->{'transfer-encoding'}, 'chunked', "chunked response $s: chunked to HTTP/1.1");
    ok(!exists $h->{'content-length'}, "chunked response $s: no Content-Length");
    is(sha($b // ''), bsha($n), "chunked response $s: SHA-256");
    like($r->{raw}, qr/\r\n0\r\n\r\n\z/, "chunked response $s: ends with the last chunk");
    unlike($r->{raw}, qr/X-Checksum:/, "chunked response $s: trailer dropped");
    ok(!exists $h->{trailer}, "chunked response $s: no Trailer header");
}

for my $n (0, 100 * 1024, 5 * 1048576) {
    my $s = human($n);
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get("/dlclose?len=$n&te=close");
    my ($st, $h, $b) = $c->read_response;
    is($st, 200, "close-delimited response $s to HTTP/1.1: 200");
    is($h->{'transfer-encoding'}, 'chunked',
        "close-delimited response $s to HTTP/1.1: re-chunked");
    is(sha($b // ''), bsha($n), "close-delimited response $s: SHA-256");
    $c->get('/after?len=5');
    ($st, $h, $b) = $c->read_response;
    is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(5),
        "close-delimited response $s: client connection kept alive");
    $c->close;
}

for my $case (['te=chunked', 'chunked'], ['te=close', 'close-delimited'],
    ['te=cl', 'Content-Length']) {
    my ($q, $name) = @$case;
    my $n = 200000;
    my $r = http_ex("GET /v10?len=$n&$q HTTP/1.0\r\nHost: localhost\r\n\r\n",
        port => $p0);
    my ($st, $h, $b) = parse_response($r->{raw});
    is($st, 200, "$name response to HTTP/1.0: 200");
    ok(!exists $h->{'transfer-encoding'},
        "$name response to HTTP/1.0: no Transfer-Encoding");
    is(sha($b // ''), bsha($n), "$name response to HTTP/1.0: SHA-256");
    ok($r->{closed} && !$r->{timeout}, "$name response to HTTP/1.0: closed");
    if ($q eq 'te=cl') {
        is($h->{'content-length'}, $n, 'Content-Length response to HTTP/1.0: kept');
    }
}

{
    my $r = http_ex("GET /v10ka?len=3000&te=chunked HTTP/1.0\r\nHost: localhost\r\n"
        . "Connection: keep-alive\r\n\r\n", port => $p0, timeout => 3);
    my ($st, $h, $b) = parse_response($r->{raw});
    is($st, 200, 'chunked response to a keep-alive HTTP/1.0 client: 200');
    ok(!exists $h->{'transfer-encoding'}, 'keep-alive HTTP/1.0 client: no Transfer-Encoding');
    is(sha($b // ''), bsha(3000), 'keep-alive HTTP/1.0 client: body, close-delimited');
    ok($r->{closed} && !$r->{timeout}, 'keep-alive HTTP/1.0 client: closed after the body');
    like($h->{connection} // 'close', qr/^close$/i, 'keep-alive HTTP/1.0 client: not "keep-alive"');

    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('GET', '/v10ka2?len=30', _proto => 'HTTP/1.0', Connection => 'keep-alive');
    ($st, $h, $b) = $c->read_response;
    is("$st " . ($h->{'content-length'} // '-'), '200 30',
        'Content-Length response to a keep-alive HTTP/1.0 client: 200, length kept');
    $c->request('GET', '/v10ka3?len=31', _proto => 'HTTP/1.0', Connection => 'keep-alive');
    ($st, $h, $b) = $c->read_response;
    is("$st " . length($b // ''), '200 31', 'keep-alive HTTP/1.0 client: second request answered');
    $c->close;
}

for my $kind (qw(no_reason lower nospace tabs chunked_uc hex_uc empty_val)) {
    my ($st, $h, $b) = parse_response(http_get($p0, "/weird?weird=$kind"));
    is(($st // '-') . ' ' . ($b // ''), '200 ok', "unusual but valid upstream head ($kind): passed");
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/v10up?len=1000&ver=1.0'));
    is($st, 200, 'HTTP/1.0 upstream response: 200');
    is(sha($b // ''), bsha(1000), 'HTTP/1.0 upstream response: body');
    ($st, $h, $b) = parse_response(http_get($p0, '/v10up?len=1000&ver=1.0&te=close'));
    is(sha($b // ''), bsha(1000), 'HTTP/1.0 upstream close-delimited: body');
}

{
    my $start = time;
    my ($st, $h, $b) = parse_response(http_get($p0, '/slow?len=5000&slow=1000:0.25'));
    is($st, 200, 'slow body (reads 0.25 s apart, read timeout 3 s): 200');
    is(sha($b // ''), bsha(5000), 'slow body: SHA-256');
}

# ---- uploads ---------------------------------------------------------------------------

for my $n (0, 1, 100 * 1024, 5 * 1048576, $big) {
    my $s = human($n);
    my $to = $n > 10485760 ? 25 : 8;
    my $body = SluiceTest::Upstream::body_bytes($n, 5);
    my $start = time;
    my ($st, $h, $b) = parse_response(http("POST /up?n=$n HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\nContent-Length: $n\r\n\r\n"
        . $body, port => $p0, timeout => $to));
    is($st, 200, "upload $s (Content-Length): 200");
    my $e = echo($b);
    is($e->{body_len}, $n, "upload $s: length at the upstream");
    is($e->{body_sha}, bsha($n, 5), "upload $s: SHA-256 at the upstream");
    is(hdr($e, 'Content-Length'), $n, "upload $s: Content-Length sent");
    diag(sprintf 'upload %s took %.2fs', $s, time - $start) if $n > 10485760;
}

sub chunked {
    my ($data, @sizes) = @_;
    my $out = '';
    my $i = 0;
    while (length $data) {
        my $piece = substr($data, 0, $sizes[$i++ % @sizes], '');
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

for my $n (0, 1, 100 * 1024, 5 * 1048576) {
    my $s = human($n);
    my $body = SluiceTest::Upstream::body_bytes($n, 6);
    my ($st, $h, $b) = parse_response(http("POST /upc HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n" . chunked($body, 1, 10, 30000, 100000),
        port => $p0, timeout => 8));
    is($st, 200, "chunked upload $s: 200");
    my $e = echo($b);
    is($e->{chunked}, 0, "chunked upload $s: not chunked upstream");
    is(hdr($e, 'Transfer-Encoding'), undef, "chunked upload $s: no Transfer-Encoding");
    is(hdr($e, 'Content-Length'), $n, "chunked upload $s: Content-Length sent");
    is($e->{body_sha}, bsha($n, 6), "chunked upload $s: SHA-256 at the upstream");
}

{
    my $body = SluiceTest::Upstream::body_bytes(50000, 8);
    my $r = http_ex(["POST /trickle HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Length: 50000\r\n\r\n",
        substr($body, 0, 20000), substr($body, 20000, 20000),
        substr($body, 40000)], port => $p0, delay => 0.2);
    my ($st, $h, $b) = parse_response($r->{raw});
    my $e = echo($b);
    is("$st " . ($e->{body_sha} // '-'), '200 ' . bsha(50000, 8),
        'upload sent in pieces: whole body at the upstream');
}

{
    my $n0 = $u->nrequests;
    my ($st, $h, $b) = parse_response(http("POST /small/x HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n"
        . ('z' x 2000), port => $p0));
    is($st, 413, 'body above client_max_body_size: 413');
    is($u->nrequests, $n0, 'body above client_max_body_size: not sent upstream');
}

{
    # bodies that never arrive whole are not sent upstream at all
    my $n0 = $u->nrequests;
    my $r = http_ex(["POST /cbt/stall HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 100000\r\n\r\n" . ('s' x 50000)], port => $p0, timeout => 5);
    my ($st) = parse_response($r->{raw});
    is($st, 408, 'client stalls in the body (client_body_timeout 1s): 408');
    ok($r->{elapsed} < 3.5, sprintf('client stalls: answered in %.2fs', $r->{elapsed}));

    $r = http_ex("POST /badchunk HTTP/1.1\r\nHost: localhost\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n",
        port => $p0);
    ($st) = parse_response($r->{raw});
    is($st, 400, 'invalid chunked request body: 400');

    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST /gone HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n"
        . ('g' x 100000));
    Time::HiRes::sleep(0.3);
    $c->close;
    Time::HiRes::sleep(0.3);
    is($u->nrequests, $n0, 'stalled, invalid or abandoned bodies: nothing sent upstream');
}

# ---- Expect: 100-continue ----------------------------------------------------------------

{
    my $n = 30000;
    my $body = SluiceTest::Upstream::body_bytes($n, 9);
    my $n0 = $u->nrequests;
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST /expect HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: $n\r\nExpect: 100-continue\r\n\r\n");
    my ($st, $h) = $c->read_response(timeout => 3);
    is($st, 100, 'Expect: 100-continue: 100 first');
    is($u->nrequests, $n0, 'Expect: 100-continue: nothing sent upstream before the body');
    $c->send($body);
    my $b;
    ($st, $h, $b) = $c->read_response;
    is($st, 200, 'Expect: 100-continue: then 200');
    my $e = echo($b);
    is($e->{body_sha}, bsha($n, 9), 'Expect: 100-continue: body at the upstream');
    is(hdr($e, 'Expect'), undef, 'Expect: not forwarded');
    $c->close;
}

{
    my $n0 = $u->nrequests;
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST /small/expect HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    my ($st) = $c->read_response(timeout => 3);
    is($st, 413, 'Expect: 100-continue with a body above client_max_body_size: 413, no 100');
    $c->close;

    my $r = http("POST /expect10 HTTP/1.0\r\nHost: localhost\r\n"
        . "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", port => $p0);
    my @resp = parse_responses($r);
    is(join(' ', map { $_->[0] } @resp), '200',
        'Expect: 100-continue from an HTTP/1.0 client: no 100, just the answer');
    is(echo($resp[0][2])->{body_sha}, sha('hello'), 'HTTP/1.0 with Expect: body forwarded');
    is($u->nrequests, $n0 + 1, 'the 413 was not sent upstream');
}

# ---- no body: HEAD, 204, 304; interim responses -----------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('HEAD', '/h?len=5000&te=chunked');
    my ($st, $h, $b) = $c->read_response(head => 1);
    is($st, 200, 'HEAD of a chunked resource: 200');
    $c->get('/next?len=7');
    ($st, $h, $b) = $c->read_response;
    is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(7),
        'HEAD of a chunked resource: no body, next response intact');

    $c->request('HEAD', '/h?len=10&attach=GARBAGE');
    ($st, $h, $b) = $c->read_response(head => 1);
    is($st, 200, 'HEAD answered with a body by the upstream: 200');
    $c->get('/next2?len=8');
    ($st, $h, $b) = $c->read_response;
    is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(8),
        'HEAD answered with a body: the body does not reach the client');

    for my $q ('status=204', 'status=304', 'status=304&len=5000',
        'status=204&attach=GARBAGE', 'status=304&attach=GARBAGE') {
        my $start = time;
        $c->get("/nb?$q");
        ($st, $h, $b) = $c->read_response(timeout => 3);
        my ($code) = $q =~ /status=(\d+)/;
        is($st, $code, "$q: status");
        ok(time - $start < 2, "$q: answered at once");
        ok(!exists $h->{'transfer-encoding'}, "$q: no Transfer-Encoding");
        if ($q eq 'status=304&len=5000') {
            # RFC 9110 8.6: a 304 may carry the 200's Content-Length or none
            like($h->{'content-length'} // 5000, qr/^5000$/,
                "$q: Content-Length kept or dropped, never wrong");
        }
        $c->get("/after-nb?len=9&seed=2");
        ($st, $h, $b) = $c->read_response;
        is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(9, 2),
            "$q: no body bytes before the next response");
        last if $c->eof;
    }
    is($c->pending, '', '204/304: nothing extra on the connection');
    $c->close;
}

for my $q ('interim=100', 'interim=103', 'interim=100,103,103') {
    my $raw = http_get($p0, "/int?$q&len=20");
    my @r = parse_responses($raw);
    is(scalar @r, 1, "$q: one response");
    is($r[0][0], 200, "$q: the final one");
    is($r[0][2], SluiceTest::Upstream::body_bytes(20), "$q: its body");
    unlike($raw, qr{HTTP/1\.1 1\d\d}, "$q: interim response swallowed");
}

{
    my $r = http("POST /trailers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n"
        . "X-Trailer: t\r\n\r\n", port => $p0);
    my ($st, $h, $b) = parse_response($r);
    my $e = echo($b);
    is("$st " . ($e->{body_sha} // '-'), '200 ' . sha('hello'),
        'chunked upload with extension and trailer: body at the upstream');
    is(hdr($e, 'X-Trailer'), undef, 'chunked upload: trailer not turned into a header');
}

# ---- pipelining ----------------------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 8);
    $c->send("GET /pipe1?len=10&seed=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "POST /pipe2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
        . "GET /pipe3?len=100000&te=chunked HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "HEAD /pipe4?len=50 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /pipe5?status=404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    my @r;
    for my $i (1 .. 5) {
        push @r, [$c->read_response(head => $i == 4)];
    }
    is($r[0][0] . ' ' . ($r[0][2] // ''), '200 ' . SluiceTest::Upstream::body_bytes(10, 1),
        'pipelined 1: GET');
    my $e = echo($r[1][2]);
    is(($r[1][0] // '-') . " $e->{target} $e->{body_sha}", '200 /pipe2 ' . sha('hello'),
        'pipelined 2: POST with body');
    is(($r[2][0] // '-') . ' ' . sha($r[2][2] // ''), '200 ' . bsha(100000),
        'pipelined 3: chunked');
    is(($r[3][0] // '-') . ' ' . ($r[3][1]{'content-length'} // '-'), '200 50',
        'pipelined 4: HEAD');
    is($r[4][0], 404, 'pipelined 5: 404');
    is(echo($r[4][2])->{target}, '/pipe5?status=404', 'pipelined 5: its body');
    ok($c->wait_closed(3), 'pipelined: closed after Connection: close');
    is($c->pending, '', 'pipelined: nothing extra');
}

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
    $c->send("GET /pslow?delay=0.5&len=4&seed=4 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /ret HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /pfast?len=5&seed=5 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    my @r = map { [$c->read_response] } 1 .. 3;
    is(join(' | ', map { ($_->[0] // '-') . ' ' . ($_->[2] // '') } @r),
        join(' | ', '200 ' . SluiceTest::Upstream::body_bytes(4, 4), '200 ret',
            '200 ' . SluiceTest::Upstream::body_bytes(5, 5)),
        'pipelined slow proxied, return, fast proxied: answered in order');
    $c->close;
}

$t->stop;
$u->stop;

done_testing;
