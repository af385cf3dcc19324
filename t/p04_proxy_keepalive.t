#!/usr/bin/perl

# Keepalive to upstreams: pooled connections reused (keepalive N), one
# connection per request without it, keepalive_requests and
# keepalive_timeout of the pool, connections the upstream closed meanwhile
# retried transparently, connections whose response was not read
# completely or that said "Connection: close" not reused.

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
    proxy_read_timeout 5s;

    upstream ka    { server 127.0.0.1:%%PORT_5%%; keepalive 4; }
    upstream noka  { server 127.0.0.1:%%PORT_6%%; }
    upstream kareq { server 127.0.0.1:%%PORT_7%%; keepalive 4; keepalive_requests 3; }
    upstream katmo { server 127.0.0.1:%%PORT_8%%; keepalive 4; keepalive_timeout 1s; }
    upstream ka1   { server 127.0.0.1:%%PORT_9%%; keepalive 1; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /ka/ { proxy_pass http://ka; }
        location /noka/ { proxy_pass http://noka; }
        location /kareq/ { proxy_pass http://kareq; }
        location /katmo/ { proxy_pass http://katmo; }
        location /ka1/ { proxy_pass http://ka1; }
    }
}
EOF

my $ka = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'ka');
my $noka = SluiceTest::Upstream->new($t, port => $t->port(6), name => 'noka');
my $kareq = SluiceTest::Upstream->new($t, port => $t->port(7), name => 'kareq');
my $katmo = SluiceTest::Upstream->new($t, port => $t->port(8), name => 'katmo');
my $ka1 = SluiceTest::Upstream->new($t, port => $t->port(9), name => 'ka1');
$_->start for $ka, $noka, $kareq, $katmo, $ka1;
$t->start;

my $p0 = $t->port(0);

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }
sub hdr { SluiceTest::Upstream::header(@_) }

sub get {
    my ($path, %h) = @_;
    my ($st, $h, $b) = parse_response(http_get($p0, $path, %h));
    return ($st // 'none', $h // {}, $b // '');
}

# Sequential GETs; returns "200 x n" style summary of statuses and whether
# each echo named the right target.
sub run {
    my ($prefix, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my ($st, $h, $b) = get("$prefix$i");
        $ok++ if $st eq '200' && (echo($b)->{target} // '') eq "$prefix$i";
    }
    return $ok;
}

# ---- reuse -------------------------------------------------------------------------------------

{
    is(run('/ka/seq', 20), 20, 'keepalive 4: 20 sequential requests answered');
    my $acc = $ka->accepts;
    ok($acc >= 1 && $acc <= 2, "keepalive 4: 20 requests over $acc upstream connection(s)");
    my @r = $ka->requests;
    my %conns = map { $_->{conn} => 1 } @r;
    is(scalar(keys %conns), $acc, 'keepalive: requests recorded on those connections');
    is(scalar(grep { defined hdr($_, 'Connection') } @r), 0,
        'keepalive: no Connection header sent upstream (client sent "close")');
    is(scalar(grep { ($_->{version} // '') eq 'HTTP/1.1' } @r), 20,
        'keepalive: HTTP/1.1 to the upstream');
}

{
    my $acc = $ka->accepts;
    my $c = SluiceTest::Client->new(port => $p0);
    my $ok = 0;
    for my $i (1 .. 20) {
        $c->get("/ka/one$i");
        my ($st, $h, $b) = $c->read_response;
        $ok++ if ($st // '') eq '200' && (echo($b)->{target} // '') eq "/ka/one$i";
    }
    $c->close;
    is($ok, 20, 'keepalive client and upstream: 20 requests answered');
    is($ka->accepts - $acc, 0, 'keepalive client and upstream: no new upstream connection');
}

{
    is(run('/noka/seq', 20), 20, 'no keepalive: 20 requests answered');
    is($noka->accepts, 20, 'no keepalive: one upstream connection per request');
    my @r = $noka->requests;
    is(scalar(grep { lc(hdr($_, 'Connection') // '') eq 'close' } @r), 20,
        'no keepalive: "Connection: close" sent upstream');
}

{
    is(run('/kareq/r', 9), 9, 'keepalive_requests 3: 9 requests answered');
    my $acc = $kareq->accepts;
    my $maxseq = 0;
    for my $r ($kareq->requests) { $maxseq = $r->{seq} if $r->{seq} > $maxseq }
    ok($maxseq <= 3, "keepalive_requests 3: at most 3 requests per connection ($maxseq)");
    ok($acc >= 3 && $acc <= 4, "keepalive_requests 3: 9 requests over $acc connections");
}

{
    my ($st) = get('/katmo/1');
    my ($st2) = get('/katmo/2');
    is("$st $st2", '200 200', 'pool keepalive_timeout: requests answered');
    is($katmo->accepts, 1, 'pool keepalive_timeout: reused while fresh');
    sleep 1.6;
    ($st) = get('/katmo/3');
    is($st, 200, 'pool keepalive_timeout: request after the timeout answered');
    is($katmo->accepts, 2, 'pool keepalive_timeout 1s: idle connection closed, a new one used');
}

# ---- responses that keep the connection reusable -------------------------------------------------

{
    my ($st) = get('/ka/warm');
    my $acc = $ka->accepts;
    my @st;
    for my $q ('len=5000&te=chunked', 'status=204', 'status=304',
        'status=304&len=100', 'interim=103&len=10', 'status=404', 'len=0') {
        my ($s, $h, $b) = get("/ka/reuse?$q");
        push @st, $s;
    }
    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('HEAD', '/ka/head?len=5000');
    my ($s) = $c->read_response(head => 1);
    push @st, $s // '-';
    $c->close;
    is("@st", '200 204 304 304 200 404 200 200',
        'chunked, 204, 304, 1xx, 404, empty, HEAD: answered');
    is($ka->accepts - $acc, 0, 'chunked, 204, 304, 1xx, 404, empty, HEAD: connection reused');
}

# ---- connections not to reuse -----------------------------------------------------------------------

{
    my ($st) = get('/ka/warm2');
    my $acc = $ka->accepts;
    my ($s1, $h1, $b1) = get('/ka/cc?conn=close&len=10');
    my ($s2, $h2, $b2) = get('/ka/after-cc');
    is("$s1 $s2", '200 200', 'upstream "Connection: close": both requests answered');
    is(echo($b2)->{target}, '/ka/after-cc', 'upstream "Connection: close": right answer next');
    is($ka->accepts - $acc, 1, 'upstream "Connection: close": a new connection next');

    $acc = $ka->accepts;
    ($s1) = get('/ka/v10?ver=1.0&len=10');
    ($s2, $h2, $b2) = get('/ka/after-v10');
    is("$s1 $s2 " . (echo($b2)->{target} // '-'), '200 200 /ka/after-v10',
        'HTTP/1.0 upstream answer (closes): next request answered');
}

{
    # The client goes away in the middle of a large response: the upstream
    # connection has unread bytes and must not go back to the pool.
    my ($st) = get('/ka/warm3');
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/ka/big?len=20000000');
    my $got = '';
    my $deadline = time + 3;
    my $sel = IO::Select->new($c->sock);
    while (length $got < 100000 && time < $deadline) {
        next unless $sel->can_read(0.2);
        my $n = sysread($c->sock, my $d, 65536);
        last unless $n;
        $got .= $d;
    }
    $c->close;
    ok(length $got >= 100000, 'large response started');
    sleep 0.3;
    my @ok;
    for my $i (1 .. 4) {
        my ($s, $h, $b) = get("/ka/after-abort$i?len=50&seed=$i");
        push @ok, $s eq '200' && $b eq SluiceTest::Upstream::body_bytes(50, $i) ? 1 : 0;
    }
    is("@ok", '1 1 1 1', 'client gone mid-response: later requests get their own answers');
}

# ---- closed by the upstream while pooled ---------------------------------------------------------------------

# (keepalive 1 and sequential requests: one pooled connection, the one the
# upstream was told to close)
{
    my ($st) = get('/ka1/linger?linger=0.2');
    is($st, 200, 'upstream closes the idle connection 0.2 s later: 200');
    sleep 0.6;
    my ($s, $h, $b) = get('/ka1/after-linger');
    is("$s " . (echo($b)->{target} // '-'), '200 /ka1/after-linger',
        'connection closed by the upstream while pooled: next request answered');
}

{
    # the same for a POST: the close is known before anything is sent
    my ($st) = get('/ka1/linger2?linger=0.2');
    sleep 0.6;
    my ($s, $h, $b) = parse_response(http("POST /ka1/post-after-linger HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        port => $p0));
    my $e = echo($b);
    is(($s // '-') . ' ' . ($e->{target} // '-') . ' ' . ($e->{body_len} // '-'),
        '200 /ka1/post-after-linger 5',
        'POST after the upstream closed the pooled connection: answered');
}

for my $i (1 .. 3) {
    my ($st) = get("/ka1/then$i?then=close");
    $ka1->clear;
    my ($s, $h, $b) = get("/ka1/retry$i");
    is("$s " . (echo($b)->{target} // '-'), "200 /ka1/retry$i",
        "pooled connection closed when reused ($i): retried transparently");
    my @r = $ka1->requests;
    is(join(' ', map { $_->{dropped} ? 'dropped' : 'ok' } @r), 'dropped ok',
        "pooled connection closed when reused ($i): sent twice, on a fresh connection");
}

for my $i (1 .. 3) {
    my ($st) = get("/ka1/thenr$i?then=reset");
    $ka1->clear;
    my ($s, $h, $b) = get("/ka1/retryr$i");
    is("$s " . (echo($b)->{target} // '-'), "200 /ka1/retryr$i",
        "pooled connection reset when reused ($i): retried transparently");
    my @r = $ka1->requests;
    is(join(' ', map { $_->{dropped} ? 'dropped' : 'ok' } @r), 'dropped ok',
        "pooled connection reset when reused ($i): sent twice, on a fresh connection");
}

{
    # After a complete 204 the upstream sends junk and closes, 10 ms later,
    # while the connection is idle in the pool: it must not be used again.
    # (A request written before the junk comes would read it as its answer:
    # no proxy can tell, so the client waits 50 ms here.)
    my @got;
    for my $i (1 .. 3) {
        my $c = SluiceTest::Client->new(port => $p0);
        $c->get('/ka1/junk?status=204&attach=JUNK&attach_delay=0.01');
        my ($st) = $c->read_response;
        sleep 0.05;
        $c->get("/ka1/after-junk$i");
        my ($s2, $h2, $b2) = $c->read_response;
        push @got, ($st // '-') . ' ' . ($s2 // '-') . ' ' . (echo($b2)->{target} // '-');
        $c->close;
    }
    is(join(' | ', @got), join(' | ', map { "204 200 /ka1/after-junk$_" } 1 .. 3),
        'junk and a close on an idle pooled connection: it is dropped, the next GET answered');
}


{
    # a response followed by bytes the upstream should not have sent: a
    # pooled connection holding them would answer the next request with them
    my $evil = 'HTTP/1.1%20200%20OK%0D%0AContent-Length:%205%0D%0AX-Evil:%201%0D%0A%0D%0AEVIL!';
    my ($st, $h, $b) = get("/ka1/extra?len=5&extra=$evil");
    is("$st " . $b, '200 ' . SluiceTest::Upstream::body_bytes(5),
        'response followed by extra bytes: the response itself passed');
    for my $i (1 .. 2) {
        ($st, $h, $b) = get("/ka1/after-extra$i");
        is("$st " . (echo($b)->{target} // $b), "200 /ka1/after-extra$i",
            "extra bytes after a response never answer a later request ($i)");
    }
    for my $q ("status=204&extra=$evil", "status=304&extra=$evil", "len=10&extra=$evil",
        "len=10&te=chunked&extra=$evil", "status=204&extra=$evil&extra_delay=0.05",
        "len=10&extra=$evil&extra_delay=0.05") {
        for my $m ('GET', 'HEAD') {
            next if $m eq 'HEAD' && $q =~ /status|chunked|delay/;
            my $r = http("$m /ka1/x?$q HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                port => $p0);
            ($st) = parse_response($r, head => $m eq 'HEAD');
            my ($code) = $q =~ /status=(\d+)/;
            is($st, $code // 200, "$m $q: answered");
            # with a delay the bytes come while the connection is idle in
            # the pool: wait for them (a request sent before they come
            # cannot be told from a real answer by any proxy)
            sleep 0.3 if $q =~ /delay/;
            ($st, $h, $b) = get("/ka1/after-x");
            is("$st " . (echo($b)->{target} // $b), "200 /ka1/after-x",
                "$m $q: the bytes after it never answer a later request");
        }
    }
}

# ---- concurrency and the pool size ---------------------------------------------------------------------

{
    my @c = map { SluiceTest::Client->new(port => $p0) } 1 .. 6;
    $c[$_]->get("/ka/conc$_?delay=0.5") for 0 .. 5;
    my $ok = 0;
    for my $i (0 .. 5) {
        my ($st, $h, $b) = $c[$i]->read_response;
        $ok++ if ($st // '') eq '200' && (echo($b)->{target} // '') eq "/ka/conc$i?delay=0.5";
    }
    $_->close for @c;
    is($ok, 6, '6 concurrent requests answered');
    my $acc = $ka->accepts;
    is(run('/ka/post-conc', 12), 12, 'after concurrency: sequential requests answered');
    is($ka->accepts - $acc, 0, 'after concurrency: pooled connections reused');
    my @r = $ka->requests;
    my %conns = map { $_->{conn} => 1 } @r[-12 .. -1];
    ok(keys(%conns) <= 4, 'keepalive 4: at most 4 pooled connections used');
}

{
    # 20 keepalive clients at once, 5 requests each, bodies checked
    my @c = map { SluiceTest::Client->new(port => $p0, timeout => 10) } 1 .. 20;
    my $ok = 0;
    for my $round (1 .. 5) {
        for my $i (0 .. $#c) {
            my $n = 1000 * (($i * 7 + $round * 13) % 50) + $i;
            $c[$i]->get("/ka/stress?len=$n&seed=$i" . ($round % 2 ? '&te=chunked' : ''));
        }
        for my $i (0 .. $#c) {
            my $n = 1000 * (($i * 7 + $round * 13) % 50) + $i;
            my ($st, $h, $b) = $c[$i]->read_response;
            $ok++ if ($st // '') eq '200'
                && SluiceTest::Upstream::sha($b // '') eq SluiceTest::Upstream::body_sha($n, $i);
        }
    }
    $_->close for @c;
    is($ok, 100, '20 concurrent keepalive clients x 5 requests: every body right');
}

$t->stop;
$_->stop for $ka, $noka, $kareq, $katmo, $ka1;

done_testing;
