#!/usr/bin/perl

# Timeouts: client_header_timeout (whole head, trickling does not extend
# it), client_body_timeout, keepalive_timeout.
#
# send_timeout is tested in h06_flood.t: without the proxy there is no
# large response, so a client pipelining thousands of requests without
# reading fills the socket buffers instead.

use strict;
use warnings;

use Test::More;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    client_header_timeout 1s;
    client_body_timeout 1s;
    keepalive_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        keepalive_timeout 0;
        location / { return 200 "nokeepalive"; }
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        keepalive_timeout 1s;
        client_header_timeout 3s;
        location / { return 200 "ka-then-header"; }
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        client_header_timeout 2s;
        keepalive_timeout 3s;
        location / { return 200 "slow"; }
        location /fastbody {
            client_body_timeout 500ms;
            return 200 "fastbody";
        }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);

# Sends "parts" one every "gap" seconds while reading; returns (raw,
# closed, seconds from the first byte to the close).
sub trickle {
    my ($port, $first, $gap, $byte, $max) = @_;
    my $c = SluiceTest::Client->new(port => $port) or return ('', 0, 0);
    my $t0 = time;
    $c->send($first);
    my $sent = 0;
    while (time - $t0 < $max) {
        last if $c->wait_closed($gap);
        $c->send($byte) unless $c->eof;
        $sent++;
    }
    my $closed = $c->eof;
    my $dt = time - $t0;
    my $raw = $c->pending;
    $c->close;
    return ($raw, $closed, $dt, $sent);
}

# ---- client_header_timeout -----------------------------------------------------------

{
    my ($raw, $closed, $dt, $sent) = trickle($p0,
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Trickle: ", 0.3, 'a', 8);
    my ($st, $h) = parse_response($raw);
    ok($closed, sprintf('header timeout despite trickling: closed after '
        . '%.2fs (%d bytes trickled)', $dt, $sent));
    cmp_ok($dt, '<', 3.5, 'header timeout: within a generous bound of 1s');
    cmp_ok($dt, '>', 0.7, 'header timeout: not before 1s');
    is($st, 408, 'header timeout: 408');
    like($h->{connection} // '', qr/close/i, 'header timeout: Connection: close');
}

{
    # Only the request line, then nothing.
    my $c = SluiceTest::Client->new(port => $p0);
    my $t0 = time;
    $c->send("GET / HTTP/1.1\r\n");
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    my ($st) = parse_response($c->pending);
    ok($closed && $dt < 3.5, sprintf('partial head: closed after %.2fs', $dt));
    is($st, 408, 'partial head: 408');
    $c->close;
}

{
    # A connection that never sends a byte is closed too.
    my $c = SluiceTest::Client->new(port => $p0);
    my $t0 = time;
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    ok($closed && $dt < 3.5, sprintf('silent connection closed after %.2fs', $dt));
    $c->close;
}

{
    # Per-server timeout: 2s on port 2.
    my ($raw, $closed, $dt) = trickle($t->port(2),
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Trickle: ", 0.3, 'a', 8);
    my ($st) = parse_response($raw);
    ok($closed && $dt > 1.6 && $dt < 5,
        sprintf('server-level client_header_timeout 2s: closed after %.2fs', $dt));
    is($st, 408, 'server-level client_header_timeout: 408');
}

# ---- client_body_timeout -------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc");
    my $t0 = time;
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    my ($st, $h) = parse_response($c->pending);
    ok($closed, sprintf('body timeout: closed after %.2fs', $dt));
    cmp_ok($dt, '<', 3.5, 'body timeout: within a generous bound of 1s');
    cmp_ok($dt, '>', 0.7, 'body timeout: not before 1s');
    is($st, 408, 'body timeout: 408');
    $c->close;
}

{
    # The body timeout is between two reads: a body trickled faster than
    # the timeout completes.
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n"
        . "Connection: close\r\n\r\n");
    for my $b (split //, 'abcdef') {
        sleep 0.4;
        $c->send($b);
    }
    my ($st, $h, $body) = $c->read_response(timeout => 5);
    is($st, 200, 'body trickled within client_body_timeout between reads: 200');
    $c->close;
}

{
    # chunked body stalls
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
        . "\r\n\r\n5\r\nab");
    my $t0 = time;
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    my ($st) = parse_response($c->pending);
    ok($closed && $dt < 3.5, sprintf('chunked body timeout: closed after %.2fs', $dt));
    is($st, 408, 'chunked body timeout: 408');
    $c->close;
}

{
    # location-level client_body_timeout 500ms on port 2
    my $c = SluiceTest::Client->new(port => $t->port(2));
    $c->send("POST /fastbody HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10"
        . "\r\n\r\nabc");
    my $t0 = time;
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    my ($st) = parse_response($c->pending);
    ok($closed && $dt < 2.5, sprintf('location-level client_body_timeout '
        . '500ms: closed after %.2fs', $dt));
    is($st, 408, 'location-level client_body_timeout: 408');
    $c->close;
}

# ---- keepalive_timeout -----------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st, $h) = $c->read_response;
    is($st, 200, 'keepalive: request answered');
    my $t0 = time;
    my $closed = $c->wait_closed(5);
    my $dt = time - $t0;
    ok($closed, sprintf('idle keepalive connection closed after %.2fs', $dt));
    cmp_ok($dt, '<', 3.5, 'keepalive_timeout: within a generous bound of 1s');
    cmp_ok($dt, '>', 0.7, 'keepalive_timeout: not before 1s');
    is($c->pending, '', 'keepalive_timeout: closed without a response');
    $c->close;
}

{
    # A request before the timeout keeps the connection: keepalive_timeout
    # restarts after each response.
    my $c = SluiceTest::Client->new(port => $p0);
    my $ok = 0;
    for (1 .. 4) {
        $c->get('/');
        my ($st) = $c->read_response;
        $ok++ if defined $st && $st == 200;
        sleep 0.6;
    }
    is($ok, 4, 'keepalive_timeout restarts after each request (2.4s total)');
    $c->close;
}

{
    # server-level keepalive_timeout 3s on port 2 (after a 0.6s wait the
    # connection still works; it closes within ~3s)
    my $c = SluiceTest::Client->new(port => $t->port(2));
    $c->get('/');
    my ($st) = $c->read_response;
    my $t0 = time;
    sleep 1.5;
    $c->get('/');
    my ($st2) = $c->read_response;
    is($st2, 200, 'server-level keepalive_timeout 3s: still open after 1.5s');
    $t0 = time;
    my $closed = $c->wait_closed(6);
    my $dt = time - $t0;
    ok($closed && $dt > 2.3 && $dt < 5.5,
        sprintf('server-level keepalive_timeout 3s: closed after %.2fs', $dt));
    $c->close;
}

{
    # keepalive_timeout 0 disables keepalive
    my $c = SluiceTest::Client->new(port => $t->port(1));
    $c->get('/');
    my ($st, $h, $body) = $c->read_response;
    is("$st $body", '200 nokeepalive', 'keepalive_timeout 0: answered');
    like($h->{connection} // '', qr/close/i, 'keepalive_timeout 0: Connection: close');
    ok($c->wait_closed(2), 'keepalive_timeout 0: closed after the response');
    $c->close;
}

{
    # Once the next request's first byte arrives, keepalive_timeout no
    # longer applies; client_header_timeout (3s) does.
    my $c = SluiceTest::Client->new(port => $t->port(3));
    $c->get('/');
    my ($st) = $c->read_response;
    sleep 0.5;
    $c->send("GET / HT");
    sleep 1.2;
    $c->send("TP/1.1\r\nHost: localhost\r\n\r\n");
    my ($st2, undef, $body) = $c->read_response;
    is(($st2 // 'none') . ' ' . ($body // ''), '200 ka-then-header',
        'a request begun before keepalive_timeout may take client_header_timeout');
    $c->close;
}

# ---- the server still works ------------------------------------------------------------

{
    my ($st, undef, $body) = parse_response(http_get($p0, '/'));
    is("$st $body", '200 ok', 'served normally after all that');
}

$t->stop;

done_testing;
