#!/usr/bin/perl

# Basics: return, headers, HEAD, server_name selection, location
# precedence, keepalive, pipelining, HTTP/1.0, request bodies, access log.

use strict;
use warnings;

use Test::More;
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
events {
    worker_connections 256;
}
http {
    log_format custom '$request_method $uri "$args" $status $body_bytes_sent "$http_x_test" "$arg_a" $host $server_port';
    access_log %%TESTDIR%%/access.log;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;

        location = /exact { return 200 "exact"; }
        location /exact { return 200 "prefix-exact"; }
        location / { return 200 "root"; }
        location ^~ /static/ { return 200 "static"; }
        location /images/ { return 200 "images"; }
        location /images/deep/ { return 200 "images-deep"; }
        location ~ \.php$ { return 200 "php"; }
        location ~* \.jpg$ { return 200 "jpg"; }
        location ~ /order/ { return 200 "order1"; }
        location ~ /order/b { return 200 "order2"; }
        location /nohandler { }

        location /echo { return 200 "$request_method $request_uri"; }
        location = /cookie { return 200 "sid=$cookie_sid ua=$http_user_agent xy=$http_x_y_z"; }
        location /var {
            return 200 "uri=$uri args=$args a=$arg_a host=$host method=$request_method hdr=$http_x_test";
        }
        location = /r301 { return 301 http://example.com/new; }
        location = /r302 { return 302 http://example.com/found; }
        location = /r307 { return 307 http://example.com/temp; }
        location = /rurl { return http://example.com/url; }
        location = /r301v { return 301 https://$host$request_uri; }
        location = /t404 { return 404; }
        location = /t403 { return 403 "forbidden text"; }
        location /custom {
            access_log %%TESTDIR%%/custom.log custom;
            return 200 "custom";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name first.test;
        location / { return 200 "first"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% default_server;
        server_name default.test;
        location / { return 200 "default"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name exact.example.com;
        location / { return 200 "exact"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name *.example.com;
        location / { return 200 "lead-wild"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name *.sub.example.com;
        location / { return 200 "lead-wild-longer"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name www.example.*;
        location / { return 200 "trail-wild"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name ~^re(\d+)\.test$;
        location / { return 200 "regex"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name ~^re1;
        location / { return 200 "regex2"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name .dot.test;
        location / { return 200 "dot"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name alpha.test beta.test;
        location / { return 200 "multi"; }
    }

    log_format vars '$server_protocol $connection_requests $request_id $remote_addr $server_addr $server_port $scheme $request_length $status $request_method';
    server {
        listen 127.0.0.1:%%PORT_3%%;
        keepalive_requests 3;
        access_log %%TESTDIR%%/vars.log vars;
        location / { return 200 "kr"; }
    }

    log_format esc '"$http_user_agent"';
    log_format jesc escape=json '{"ua":"$http_user_agent","miss":"$http_x_missing"}';
    log_format nesc escape=none '$http_user_agent';
    server {
        listen 127.0.0.1:%%PORT_4%%;
        access_log %%TESTDIR%%/esc.log esc;
        access_log %%TESTDIR%%/jesc.log jesc;
        access_log %%TESTDIR%%/nesc.log nesc;
        location / { return 200 "esc"; }
    }

    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name p2-first;
        server_tokens off;
        return 200 "server-level";
    }
    server {
        listen 127.0.0.1:%%PORT_2%%;
        server_name p2-second;
        location / { return 200 "p2-second"; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);
my $p1 = $t->port(1);
my $p2 = $t->port(2);

sub get {
    my ($port, $path, %h) = @_;
    return parse_response(http_get($port, $path, %h));
}

sub body_of {
    my ($port, $path, %h) = @_;
    my ($st, $hd, $body) = get($port, $path, %h);
    return defined $st ? "$st $body" : 'no response';
}

# ---- return ------------------------------------------------------------------

{
    my ($st, $h, $body) = get($p0, '/var/x?a=1&b=2', 'X-Test' => 'hello');
    is($st, 200, 'return 200 with variables: status');
    is($body, 'uri=/var/x args=a=1&b=2 a=1 host=localhost method=GET '
        . 'hdr=hello', 'return text with variables');
    like($h->{'content-type'} // '', qr{^text/plain}, 'Content-Type text/plain');
    is($h->{'content-length'}, length $body, 'Content-Length matches body');
    like($h->{server} // '', qr{^sluice/\d+\.\d+\.\d+$}, 'Server header');
    like($h->{date} // '',
        qr/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
        'Date header in IMF-fixdate');
    is($h->{':version'}, 'HTTP/1.1', 'response is HTTP/1.1');
    like($h->{connection} // '', qr/close/i, 'Connection: close echoed');
}

{
    my ($st, $h, $body) = get($p0, '/var/y?a=%20z', Host => 'LocalHost:' . $p0,
        'X-Test' => 'v');
    is($body, 'uri=/var/y args=a=%20z a=%20z host=localhost method=GET hdr=v',
        '$host lowercased without port, $args raw');
}

for my $c ([301, '/r301', 'http://example.com/new'],
           [302, '/r302', 'http://example.com/found'],
           [307, '/r307', 'http://example.com/temp'],
           [302, '/rurl', 'http://example.com/url'],
           [301, '/r301v?q=1', 'https://localhost/r301v?q=1']) {
    my ($code, $path, $loc) = @$c;
    my ($st, $h) = get($p0, $path);
    is($st, $code, "return $path: status $code");
    is($h->{location}, $loc, "return $path: Location");
}

{
    my ($st, $h, $body) = get($p0, '/t404');
    is($st, 404, 'return 404: status');
    like($h->{'content-type'} // '', qr{^text/html}, 'return 404: text/html error page');
    ok(length $body, 'return 404: has a body');
    is($h->{'content-length'}, length $body, 'return 404: Content-Length');

    ($st, $h, $body) = get($p0, '/t403');
    is($st, 403, 'return 403 text: status');
    is($body, 'forbidden text', 'return 403 text: body');
}

{
    my ($st, $h, $body) = get($p0, '/nohandler');
    is($st, 404, 'location without handler: 404');
    like($h->{'content-type'} // '', qr{^text/html}, 'location without handler: text/html');
    ($st) = get($p0, '/nohandler/deeper');
    is($st, 404, 'location without handler, longer uri: 404');
}

{
    my ($st, $h, $body) = get($p2, '/anything', Host => 'p2-first');
    is("$st $body", '200 server-level', 'return at server level');
    is($h->{server}, 'sluice', 'server_tokens off: Server: sluice');
}

{
    my ($st, $h, $body) = get($p0, '/cookie', Cookie => 'a=1; sid=xyz; b=2',
        'User-Agent' => 'UA/1', 'X-Y-Z' => 'dash');
    is($body, 'sid=xyz ua=UA/1 xy=dash', '$cookie_NAME and $http_NAME (dashes as underscores)');
}

# ---- HEAD ----------------------------------------------------------------------

{
    my $r = http_ex("HEAD /var/h?a=1 HTTP/1.1\r\nHost: localhost\r\n"
        . "X-Test: t\r\nConnection: close\r\n\r\n", port => $p0);
    my ($st, $h, $body) = parse_response($r->{raw}, head => 1);
    is($st, 200, 'HEAD: 200');
    my $full = 'uri=/var/h args=a=1 a=1 host=localhost method=HEAD hdr=t';
    is($h->{'content-length'}, length $full, 'HEAD: Content-Length of the GET body');
    my ($rest) = $r->{raw} =~ /\r\n\r\n(.*)$/s;
    is($rest, '', 'HEAD: no body bytes');
    ok($r->{closed}, 'HEAD with Connection: close: closed');

    # on a keepalive connection the next response must parse cleanly
    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('HEAD', '/var/h2', 'X-Test' => 'a');
    $c->request('GET', '/echo/g2');
    my ($s1, $h1, $b1) = $c->read_response(head => 1);
    my ($s2, $h2, $b2) = $c->read_response;
    is($s1, 200, 'HEAD then GET on one connection: HEAD 200');
    is($b1, '', 'HEAD then GET: HEAD without body');
    is($b2 // '', 'GET /echo/g2',
        'HEAD then GET: GET body intact');
    $c->close;
}

# ---- server_name selection ---------------------------------------------------------

for my $c (['exact.example.com', 'exact', 'exact name'],
           ['EXACT.Example.COM', 'exact', 'exact name, case-insensitive'],
           ["exact.example.com:$p1", 'exact', 'Host with port'],
           ['foo.example.com', 'lead-wild', 'leading wildcard'],
           ['a.b.example.com', 'lead-wild', 'leading wildcard, two labels'],
           ['x.sub.example.com', 'lead-wild-longer', 'longest leading wildcard'],
           ['www.example.org', 'trail-wild', 'trailing wildcard'],
           ['www.example.com', 'lead-wild', 'leading wildcard beats trailing'],
           ['re12.test', 'regex', 'regex name'],
           ['re1x', 'regex2', 'regex, first match in config order'],
           ['beta.test', 'multi', 'second of several names'],
           ['dot.test', 'dot', '.name matches the name itself'],
           ['a.b.dot.test', 'dot', '.name matches subdomains'],
           ['first.test', 'first', 'name of the first server'],
           ['unknown.test', 'default', 'unknown host: default_server'],
           ['example.com', 'default', '*.example.com does not match example.com']) {
    my ($host, $want, $name) = @$c;
    is(body_of($p1, '/', Host => $host), "200 $want", "server_name: $name");
}

{
    my $r = http("GET / HTTP/1.0\r\n\r\n", port => $p1);
    my ($st, $h, $body) = parse_response($r);
    is("$st $body", '200 default', 'HTTP/1.0 without Host: default_server');
    is(body_of($p2, '/', Host => 'nobody.test'), '200 server-level',
        'no default_server: first server on the address');
    is(body_of($p2, '/', Host => 'p2-second'), '200 p2-second',
        'second server on another address');
}

# ---- location precedence --------------------------------------------------------------

for my $c (['/exact', 'exact', '= exact match'],
           ['/exactly', 'prefix-exact', 'prefix when = does not match'],
           ['/exact/', 'prefix-exact', 'prefix with trailing part'],
           ['/', 'root', 'root prefix'],
           ['/other', 'root', 'fallback to /'],
           ['/static/a.php', 'static', '^~ stops regex search'],
           ['/static/a.jpg', 'static', '^~ stops case-insensitive regex too'],
           ['/images/a.txt', 'images', 'prefix without regex match'],
           ['/images/deep/x', 'images-deep', 'longest prefix'],
           ['/images/a.php', 'php', 'regex beats prefix'],
           ['/images/deep/a.php', 'php', 'regex beats longest prefix'],
           ['/a.php', 'php', '~ regex'],
           ['/a.PHP', 'root', '~ is case-sensitive'],
           ['/a.jpg', 'jpg', '~* regex'],
           ['/a.JpG', 'jpg', '~* is case-insensitive'],
           ['/order/a', 'order1', 'regex'],
           ['/order/b', 'order1', 'regexes in config order'],
           ['/exact?x=1', 'exact', '= match ignores the query string'],
           ['/a.php?x=1', 'php', 'regex ignores the query string'],
           ['/%65xact', 'exact', 'percent-decoded before matching'],
           ['/foo/../exact', 'exact', '".." resolved before matching'],
           ['/./exact', 'exact', '"." removed before matching'],
           ['//exact', 'exact', 'slashes merged before matching'],
           ['/exact%3Fx', 'prefix-exact', 'decoded "?" stays in the path'],
           ['/static%2Fa.php', 'static', 'decoded "/" in the path'],
           ['http://localhost/exact', 'exact', 'absolute-form target']) {
    my ($path, $want, $name) = @$c;
    is(body_of($p0, $path), "200 $want", "location: $name ($path)");
}

for my $path ('/../exact', '/%2e%2e/exact', '/a/../../exact') {
    my ($st) = get($p0, $path);
    is($st, 400, "path above the root rejected ($path)");
}

# ---- keepalive, pipelining ----------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    my $ok = 0;
    for my $i (1 .. 3) {
        $c->get("/var/k?a=$i", 'X-Test' => 'k');
        my ($st, $h, $body) = $c->read_response;
        $ok++ if defined $st && $st == 200
            && $body eq "uri=/var/k args=a=$i a=$i host=localhost method=GET hdr=k"
            && ($h->{connection} // 'keep-alive') !~ /close/i;
    }
    is($ok, 3, 'keepalive: three requests on one connection');
    ok(!$c->wait_closed(0.5), 'keepalive: connection stays open');
    $c->close;
}

{
    my $c = SluiceTest::Client->new(port => $p0);
    my $req = '';
    for my $i (1 .. 3) {
        $req .= "GET /var/p?a=$i HTTP/1.1\r\nHost: localhost\r\nX-Test: p\r\n"
            . ($i == 3 ? "Connection: close\r\n" : '') . "\r\n";
    }
    $c->send($req);
    my @got;
    for my $i (1 .. 3) {
        my ($st, $h, $body) = $c->read_response;
        push @got, defined $st ? "$st $body" : 'none';
    }
    is_deeply(\@got, [map { "200 uri=/var/p args=a=$_ a=$_ host=localhost "
        . "method=GET hdr=p" } 1 .. 3], 'pipelining: three responses in order');
    ok($c->wait_closed(3), 'pipelining: closed after Connection: close');
    is($c->pending, '', 'pipelining: nothing after the third response');
    $c->close;
}

{
    # pipelined requests split at odd places
    my $req = "GET /echo/s1 HTTP/1.1\r\nHost: localhost\r\nX-Test: s\r\n\r\n"
        . "GET /echo/s2 HTTP/1.1\r\nHost: localhost\r\nX-Test: s\r\n"
        . "Connection: close\r\n\r\n";
    my @parts = (substr($req, 0, 10), substr($req, 10, 50), substr($req, 60));
    my $r = http_ex(\@parts, port => $p0, delay => 0.1);
    my @resp = parse_responses($r->{raw});
    is(scalar @resp, 2, 'split pipelined requests: two responses');
    is($resp[0][2] // '', 'GET /echo/s1', 'split pipelined requests: first body');
    is($resp[1][2] // '', 'GET /echo/s2',
        'split pipelined requests: second body');
}

# ---- keepalive_requests ------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $t->port(3));
    my @conn;
    for my $i (1 .. 3) {
        $c->get("/kr$i");
        my ($st, $h) = $c->read_response;
        push @conn, defined $st ? ($h->{connection} // '') : 'none';
    }
    unlike($conn[1], qr/close/i, 'keepalive_requests 3: second response keeps alive');
    like($conn[2], qr/close/i, 'keepalive_requests 3: third response says close');
    ok($c->wait_closed(3), 'keepalive_requests 3: closed after the third');
    $c->close;
}

# ---- many pipelined requests, large heads (default buffers 1k / 4 x 8k) ----------

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 10);
    my $req = join '', map { "GET /echo/pipe$_ HTTP/1.1\r\nHost: localhost\r\n\r\n" }
        1 .. 200;
    $c->send($req);
    my $ok = 0;
    for my $i (1 .. 200) {
        my ($st, $h, $body) = $c->read_response;
        last unless defined $st;
        $ok++ if $st == 200 && $body eq "GET /echo/pipe$i";
    }
    is($ok, 200, '200 pipelined requests in one write: all answered in order');
    $c->close;
}

{
    my $c = SluiceTest::Client->new(port => $p0);
    my $long = 'v' x 7000;
    my $path = '/echo/' . ('p' x 6000);
    # small request, then one with a 7000-byte field, then one with a
    # 6000-byte request line, then a small one again: all on one connection
    $c->send("GET /echo/small1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /echo/big1 HTTP/1.1\r\nHost: localhost\r\nX-Long: $long\r\n\r\n"
        . "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /echo/small2 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    my @got;
    for (1 .. 4) {
        my ($st, $h, $body) = $c->read_response;
        push @got, defined $st ? "$st $body" : 'none';
    }
    is_deeply(\@got, ['200 GET /echo/small1', '200 GET /echo/big1',
        "200 GET $path", '200 GET /echo/small2'],
        'large field and long request line within the default large buffers, '
        . 'pipelined with small requests');
    # a head of ~28k spread over many fields (under 4 x 8k)
    my $fields = join '', map { "X-F$_: " . ('f' x 900) . "\r\n" } 1 .. 28;
    $c->send("GET /echo/many HTTP/1.1\r\nHost: localhost\r\n$fields\r\n");
    my ($st, $h, $body) = $c->read_response;
    is(defined $st ? "$st $body" : 'none', '200 GET /echo/many',
        'head of ~26k in 28 fields accepted');
    $c->close;
}

# ---- HTTP/1.0, Connection: close ------------------------------------------------------

{
    my $r = http_ex("GET /echo/h10 HTTP/1.0\r\n\r\n", port => $p0);
    my ($st, $h, $body) = parse_response($r->{raw});
    is($st, 200, 'HTTP/1.0 without Host: 200');
    ok($r->{closed} && !$r->{timeout}, 'HTTP/1.0: connection closed after response');
    like($h->{connection} // 'close', qr/close/i, 'HTTP/1.0: no keep-alive');

    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('GET', '/echo/ka1', _proto => 'HTTP/1.0',
        Connection => 'keep-alive');
    my ($s1, $h1) = $c->read_response;
    $c->request('GET', '/echo/ka2', _proto => 'HTTP/1.0');
    my ($s2, $h2, $b2) = $c->read_response;
    is($s1, 200, 'HTTP/1.0 keep-alive: first');
    like($h1->{connection} // '', qr/keep-alive/i,
        'HTTP/1.0 keep-alive: Connection: keep-alive in response');
    is($s2, 200, 'HTTP/1.0 keep-alive: second on the same connection');
    ok($c->wait_closed(3), 'HTTP/1.0 without keep-alive: closed after');
    $c->close;
}

{
    my $r = http_ex("GET /echo/cc HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n", port => $p0);
    my ($st, $h) = parse_response($r->{raw});
    is($st, 200, 'Connection: close: 200');
    like($h->{connection} // '', qr/close/i, 'Connection: close: echoed');
    ok($r->{closed} && !$r->{timeout}, 'Connection: close: server closes');
}

# ---- request bodies are read and discarded -------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST /var/post?a=1 HTTP/1.1\r\nHost: localhost\r\nX-Test: b\r\n"
        . "Content-Length: 10\r\n\r\n0123456789");
    my ($s1, $h1, $b1) = $c->read_response;
    $c->get('/echo/after');
    my ($s2, $h2, $b2) = $c->read_response;
    is("$s1 " . ($b1 // ''), '200 uri=/var/post args=a=1 a=1 host=localhost method=POST hdr=b',
        'Content-Length body: POST answered');
    is("$s2 " . ($b2 // ''), '200 GET /echo/after',
        'Content-Length body discarded: next request on the connection');

    # body arriving in pieces, the next request right behind it
    $c->send("PUT /echo/slow HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 6\r\n\r\nabc");
    select(undef, undef, undef, 0.3);
    $c->send("defGET /echo/behind HTTP/1.1\r\nHost: localhost\r\n\r\n");
    my ($s3, undef, $b3) = $c->read_response;
    my ($s4, undef, $b4) = $c->read_response;
    is("$s3 " . ($b3 // ''), '200 PUT /echo/slow',
        'body in two pieces: answered');
    is("$s4 " . ($b4 // ''), '200 GET /echo/behind',
        'body in two pieces: next request served');
    $c->close;
}

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->send("POST /echo/chunk HTTP/1.1\r\nHost: localhost\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n");
    my ($s1, $h1, $b1) = $c->read_response;
    $c->get('/echo/after2');
    my ($s2, $h2, $b2) = $c->read_response;
    is("$s1 " . ($b1 // ''), '200 POST /echo/chunk',
        'chunked body: POST answered');
    is("$s2 " . ($b2 // ''), '200 GET /echo/after2',
        'chunked body discarded: next request on the connection');

    # chunked body trickled byte by byte in a few pieces
    $c->send("POST /echo/chunk2 HTTP/1.1\r\nHost: localhost\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n3\r\n");
    select(undef, undef, undef, 0.2);
    $c->send("ab");
    select(undef, undef, undef, 0.2);
    $c->send("c\r\n0\r\n");
    select(undef, undef, undef, 0.2);
    $c->send("\r\nGET /echo/after3 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    my ($s3, undef, $b3) = $c->read_response;
    my ($s4, undef, $b4) = $c->read_response;
    is("$s3 " . ($b3 // ''), '200 POST /echo/chunk2',
        'trickled chunked body: answered');
    is("$s4 " . ($b4 // ''), '200 GET /echo/after3',
        'trickled chunked body: next request served');
    $c->close;
}

# ---- access log --------------------------------------------------------------------

http_get($t->port(4), '/esc', 'User-Agent' => "a\"b\\c\xc3\xa9");

http_get($p0, '/var/logged?a=1&b=2', 'X-Test' => 'l',
    Referer => 'http://ref.example/', 'User-Agent' => 'TestAgent/1.0');
http_get($p0, '/nohandler/logged', 'User-Agent' => 'TestAgent/2.0');
http_get($p0, '/custom/x?a=5', 'X-Test' => 'hello');
http_get($p0, '/custom/y');

$t->stop;

{
    my $log = $t->read_file('access.log') // '';
    my $body = 'uri=/var/logged args=a=1&b=2 a=1 host=localhost method=GET hdr=l';
    my $len = length $body;
    like($log, qr{^127\.0\.0\.1 - - \[\d\d/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /var/logged\?a=1&b=2 HTTP/1\.1" 200 $len "http://ref\.example/" "TestAgent/1\.0"$}m,
        'access log: combined format line');
    like($log, qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /nohandler/logged HTTP/1\.1" 404 \d+ "-" "TestAgent/2\.0"$}m,
        'access log: 404 logged, missing Referer as "-"');
    unlike($log, qr{/custom/}, 'access log: location with its own access_log not in the http-level log');
    my @lines = grep { /\S/ } split /\n/, $log;
    ok(@lines >= 40, 'access log: a line per request (' . scalar(@lines) . ')');

    my $port = $t->port(0);
    my $custom = $t->read_file('custom.log') // '';
    like($custom, qr{^GET /custom/x "a=5" 200 6 "hello" "5" localhost $port$}m,
        'custom log_format: variables');
    like($custom, qr{^GET /custom/y "-?" 200 6 "-" "-" localhost $port$}m,
        'custom log_format: missing values as "-"');

    my $p3 = $t->port(3);
    my @vars = grep { /\S/ } split /\n/, $t->read_file('vars.log') // '';
    is(scalar @vars, 3, 'vars log: three lines');
    my (@ids, @nums);
    for my $i (1 .. 3) {
        my $len = length "GET /kr$i HTTP/1.1\r\nHost: localhost\r\n\r\n";
        my $l = $vars[$i - 1] // '';
        like($l, qr{^HTTP/1\.1 $i ([0-9a-f]{16,}) 127\.0\.0\.1 127\.0\.0\.1 $p3 http $len 200 GET$},
            "vars log line $i: \$server_protocol \$connection_requests "
            . '$request_id $remote_addr $server_addr $server_port $scheme '
            . '$request_length $status $request_method');
        push @ids, $1 if $l =~ /^\S+ \d+ (\S+)/;
    }
    my %u = map { $_ => 1 } @ids;
    is(scalar keys %u, 3, '$request_id differs per request');

    is($t->read_file('esc.log'), "\"a\\x22b\\x5Cc\\xC3\\xA9\"\n",
        'log_format escape=default: " \\ and non-ASCII as \\xHH');
    is($t->read_file('jesc.log'), "{\"ua\":\"a\\\"b\\\\c\xc3\xa9\",\"miss\":\"\"}\n",
        'log_format escape=json: JSON escapes, missing value empty');
    is($t->read_file('nesc.log'), "a\"b\\c\xc3\xa9\n",
        'log_format escape=none: raw bytes');
}

done_testing;
