#!/usr/bin/perl

# Strict request parsing: every malformed or ambiguous request gets the
# exact status, "Connection: close", and the connection is closed; a new
# connection is served normally afterwards.

use strict;
use warnings;

use Test::More;
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    client_max_body_size 100;
    large_client_header_buffers 4 1k;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);

my $H = "Host: localhost\r\n";
my $many = join '', map { "X-H-$_: v\r\n" } 1 .. 101;
my $hundred = join '', map { "X-H-$_: v\r\n" } 1 .. 98;    # + Host, Connection
my $big = join '', map { "X-Big-$_: " . ('b' x 900) . "\r\n" } 1 .. 6;
my $chunks200 = ("64\r\n" . ('a' x 100) . "\r\n") x 2 . "0\r\n\r\n";

my @cases = (
    # name, request, status
    ['Content-Length with Transfer-Encoding',
        "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ['Transfer-Encoding with Content-Length',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400],
    ['two differing Content-Length',
        "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400],
    ['Content-Length list with differing values',
        "POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!", 400],
    ['Content-Length not a number',
        "POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n", 400],
    ['negative Content-Length',
        "POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n", 400],
    ['Content-Length with sign',
        "POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello", 400],
    # An unknown coding before chunked is 501; a coding list that does not
    # end in chunked leaves the length undeterminable: 400 (RFC 9112 6.3).
    ['Transfer-Encoding gzip, chunked (unknown coding)',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501],
    ['Transfer-Encoding gzip (not chunked at all)',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n", 400],
    ['Transfer-Encoding in HTTP/1.0',
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ['Transfer-Encoding chunked, gzip (chunked not last)',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n", 400],
    ['bare LF line ends',
        "GET / HTTP/1.1\nHost: localhost\n\n", 400],
    ['bare LF inside the head',
        "GET / HTTP/1.1\r\n${H}X-A: a\nX-B: b\r\n\r\n", 400],
    ['bare CR in a field value',
        "GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n", 400],
    ['bare CR in the request line',
        "GET /\r HTTP/1.1\r\n${H}\r\n", 400],
    ['NUL in a field value',
        "GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n", 400],
    ['NUL in a field name',
        "GET / HTTP/1.1\r\n${H}X-\0A: b\r\n\r\n", 400],
    ['obs-fold',
        "GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n", 400],
    ['obs-fold with tab',
        "GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n", 400],
    ['space before colon',
        "GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n", 400],
    ['space before colon in Host',
        "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400],
    ['empty field name',
        "GET / HTTP/1.1\r\n${H}: b\r\n\r\n", 400],
    ['field without colon',
        "GET / HTTP/1.1\r\n${H}X-A b\r\n\r\n", 400],
    ['missing Host in HTTP/1.1',
        "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400],
    ['two Host fields',
        "GET / HTTP/1.1\r\n${H}Host: other\r\n\r\n", 400],
    ['HTTP/2.0',
        "GET / HTTP/2.0\r\n${H}\r\n", 505],
    ['HTTP/3.0',
        "GET / HTTP/3.0\r\n${H}\r\n", 505],
    ['junk version HTTP/1.x',
        "GET / HTTP/1.x\r\n${H}\r\n", 400],
    ['junk protocol name',
        "GET / HTTX/1.1\r\n${H}\r\n", 400],
    ['junk after the version',
        "GET / HTTP/1.1junk\r\n${H}\r\n", 400],
    ['space inside the target',
        "GET /a b HTTP/1.1\r\n${H}\r\n", 400],
    ['control character in the target',
        "GET /a\x01b HTTP/1.1\r\n${H}\r\n", 400],
    ['DEL in the target',
        "GET /a\x7fb HTTP/1.1\r\n${H}\r\n", 400],
    ['request line longer than large_client_header_buffers',
        "GET /" . ('a' x 1500) . " HTTP/1.1\r\n${H}\r\n", 414],
    ['header field longer than large_client_header_buffers',
        "GET / HTTP/1.1\r\n${H}X-Long: " . ('b' x 1500) . "\r\n\r\n", 431],
    ['more than 100 header fields',
        "GET / HTTP/1.1\r\n$H$many\r\n", 431],
    ['head larger than N*SIZE',
        "GET / HTTP/1.1\r\n$H$big\r\n", 431],
    ['body over client_max_body_size by Content-Length',
        "POST / HTTP/1.1\r\n${H}Content-Length: 1000\r\n\r\n" . ('a' x 50), 413],
    ['chunked body over client_max_body_size',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n$chunks200", 413],
    ['bad chunk size',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400],
    ['chunk size with too many digits',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n" . ('0' x 15) . ('1' x 5) . "\r\na\r\n0\r\n\r\n", 400],
    ['chunk data not followed by CRLF',
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY\r\n0\r\n\r\n", 400],
    ['unknown method',
        "FOO / HTTP/1.1\r\n${H}\r\n", 501],
    ['method with a non-token character',
        "G\@T / HTTP/1.1\r\n${H}\r\n", 400],
    ['garbage request line',
        "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400],
);

for my $c (@cases) {
    my ($name, $req, $want) = @$c;
    my $r = http_ex($req, port => $p0, timeout => 5);
    my ($st, $h, $body) = parse_response($r->{raw});
    is($st, $want, "$name: $want")
        or diag('got: ' . (length $r->{raw} ? substr($r->{raw}, 0, 200)
            : '(nothing' . ($r->{timeout} ? ', timed out' : '')
              . ($r->{reset} ? ', reset' : '') . ')'));
    like($h->{connection} // '', qr/close/i, "$name: Connection: close");
    ok($r->{closed} && !$r->{timeout}, "$name: connection closed");
    my ($st2, undef, $b2) = parse_response(http_get($p0, '/'));
    is(($st2 // 'none') . ' ' . ($b2 // ''), '200 ok',
        "$name: next connection served");
}

# ---- accepted edge cases ----------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n"
        . "\r\nhello");
    my ($st, $h, $body) = $c->read_response;
    is($st, 200, 'identical duplicate Content-Length accepted');
    $c->send("GET / HTTP/1.1\r\n${H}\r\n");
    ($st) = $c->read_response;
    is($st, 200, 'identical duplicate Content-Length: connection reusable');
    $c->close;
}

{
    my $r = http_ex("GET / HTTP/1.1\r\n$H${hundred}Connection: close\r\n\r\n",
        port => $p0);
    my ($st) = parse_response($r->{raw});
    is($st, 200, '100 header fields accepted');
}

{
    my $r = http_ex("GET / HTTP/1.1\r\n${H}X-Long: " . ('b' x 900)
        . "\r\nConnection: close\r\n\r\n", port => $p0);
    my ($st) = parse_response($r->{raw});
    is($st, 200, 'field line longer than client_header_buffer_size but '
        . 'within large_client_header_buffers accepted');
}

{
    my $r = http_ex("GET / HTTP/1.1\r\n${H}X-Empty:\r\nX-Tab:\tv\t\r\n"
        . "Connection: close\r\n\r\n", port => $p0);
    my ($st) = parse_response($r->{raw});
    is($st, 200, 'empty field value and tab OWS accepted');
}

{
    my $r = http_ex("POST / HTTP/1.1\r\n${H}Content-Length: 100\r\n"
        . "Connection: close\r\n\r\n" . ('a' x 100), port => $p0);
    my ($st) = parse_response($r->{raw});
    is($st, 200, 'body of exactly client_max_body_size accepted');
}

{
    my $r = http_ex("get / HTTP/1.1\r\n${H}Connection: close\r\n\r\n",
        port => $p0);
    my ($st) = parse_response($r->{raw});
    is($st, 501, 'methods are case-sensitive: "get" unknown');
}

# ---- an error on a keepalive connection after a good request -------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n");
    my ($s1) = $c->read_response;
    my ($s2, $h2) = $c->read_response;
    is($s1, 200, 'keepalive: good request answered');
    is($s2, 400, 'keepalive: then the bad one gets 400');
    ok($c->wait_closed(5), 'keepalive: closed after the error');
    $c->close;
}

# ---- requests sent byte by byte get the same verdicts -------------------------------

for my $c (['two Host fields byte by byte',
            "GET / HTTP/1.1\r\n${H}Host: other\r\n\r\n", 400],
           ['good request byte by byte',
            "GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n", 200]) {
    my ($name, $req, $want) = @$c;
    my $r = http_ex([split //, $req], port => $p0, delay => 0.005,
        timeout => 8);
    my ($st) = parse_response($r->{raw});
    is($st, $want, "$name: $want");
    ok($r->{closed} && !$r->{timeout}, "$name: closed");
}

$t->stop;

done_testing;
