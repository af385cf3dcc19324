#!/usr/bin/perl

# Proxy basics: GET, HEAD, POST through proxy_pass to an upstream group and
# to a plain ADDR:PORT; URI replacement and none; the request line and
# Host sent upstream; statuses and headers passed back; access log.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
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
    access_log %%TESTDIR%%/access.log;
    log_format up '$request_uri $status $upstream_addr $upstream_status $upstream_response_time';

    upstream up {
        server 127.0.0.1:%%PORT_5%%;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;

        location / { proxy_pass http://up; }
        location /api/ { proxy_pass http://up/v1/; }
        location /short/ { proxy_pass http://up/; }
        location /noslash { proxy_pass http://up/v9; }
        location /longer/ { proxy_pass http://up/%%LONG%%/; }
        location /direct/ { proxy_pass http://127.0.0.1:%%PORT_6%%; }
        location /directuri/ { proxy_pass http://127.0.0.1:%%PORT_6%%/other/; }
        location ~ \.rx$ { proxy_pass http://up; }
        location /local { return 200 "local"; }
        location /logged/ {
            access_log %%TESTDIR%%/up.log up;
            proxy_pass http://up;
        }
    }
}
EOF

my $long = 'p' x 3000;
{
    my $text = $t->conf_text;
    $text =~ s/%%LONG%%/$long/;
    $t->write_conf($text, raw => 1);
}

my $ua = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'a');
my $ub = SluiceTest::Upstream->new($t, port => $t->port(6), name => 'b');
$ua->start;
$ub->start;
$t->start;

my $p0 = $t->port(0);

sub echo {
    my ($b) = @_;
    return eval { JSON::PP::decode_json($b // '') } || {};
}

sub hdr { SluiceTest::Upstream::header(@_) }

# ---- GET ---------------------------------------------------------------------

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/hello/world?x=1&y=%41',
        'X-Test' => 'abc'));
    is($st, 200, 'GET through an upstream group: 200');
    my $e = echo($b);
    is($e->{server}, 'a', 'GET: answered by the upstream');
    is($e->{method}, 'GET', 'GET: method');
    is($e->{target}, '/hello/world?x=1&y=%41',
        'GET: request-target sent unchanged');
    is($e->{version}, 'HTTP/1.1', 'GET: HTTP/1.1 to the upstream');
    is(hdr($e, 'X-Test'), 'abc', 'GET: request header forwarded');
    is(hdr($e, 'Host'), 'localhost', 'GET: Host forwarded');
    is(SluiceTest::Upstream::header_count($e, 'Host'), 1, 'GET: one Host');
    like($e->{head}, qr{^GET /hello/world\?x=1&y=%41 HTTP/1\.1\r\n},
        'GET: request line');
    is($e->{body_len}, 0, 'GET: no body sent');
    is(hdr($e, 'Content-Length'), undef, 'GET: no Content-Length sent');
    is(hdr($e, 'Transfer-Encoding'), undef, 'GET: no Transfer-Encoding sent');
    is($h->{'x-upstream'}, 'a', 'GET: upstream response header passed');
    is($h->{'content-type'}, 'application/json',
        'GET: upstream Content-Type passed');
    is($h->{'content-length'}, length $b, 'GET: Content-Length kept');
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/data?len=3000&seed=7'));
    is($st, 200, 'GET fixed body: 200');
    is(length $b, 3000, 'GET fixed body: length');
    is(SluiceTest::Upstream::sha($b), SluiceTest::Upstream::body_sha(3000, 7),
        'GET fixed body: content');
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/hello',
        Host => 'www.Example.com:8080'));
    is($st, 200, 'Host with a port: 200');
    is(hdr(echo($b), 'Host'), 'www.Example.com:8080',
        'client Host forwarded unchanged');
}

{
    my ($st, $h, $b) = parse_response(http("GET /v10?q=1 HTTP/1.0\r\n"
        . "Host: localhost\r\n\r\n", port => $p0));
    is($st, 200, 'HTTP/1.0 client: 200');
    my $e = echo($b);
    like($e->{head} // '', qr{^GET /v10\?q=1 HTTP/1\.1\r\n},
        'HTTP/1.0 client: HTTP/1.1 sent upstream');
    is($h->{':version'}, 'HTTP/1.1', 'HTTP/1.0 client: answered HTTP/1.1');
}

{
    my ($st, $h, $b) = parse_response(http("GET /nohost HTTP/1.0\r\n\r\n", port => $p0));
    is($st, 200, 'HTTP/1.0 request without Host: 200');
    my $e = echo($b);
    is(SluiceTest::Upstream::header_count($e, 'Host'), 1,
        'HTTP/1.0 request without Host: a Host sent upstream all the same (HTTP/1.1 needs one)');
    like(hdr($e, 'Host') // '', qr/\S/, 'HTTP/1.0 request without Host: not empty');
}

{
    my ($st, $h, $b) = parse_response(http("GET /getbody HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Length: 4\r\n\r\nbody", port => $p0));
    my $e = echo($b);
    is("$st $e->{method} $e->{body_len} " . (hdr($e, 'Content-Length') // '-'), '200 GET 4 4',
        'GET with a body: body and Content-Length forwarded');
}

# ---- status codes --------------------------------------------------------------

for my $code (201, 404, 500, 503) {
    my ($st, $h, $b) = parse_response(http_get($p0, "/st?status=$code"));
    is($st, $code, "upstream status $code passed");
    is(echo($b)->{target}, "/st?status=$code", "status $code: upstream body passed");
}

{
    my ($st, $h, $b) = parse_response(http_get($p0,
        '/st?status=299&reason=Very%20Custom'));
    # (the reason phrase is not specified: nginx keeps the upstream's)
    is($st, 299, 'unknown status passed');
    is(echo($b)->{target}, '/st?status=299&reason=Very%20Custom',
        'unknown status: body passed');
}

{
    my ($st, $h, $b) = parse_response(http_get($p0,
        '/hdr?h=X-Custom:%20one&h=X-Multi:%201&h=X-Multi:%202&h=Set-Cookie:%20a=1&h=Set-Cookie:%20b=2'));
    is($st, 200, 'response headers: 200');
    is($h->{'x-custom'}, 'one', 'response header passed');
    is($h->{'x-multi'}, '1, 2', 'repeated response header passed');
    is($h->{'set-cookie'}, 'a=1, b=2', 'two Set-Cookie passed');
}

# ---- HEAD --------------------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0);
    $c->request('HEAD', '/head?len=5000');
    my ($st, $h, $b) = $c->read_response(head => 1);
    is($st, 200, 'HEAD: 200');
    is($h->{'content-length'}, 5000, 'HEAD: Content-Length of the GET');
    is($ua->last_request->{method}, 'HEAD', 'HEAD: sent upstream as HEAD');
    $c->get('/after-head?len=10');
    ($st, $h, $b) = $c->read_response;
    is($st, 200, 'HEAD: next request on the connection answered');
    is($b, SluiceTest::Upstream::body_bytes(10),
        'HEAD: no body bytes before the next response');
    is($c->pending, '', 'HEAD: nothing extra on the connection');
    $c->close;
}

# ---- POST ----------------------------------------------------------------------------

{
    my $body = 'a=1&b=' . ('x' x 500);
    my ($st, $h, $b) = parse_response(http("POST /form?q=2 HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body", port => $p0));
    is($st, 200, 'POST: 200');
    my $e = echo($b);
    is($e->{method}, 'POST', 'POST: method');
    is($e->{target}, '/form?q=2', 'POST: target');
    is($e->{body_len}, length $body, 'POST: body length');
    is($e->{body_sha}, SluiceTest::Upstream::sha($body), 'POST: body content');
    is(hdr($e, 'Content-Length'), length $body, 'POST: Content-Length sent');
    is(hdr($e, 'Content-Type'), 'application/x-www-form-urlencoded',
        'POST: Content-Type forwarded');
}

for my $m (qw(PUT DELETE PATCH OPTIONS)) {
    my ($st, $h, $b) = parse_response(http("$m /m HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Length: 3\r\n\r\nabc", port => $p0));
    is($st, 200, "$m: 200");
    my $e = echo($b);
    is("$e->{method} $e->{body_len}", "$m 3", "$m: method and body forwarded");
}

# ---- URI replacement -------------------------------------------------------------------

for my $case (
    ['/api/x/y?z=1&w=2', '/v1/x/y?z=1&w=2', 'prefix replaced, args kept'],
    ['/api/', '/v1/', 'location itself'],
    ['/api/a%20b', '/v1/a%20b', 'escaped character re-escaped'],
    ['/api/a%3Fb?c=d', '/v1/a%3Fb?c=d', 'escaped "?" stays escaped'],
    ['/api/a%23b', '/v1/a%23b', 'escaped "#" stays escaped'],
    ['/api/100%25', '/v1/100%25', 'escaped "%" stays escaped'],
    ['/api/%41b', '/v1/Ab', 'needlessly escaped letter: decoded or kept',
        '/v1/%41b'],
    ['/noslash/x', '/v9/x', 'location and URI without trailing slash'],
    ['/api/x?a=%20b&c=d/e&f=%3F', '/v1/x?a=%20b&c=d/e&f=%3F', 'args kept byte for byte'],
    ['/longer/' . ('q' x 6000) . '?z=1', "/$long/" . ('q' x 6000) . '?z=1',
        'replacement making a 9 KB request line'],
    ['/noslashy', '/v9y', 'location without slash matching a longer name'],
    ['/api/./x/../y', '/v1/y', 'dot segments normalised first'],
    ['/short/deep/path', '/deep/path', 'replaced by /'],
    ['/directuri/k?a=b', '/other/k?a=b', 'plain ADDR:PORT with a URI'],
) {
    my ($req, $want, $name, $alt) = @$case;
    my ($st, $h, $b) = parse_response(http_get($p0, $req));
    my $e = echo($b);
    my $got = "$st " . ($e->{target} // '-');
    $got = "200 $want" if defined $alt && $got eq "200 $alt";
    is($got, "200 $want", "URI replacement: $name");
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/direct/a%20b/../c?q=1'));
    my $e = echo($b);
    is($e->{server}, 'b', 'plain ADDR:PORT: answered by that server');
    is("$st $e->{target}", '200 /direct/a%20b/../c?q=1',
        'plain ADDR:PORT without URI: request-target unchanged');
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/some/file.rx?k=v'));
    is("$st " . (echo($b)->{target} // '-'), '200 /some/file.rx?k=v',
        'regex location: request-target unchanged');
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/local'));
    is("$st $b", '200 local', 'return location next to proxy locations');
}

# ---- access log ------------------------------------------------------------------------

{
    my ($st) = parse_response(http_get($p0, '/logged/one?status=202'));
    is($st, 202, 'logged request: 202');
    my ($st2, $h, $b) = parse_response(http_get($p0, '/logged/slow?len=4000&slow=1000:0.3'));
    is(length($b // ''), 4000, 'logged request with a body taking 0.9 s: answered');
}

$t->stop;
$ua->stop;
$ub->stop;

{
    my $log = $t->read_file('access.log') // '';
    like($log, qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /hello/world\?x=1&y=%41 HTTP/1\.1" 200 \d+ "-" "-"$}m,
        'access log: proxied request in combined format');
    like($log, qr{"HEAD /head\?len=5000 HTTP/1\.1" 200 0 }m,
        'access log: HEAD with 0 body bytes');
    my $up = $t->read_file('up.log') // '';
    my $a = $ua->addr;
    like($up, qr{^/logged/one\?status=202 202 \Q$a\E 202 \d+\.\d{3}$}m,
        'access log: $upstream_addr $upstream_status $upstream_response_time');
    my ($rt) = $up =~ m{^/logged/slow\S* 200 \S+ 200 (\d+\.\d{3})$}m;
    ok(defined $rt && $rt >= 0.8 && $rt < 3,
        '$upstream_response_time covers the whole response, body included ('
        . ($rt // 'none') . ' for a body taking 0.9 s)');
}

done_testing;
