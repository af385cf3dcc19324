#!/usr/bin/perl

# Proxy failures: connect refused, timeouts, malformed and cut-off upstream
# responses, resets; retries (idempotent or not), proxy_next_upstream and
# its tries, max_fails and fail_timeout, backup and down servers, all
# servers down, max_conns; error and access log lines.
#
# Not tested: proxy_connect_timeout (no reliable way to make a loopback
# connect() hang without root and firewall rules).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new(need_ctl => 0);

# ports: 0 sluice; 1, 2 nobody listens; 4 starts late; 5 good; 6 good2;
# 7 closes after reading each request; 8 always 503; 9 always 3 s late.
$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
events {
    worker_connections 256;
}
http {
    log_format ups '$request_uri $status "$upstream_addr" "$upstream_status" "$upstream_response_time"';
    access_log %%TESTDIR%%/access.log ups;
    proxy_read_timeout 1s;
    proxy_send_timeout 2s;

    upstream refused   { server 127.0.0.1:%%PORT_1%% max_fails=0; }
    upstream alldown   { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_2%%; }
    upstream retry     { server 127.0.0.1:%%PORT_1%% max_fails=0; server 127.0.0.1:%%PORT_5%%; }
    upstream postsent  { server 127.0.0.1:%%PORT_7%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream getsent   { server 127.0.0.1:%%PORT_7%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream postrefd  { server 127.0.0.1:%%PORT_1%% weight=5; server 127.0.0.1:%%PORT_5%%; }
    upstream nextoff   { server 127.0.0.1:%%PORT_1%% weight=5; server 127.0.0.1:%%PORT_5%%; }
    upstream tries1    { server 127.0.0.1:%%PORT_1%% weight=5; server 127.0.0.1:%%PORT_5%%; }
    upstream n503      { server 127.0.0.1:%%PORT_8%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream p503      { server 127.0.0.1:%%PORT_8%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream tmo       { server 127.0.0.1:%%PORT_9%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream mf        { server 127.0.0.1:%%PORT_4%% max_fails=1 fail_timeout=2s;
                         server 127.0.0.1:%%PORT_5%%; }
    upstream bk        { server 127.0.0.1:%%PORT_5%%; server 127.0.0.1:%%PORT_6%% backup; }
    upstream bkdead    { server 127.0.0.1:%%PORT_1%%; server 127.0.0.1:%%PORT_6%% backup; }
    upstream down      { server 127.0.0.1:%%PORT_5%% down; server 127.0.0.1:%%PORT_6%%; }
    upstream mc        { server 127.0.0.1:%%PORT_5%% max_conns=1; }
    upstream badg      { server 127.0.0.1:%%PORT_5%% max_fails=0; }
    upstream nr        { server 127.0.0.1:%%PORT_3%% max_fails=0; }
    upstream n404      { server 127.0.0.1:%%PORT_5%%; server 127.0.0.1:%%PORT_6%%; }
    upstream nonidem   { server 127.0.0.1:%%PORT_7%% weight=5; server 127.0.0.1:%%PORT_6%%; }
    upstream three     { server 127.0.0.1:%%PORT_1%% weight=5 max_fails=0;
                         server 127.0.0.1:%%PORT_2%% weight=5 max_fails=0;
                         server 127.0.0.1:%%PORT_5%%; }
    upstream three0    { server 127.0.0.1:%%PORT_1%% weight=5 max_fails=0;
                         server 127.0.0.1:%%PORT_2%% weight=5 max_fails=0;
                         server 127.0.0.1:%%PORT_5%%; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /refused/ { proxy_pass http://refused; }
        location /refaddr/ { proxy_pass http://127.0.0.1:%%PORT_2%%; }
        location /alldown/ { proxy_pass http://alldown; }
        location /retry/ { proxy_pass http://retry; }
        location /postsent/ { proxy_pass http://postsent; }
        location /getsent/ { proxy_pass http://getsent; }
        location /postrefd/ { proxy_pass http://postrefd; }
        location /nextoff/ {
            proxy_next_upstream off;
            proxy_pass http://nextoff;
        }
        location /tries1/ {
            proxy_next_upstream_tries 1;
            proxy_pass http://tries1;
        }
        location /n503/ {
            proxy_next_upstream error timeout http_503;
            proxy_pass http://n503;
        }
        location /p503/ { proxy_pass http://p503; }
        location /n404/ {
            proxy_next_upstream error http_404;
            proxy_pass http://n404;
        }
        location /nonidem/ {
            proxy_next_upstream error timeout non_idempotent;
            proxy_pass http://nonidem;
        }
        location /tries2/ {
            proxy_next_upstream_tries 2;
            proxy_pass http://three;
        }
        location /tries0/ {
            proxy_next_upstream_tries 0;
            proxy_pass http://three0;
        }
        location /tmo/ { proxy_pass http://tmo; }
        location /timeout/ { proxy_pass http://badg; }
        location /mf/ { proxy_pass http://mf; }
        location /bk/ { proxy_pass http://bk; }
        location /bkdead/ { proxy_pass http://bkdead; }
        location /down/ { proxy_pass http://down; }
        location /mc/ {
            proxy_read_timeout 5s;
            proxy_pass http://mc;
        }
        location /bad/ { proxy_pass http://badg; }
        location /bigbuf/ {
            proxy_buffer_size 16k;
            proxy_pass http://badg;
        }
        location /sendtmo/ {
            client_max_body_size 0;
            proxy_send_timeout 1s;
            proxy_pass http://nr;
        }
    }
}
EOF

my $good = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'good');
my $good2 = SluiceTest::Upstream->new($t, port => $t->port(6), name => 'good2');
my $closer = SluiceTest::Upstream->new($t, port => $t->port(7), name => 'closer',
    force => { action => 'close' });
my $u503 = SluiceTest::Upstream->new($t, port => $t->port(8), name => 'u503',
    force => { status => 503 });
my $slow = SluiceTest::Upstream->new($t, port => $t->port(9), name => 'slow',
    force => { delay => 3 });
my $late = SluiceTest::Upstream->new($t, port => $t->port(4), name => 'late');
my $noread = SluiceTest::Upstream->new($t, port => $t->port(3), name => 'noread',
    force => { noread => 4 });
$_->start for $good, $good2, $closer, $u503, $slow, $noread;
$t->start;

my $p0 = $t->port(0);
my $d1 = '127.0.0.1:' . $t->port(1);
my $d2 = '127.0.0.1:' . $t->port(2);
my $ga = $good->addr;

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }
sub sha { SluiceTest::Upstream::sha(@_) }

sub get {
    my ($path, %h) = @_;
    my $start = time;
    my ($st, $h, $b) = parse_response(http_get($p0, $path, %h));
    return ($st // 'none', $h // {}, $b // '', time - $start);
}

sub post {
    my ($path, $body) = @_;
    my ($st, $h, $b) = parse_response(http("POST $path HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body", port => $p0));
    return ($st // 'none', $h // {}, $b // '');
}

sub errlog { $t->error_log }

# ---- refused ---------------------------------------------------------------------------

{
    my ($st, $h, $b) = get('/refused/x');
    is($st, 502, 'connect refused: 502');
    like($b, qr/502/, 'connect refused: error page body');
    like($h->{'content-type'} // '', qr{^text/html}, 'connect refused: text/html error page');
    my $p1 = $t->port(1);
    ok(wait_for(sub { errlog() =~ /\[error\] .*connect\(\) .*111: Connection refused.*127\.0\.0\.1:$p1/
        || errlog() =~ /\[error\] .*connect\(\) .*127\.0\.0\.1:$p1.*111: Connection refused/ }, 3),
        'connect refused: [error] connect() ... 111: Connection refused ... upstream address logged');
    like(errlog(), qr/connect\(\) failed .*Connection refused.*upstream: "127\.0\.0\.1:$p1" in "refused", client: 127\.0\.0\.1, request: "GET \/refused\/x HTTP\/1\.1"/,
        'connect refused: the log line has upstream, group, client and request (spec wording)');

    ($st) = get('/refaddr/y');
    is($st, 502, 'connect refused (plain ADDR:PORT): 502');
    ($st) = get('/refused/again');
    is($st, 502, 'connect refused again (max_fails=0): 502');

    my $start = time;
    ($st) = get('/alldown/1');
    is($st, 502, 'all servers refuse: 502');
    ($st) = get('/alldown/2');
    like($st, qr/^50[23]$/, 'all servers marked failed: 502 or 503');
    ok(time - $start < 3, 'all servers down: answered at once');
}

# ---- timeouts ------------------------------------------------------------------------------

{
    my ($st, $h, $b, $el) = get('/timeout/a?delay=3');
    is($st, 504, 'read timeout (1 s, upstream 3 s late): 504');
    ok($el > 0.8 && $el < 2.8, sprintf('read timeout: after %.2fs (1 s expected)', $el));
    like(errlog(), qr/\[error\] .*timed out.*upstream/, 'read timeout: logged');

    ($st, $h, $b, $el) = get('/tmo/b');
    my $e = echo($b);
    is("$st " . ($e->{server} // '-'), '200 good2', 'timeout on the first server: GET retried on the next');
    is($slow->wait_requests(1, 1) ? 1 : 0, 1, 'timeout: the slow server got the request');

    # head sent, then the body stalls past proxy_read_timeout
    my $r = http_ex("GET /timeout/c?len=100000&stall=50000:3 HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", port => $p0, timeout => 6);
    ($st, $h, $b) = parse_response($r->{raw});
    ok($r->{closed} && !$r->{timeout} && $r->{elapsed} < 4,
        sprintf('timeout mid-body: connection closed (%.2fs)', $r->{elapsed}));
    ok(($st // '') eq '504' || (($st // '') eq '200' && length($b // '') < 100000),
        'timeout mid-body: 504 or an incomplete 200, never a complete one');

    $r = http_ex("GET /timeout/d?len=100000&stall=50000:3&te=chunked HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", port => $p0, timeout => 6);
    ok($r->{closed} && !$r->{timeout}, 'timeout mid-body, chunked: connection closed');
    unlike($r->{raw}, qr/\r\n0\r\n\r\n\z/, 'timeout mid-body, chunked: no last chunk sent');
}

{
    # the upstream reads the head, then nothing for 4 s: sending the
    # 40 MB body stalls
    my $n = 40 * 1048576;
    my $body = 'x' x $n;
    my $r = http_ex("POST /sendtmo/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Length: $n\r\n\r\n$body", port => $p0, timeout => 10);
    my ($st) = parse_response($r->{raw});
    is($st, 504, 'send timeout (1 s, upstream not reading): 504');
    ok($r->{elapsed} < 4, sprintf('send timeout: answered in %.2fs', $r->{elapsed}));
    like(errlog(), qr/\[error\] .*timed out while sending request to upstream/,
        'send timeout: logged');
}

# ---- proxy_buffer_size ----

{
    my ($st, $h, $b) = get('/bad/hb?bighdr=6000&len=3');
    is("$st " . length($h->{'x-big'} // ''), '200 6000', '6000-byte response field, default proxy_buffer_size: passed');
    ($st, $h, $b) = get('/bad/hb?bighdr=12000&len=3');
    is($st, 502, '12000-byte response field, proxy_buffer_size 8k: 502');
    ($st, $h, $b) = get('/bigbuf/hb?bighdr=12000&len=3');
    is("$st " . length($h->{'x-big'} // ''), '200 12000',
        '12000-byte response field, proxy_buffer_size 16k: passed');
}

# ---- client gone while waiting for the upstream ----

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/bad/abort?delay=1&len=10');
    sleep 0.2;
    $c->close;
    my $c2 = SluiceTest::Client->new(port => $p0);
    $c2->send("POST /bad/abort2?delay=1 HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 100000\r\n\r\n" . ('y' x 50000));
    sleep 0.2;
    $c2->close;
    sleep 1.2;
    my ($st, $h, $b) = get('/bad/after-abort?len=6');
    is("$st $b", '200 ' . SluiceTest::Upstream::body_bytes(6),
        'client gone while waiting or sending: later requests answered');
}

# ---- malformed, cut-off and reset answers ---------------------------------------------------

for my $kind (qw(bare_lf bare_lf_hdr cl_te two_cl space_colon bad_status
    no_status obs_fold huge_header bad_cl nul cl_overflow cl_negative te_unknown)) {
    my ($st, $h, $b) = get("/bad/x?bad=$kind");
    is($st, 502, "malformed upstream response ($kind): 502");
    ok(!exists $h->{'x-upstream'}, "malformed upstream response ($kind): none of it passed");
}
like(errlog(), qr/\[error\] .*upstream sent (?:invalid|too big) header/,
    'malformed response: logged');
like(errlog(), qr/\[error\] .*upstream sent too big header/, 'huge header: "too big header" logged');

for my $case (['action=reset', 'reset without an answer'],
    ['action=close', 'closed without an answer'],
    ['action=partial', 'closed inside the status line']) {
    my ($q, $name) = @$case;
    my ($st, $h, $b) = get("/bad/y?$q");
    is($st, 502, "upstream $name: 502");
}

{
    my ($st, $h, $b) = get('/bad/z?len=10');
    is("$st $b", '200 ' . SluiceTest::Upstream::body_bytes(10),
        'the same server answers again (max_fails=0)');

    my $r = http_ex("GET /bad/t?len=100000&action=truncate HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", port => $p0);
    ($st, $h, $b) = parse_response($r->{raw});
    ok($r->{closed} && !$r->{timeout}, 'body cut short by the upstream: client connection closed');
    ok(($st // '') eq '502' || (($st // '') eq '200' && length($b // '') < 100000),
        'body cut short: 502 or an incomplete 200');

    $r = http_ex("GET /bad/t?len=100000&action=truncate&te=chunked HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", port => $p0);
    unlike($r->{raw}, qr/\r\n0\r\n\r\n\z/, 'chunked body cut short: no last chunk sent');

    for my $kind (qw(chunk_hex chunk_huge chunk_crlf)) {
        my $c = SluiceTest::Client->new(port => $p0);
        $c->get("/bad/ch?bad=$kind");
        my $closed = $c->wait_closed(3);
        my $raw = $c->pending;
        my ($s) = parse_response($raw);
        ok($closed, "broken chunked body ($kind): client connection closed");
        ok($raw eq '' || ($s // '') eq '502' || (($s // '') eq '200'
            && $raw !~ /\r\n0\r\n\r\n\z/ && $raw !~ /abc/),
            "broken chunked body ($kind): 502, an incomplete 200 or nothing");
        $c->close;
    }
    ($st, $h, $b) = get('/bad/z2?len=10');
    is("$st $b", '200 ' . SluiceTest::Upstream::body_bytes(10),
        'broken chunked bodies: the worker goes on');
}

# ---- retries -------------------------------------------------------------------------------------

{
    my @st;
    for my $i (1 .. 10) {
        my ($st, $h, $b) = get("/retry/$i");
        push @st, $st . '/' . (echo($b)->{server} // '-');
    }
    is(join(' ', @st), join(' ', ('200/good') x 10),
        'one of two servers refuses: every GET succeeds');
}

{
    $closer->clear;
    $good2->clear;
    my ($st, $h, $b) = post('/postsent/p', 'payload');
    is($st, 502, 'POST sent, upstream closed without answer: 502');
    is($closer->wait_requests(1, 1) ? $closer->nrequests : 0, 1, 'POST sent: the first server got it once');
    is($good2->nrequests, 0, 'POST sent: not retried on the next server');

    $closer->clear;
    ($st, $h, $b) = get('/getsent/g');
    is("$st " . (echo($b)->{server} // '-'), '200 good2',
        'GET sent, upstream closed without answer: retried, 200');
    is($closer->nrequests, 1, 'GET sent: the first server got it');
}

{
    my $body = SluiceTest::Upstream::body_bytes(40000, 4);
    my ($st, $h, $b) = post('/postrefd/p', $body);
    my $e = echo($b);
    is("$st " . ($e->{server} // '-'), '200 good', 'POST, first server refuses: retried, 200');
    is($e->{body_sha}, sha($body), 'POST retried: whole body at the next server');
}

{
    my ($st) = get('/nextoff/x');
    is($st, 502, 'proxy_next_upstream off, first server refuses: 502');
    ($st) = get('/tries1/x');
    is($st, 502, 'proxy_next_upstream_tries 1, first server refuses: 502');
}

{
    $u503->clear;
    my ($st, $h, $b) = get('/n503/x');
    is("$st " . (echo($b)->{server} // '-'), '200 good2',
        'proxy_next_upstream http_503: 503 retried on the next server');
    is($u503->nrequests, 1, 'http_503: the first server answered 503 once');

    ($st, $h, $b) = get('/p503/x');
    is("$st " . ($h->{'x-upstream'} // '-'), '503 u503',
        'default proxy_next_upstream: upstream 503 passed to the client');
    is(echo($b)->{target}, '/p503/x', 'default proxy_next_upstream: with its body');
}

{
    $good->clear;
    $good2->clear;
    my ($st, $h, $b) = get('/n404/x?status=404');
    is("$st " . (echo($b)->{target} // '-'), '404 /n404/x?status=404',
        'proxy_next_upstream http_404, both servers 404: the last 404 passed');
    is($good->nrequests + $good2->nrequests, 2, 'http_404: both servers asked');

    $closer->clear;
    $good2->clear;
    my $body = 'non-idempotent body';
    ($st, $h, $b) = post('/nonidem/p', $body);
    my $e = echo($b);
    is("$st " . ($e->{server} // '-') . ' ' . ($e->{body_sha} // '-'), "200 good2 " . sha($body),
        'proxy_next_upstream non_idempotent: POST retried after being sent');
    is($closer->nrequests, 1, 'non_idempotent: the first server got it');

    my @r;
    for my $i (1 .. 2) {
        ($st, $h, $b) = get("/tries2/$i");
        push @r, $st;
    }
    ($st, $h, $b) = get('/tries0/x');
    is("$st " . (echo($b)->{server} // '-'), '200 good',
        'proxy_next_upstream_tries 0, two dead servers first: the third answers');
    ok(grep({ $_ eq '502' } @r), 'proxy_next_upstream_tries 2, two dead servers first: 502 ('
        . "@r)");
}

# ---- max_fails, fail_timeout ------------------------------------------------------------------------

{
    my ($st1) = get('/mf/1');
    my ($st2) = get('/mf/2');
    is("$st1 $st2", '200 200', 'max_fails: dead first server, requests succeed');
    $late->start;
    my $t0 = time;
    my @s;
    for my $i (3 .. 8) {
        my ($st, $h, $b) = get("/mf/$i");
        push @s, $st;
    }
    my $el = time - $t0;
    is("@s", '200 200 200 200 200 200', 'max_fails: later requests succeed');
    is($late->nrequests, 0, sprintf('max_fails=1: the failed server is skipped within fail_timeout (%.2fs)', $el))
        if $el < 1.5;
    sleep 2.3 - $el if $el < 2.3;
    my $hit = 0;
    for my $i (1 .. 10) {
        get("/mf/after$i");
        if ($late->nrequests) { $hit = 1; last; }
    }
    ok($hit, 'fail_timeout over: the server is tried again');
}

# ---- backup, down --------------------------------------------------------------------------------------

{
    my %n;
    for my $i (1 .. 6) {
        my ($st, $h, $b) = get("/bk/$i");
        $n{"$st/" . (echo($b)->{server} // '-')}++;
    }
    is(join(',', map { "$_=$n{$_}" } sort keys %n), '200/good=6',
        'backup: not used while the primary works');

    %n = ();
    for my $i (1 .. 4) {
        my ($st, $h, $b) = get("/bkdead/$i");
        $n{"$st/" . (echo($b)->{server} // '-')}++;
    }
    is(join(',', map { "$_=$n{$_}" } sort keys %n), '200/good2=4',
        'backup: used when the primary is down');

    %n = ();
    for my $i (1 .. 4) {
        my ($st, $h, $b) = get("/down/$i");
        $n{"$st/" . (echo($b)->{server} // '-')}++;
    }
    is(join(',', map { "$_=$n{$_}" } sort keys %n), '200/good2=4',
        'down: the server marked down is never used');
}

# ---- max_conns --------------------------------------------------------------------------------------------

{
    $good->clear;
    my $a = SluiceTest::Client->new(port => $p0, timeout => 5);
    $a->get('/mc/a?delay=1.5', Connection => 'close');
    ok($good->wait_requests(1, 3), 'max_conns: first request at the upstream');
    my $start = time;
    my ($st, $h, $b) = get('/mc/b');
    is($st, 503, 'max_conns=1: a concurrent request gets 503');
    ok(time - $start < 1.2, 'max_conns=1: 503 at once');
    my ($sta, $ha, $ba) = $a->read_response;
    is(($sta // '-') . ' ' . (echo($ba)->{target} // '-'), '200 /mc/a?delay=1.5',
        'max_conns=1: the first request completes');
    ($st, $h, $b) = get('/mc/c');
    is($st, 200, 'max_conns=1: free again afterwards');
    is($good->nrequests, 2, 'max_conns: the refused request never reached the upstream');
}

$t->stop;
$_->stop for $good, $good2, $closer, $u503, $slow, $late, $noread;

# ---- access log -------------------------------------------------------------------------------------------

{
    my $log = $t->read_file('access.log') // '';
    like($log, qr{^/refused/x 502 "\Q$d1\E" "502" "\d+\.\d{3}"$}m,
        'access log: refused: $upstream_addr, $upstream_status 502');
    like($log, qr{^/retry/\d+ 200 "\Q$d1\E, \Q$ga\E" "502, 200" "\d+\.\d{3}, \d+\.\d{3}"$}m,
        'access log: retried request: values per try, comma-joined');
    like($log, qr{^/timeout/a\?delay=3 504 "\Q$ga\E" "504" "[01]\.\d{3}"$}m,
        'access log: timeout: 504 and the response time');
    like($log, qr{^/bk/1 200 "\Q$ga\E" "200" "\d+\.\d{3}"$}m,
        'access log: success');
    like($log, qr{^/n404/x\?status=404 404 "127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+" "404, 404" "\d+\.\d{3}, \d+\.\d{3}"$}m,
        'access log: two tries with 404');
    like($log, qr{^/tries0/x 200 "\Q$d1\E, \Q$d2\E, \Q$ga\E" "502, 502, 200" }m,
        'access log: three tries');
}

done_testing;
