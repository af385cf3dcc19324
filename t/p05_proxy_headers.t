#!/usr/bin/perl

# Proxy headers: X-Forwarded-For/-Proto/-Host, Via, X-Request-ID; hop-by-hop
# fields removed in both directions; proxy_set_header (override, add with
# variables, remove with "", inheritance); proxy_hide_header; the
# upstream's Server and Date replaced; many and long fields passed.

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
    access_log off;

    upstream up { server 127.0.0.1:%%PORT_5%%; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_set_header X-Srv srv-level;

        location / { proxy_pass http://up; }
        location /set/ {
            proxy_set_header Host backend.example;
            proxy_set_header X-Added "m=$request_method u=$uri a=$arg_a";
            proxy_set_header User-Agent "";
            proxy_set_header X-Client-Only "";
            proxy_set_header X-Override new;
            proxy_pass http://up;
        }
        location /builtin/ {
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Via "";
            proxy_pass http://up;
        }
        location /notokens/ {
            server_tokens off;
            proxy_pass http://up;
        }
        location /hide/ {
            proxy_hide_header X-Secret;
            proxy_hide_header x-other;
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
sub nhdr { SluiceTest::Upstream::header_count(@_) }

sub up {
    my ($path, %h) = @_;
    my ($st, $h, $b) = parse_response(http_get($p0, $path, %h));
    return ($st // 'none', echo($b), $h // {});
}

# ---- X-Forwarded-*, Via, X-Request-ID ------------------------------------------------------

{
    my ($st, $e) = up('/xff/none', Host => 'www.example.com:8080');
    is($st, 200, 'forwarding headers: 200');
    is(hdr($e, 'X-Forwarded-For'), '127.0.0.1', 'X-Forwarded-For: client address');
    is(hdr($e, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto: http');
    is(hdr($e, 'X-Forwarded-Host'), 'www.example.com:8080', 'X-Forwarded-Host: client Host');
    is(hdr($e, 'Via'), '1.1 sluice', 'Via: 1.1 sluice');
    like(hdr($e, 'X-Request-ID') // '', qr/^[0-9a-f]{32}$/, 'X-Request-ID generated: 32 hex');
    is(hdr($e, 'X-Srv'), 'srv-level', 'proxy_set_header inherited from server');

    my (undef, $e2) = up('/xff/none2');
    isnt(hdr($e2, 'X-Request-ID') // '', hdr($e, 'X-Request-ID') // '',
        'X-Request-ID: a new one per request');
}

{
    my ($st, $e) = up('/xff/one', 'X-Forwarded-For' => '10.0.0.1',
        Via => '1.0 fred', 'X-Request-ID' => 'abc-123-client');
    is(hdr($e, 'X-Forwarded-For'), '10.0.0.1, 127.0.0.1', 'X-Forwarded-For appended');
    is(nhdr($e, 'X-Forwarded-For'), 1, 'X-Forwarded-For: one field');
    is(hdr($e, 'Via'), '1.0 fred, 1.1 sluice', 'Via appended');
    is(nhdr($e, 'Via'), 1, 'Via: one field');
    is(hdr($e, 'X-Request-ID'), 'abc-123-client', 'X-Request-ID passed through');
    is(nhdr($e, 'X-Request-ID'), 1, 'X-Request-ID: one field');

    ($st, $e) = up('/xff/two', 'X-Forwarded-For' => '10.0.0.1, 10.0.0.2');
    is(hdr($e, 'X-Forwarded-For'), '10.0.0.1, 10.0.0.2, 127.0.0.1',
        'X-Forwarded-For with two addresses appended');

    ($st, $e) = up('/xff/proto', 'X-Forwarded-Proto' => 'https',
        'X-Forwarded-Host' => 'evil.example');
    is(nhdr($e, 'X-Forwarded-Proto') . ' ' . (hdr($e, 'X-Forwarded-Proto') // '-'), '1 http',
        'X-Forwarded-Proto from the client replaced');
    is(nhdr($e, 'X-Forwarded-Host') . ' ' . (hdr($e, 'X-Forwarded-Host') // '-'), '1 localhost',
        'X-Forwarded-Host from the client replaced');
}

# ---- hop-by-hop, request --------------------------------------------------------------------

{
    my $raw = http("GET /hop/req HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: keep-alive, X-Hop, close\r\nX-Hop: 1\r\nKeep-Alive: 300\r\n"
        . "TE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eDp5\r\n"
        . "Proxy-Connection: keep-alive\r\nX-Keep: yes\r\n\r\n", port => $p0);
    my ($st, $h, $b) = parse_response($raw);
    my $e = echo($b);
    is($st, 200, 'hop-by-hop request fields: 200');
    is(hdr($e, 'X-Keep'), 'yes', 'end-to-end field forwarded');
    for my $n ('X-Hop', 'Keep-Alive', 'TE', 'Trailer', 'Proxy-Authorization',
        'Proxy-Connection') {
        is(hdr($e, $n), undef, "$n not forwarded");
    }
    is(hdr($e, 'Connection'), 'close',
        'Connection: only sluice\'s own "close" (no keepalive upstream)');
}

{
    my ($st, $e, $h) = up('/hop/upgrade', Upgrade => 'foo/1');
    is($st, 200, 'Upgrade without "Connection: upgrade": a normal request');
    is(hdr($e, 'Upgrade'), undef, 'Upgrade without "Connection: upgrade": not forwarded');
}

# ---- hop-by-hop, response; Server, Date ------------------------------------------------------

{
    my $q = join '&', map { 'h=' . $_ } 'Connection:%20X-Resp-Hop',
        'X-Resp-Hop:%201', 'Keep-Alive:%20timeout=77', 'Proxy-Authenticate:%20Basic',
        'Trailer:%20X-T', 'Upgrade:%20foo', 'Proxy-Connection:%20keep-alive',
        'TE:%20trailers', 'X-Resp-Keep:%20yes';
    my $raw = http_get($p0, "/hop/resp?$q");
    my ($st, $h, $b) = parse_response($raw);
    is($st, 200, 'hop-by-hop response fields: 200');
    is($h->{'x-resp-keep'}, 'yes', 'end-to-end response field passed');
    for my $n ('X-Resp-Hop', 'Keep-Alive', 'Proxy-Authenticate', 'Trailer',
        'Upgrade', 'Proxy-Connection', 'TE') {
        ok(!exists $h->{lc $n}, "response $n not passed");
    }
    my $head = substr($raw, 0, index($raw, "\r\n\r\n") + 2);
    unlike($head, qr/X-Resp-Hop|timeout=77/i, 'response hop-by-hop values not passed');
    like($h->{connection} // '', qr/^(?:close|keep-alive)$/i,
        'response Connection: only sluice\'s own');
    is(echo($b)->{target}, "/hop/resp?$q", 'hop-by-hop response: body passed');
}

{
    my $raw = http_get($p0, '/sd');
    my ($st, $h, $b) = parse_response($raw);
    like($h->{server} // '', qr/^sluice(?:\/\d+\.\d+\.\d+)?$/, 'upstream Server replaced by sluice\'s');
    unlike($raw, qr/fake-upstream/, 'upstream Server not passed');
    unlike($raw, qr/2001/, 'upstream Date not passed');
    like($h->{date} // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
        'Date: sluice\'s own');
    is(scalar(() = $raw =~ /^Server:/mig), 1, 'one Server field');
    is(scalar(() = $raw =~ /^Date:/mig), 1, 'one Date field');
}

{
    my $raw = http_get($p0, '/notokens/x');
    my ($st, $h) = parse_response($raw);
    is("$st " . ($h->{server} // '-'), '200 sluice', 'server_tokens off: "Server: sluice" on proxied answers');
}

# ---- proxy_set_header --------------------------------------------------------------------------

{
    my ($st, $e) = up('/set/x?a=5', 'User-Agent' => 'TestAgent/1.0',
        'X-Client-Only' => 'secret', 'X-Override' => 'old', 'X-Other' => 'kept');
    is($st, 200, 'proxy_set_header: 200');
    is(hdr($e, 'Host'), 'backend.example', 'proxy_set_header Host overrides');
    is(nhdr($e, 'Host'), 1, 'proxy_set_header Host: one Host');
    is(hdr($e, 'X-Forwarded-Host'), 'localhost', 'X-Forwarded-Host: still the client Host');
    is(hdr($e, 'X-Added'), 'm=GET u=/set/x a=5', 'proxy_set_header adds, with variables');
    is(hdr($e, 'User-Agent'), undef, 'proxy_set_header User-Agent "" removes it');
    is(hdr($e, 'X-Client-Only'), undef, 'proxy_set_header NAME "" removes a client field');
    is(nhdr($e, 'X-Override') . ' ' . (hdr($e, 'X-Override') // '-'), '1 new',
        'proxy_set_header replaces a client field');
    is(hdr($e, 'X-Other'), 'kept', 'other client fields kept');
    is(hdr($e, 'X-Srv'), undef, 'server-level proxy_set_header not inherited by a level with its own');
}

{
    my ($st, $e) = up('/builtin/x', 'X-Forwarded-For' => '10.9.9.9',
        Via => '1.0 fred');
    is($st, 200, 'proxy_set_header on generated fields: 200');
    is(nhdr($e, 'X-Forwarded-Proto') . ' ' . (hdr($e, 'X-Forwarded-Proto') // '-'), '1 https',
        'proxy_set_header X-Forwarded-Proto replaces the generated one');
    is(nhdr($e, 'X-Forwarded-For') . ' ' . (hdr($e, 'X-Forwarded-For') // '-'), '1 127.0.0.1',
        'proxy_set_header X-Forwarded-For $remote_addr replaces the appended one');
    is(hdr($e, 'Via'), undef, 'proxy_set_header Via "" removes it');
}

{
    my $a = $u->addr;
    my ($st, $h) = parse_response(http_get($p0,
        "/loc?status=302&h=Location:%20http://$a/v1/x&h=Refresh:%205"));
    is("$st " . ($h->{location} // '-'), "302 http://$a/v1/x", 'Location passed unchanged');
    is($h->{refresh}, '5', 'Refresh passed');
}

# ---- proxy_hide_header -----------------------------------------------------------------------------

{
    my ($st, $h, $b) = parse_response(http_get($p0,
        '/hide/x?h=X-Secret:%20s&h=X-Other:%20o&h=X-Visible:%20v'));
    is($st, 200, 'proxy_hide_header: 200');
    ok(!exists $h->{'x-secret'}, 'proxy_hide_header hides the field');
    ok(!exists $h->{'x-other'}, 'proxy_hide_header: name case-insensitive');
    is($h->{'x-visible'}, 'v', 'proxy_hide_header: other fields passed');
    ($st, $h, $b) = parse_response(http_get($p0, '/h?h=X-Secret:%20s'));
    is($h->{'x-secret'}, 's', 'proxy_hide_header only where configured');
}

# ---- many and long fields -----------------------------------------------------------------------------

{
    my %h = map { sprintf('X-Order-%02d', $_) => "v$_" } 1 .. 40;
    $h{'X-Long'} = 'L' x 4000;
    my $raw = http("GET /many HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
        . "X-Dup: a\r\nX-Dup: b\r\nCookie: c1=1\r\nCookie: c2=2\r\n\r\n", port => $p0);
    my ($st, undef, $b) = parse_response($raw);
    my $e = echo($b);
    is($st, 200, 'many request fields: 200');
    my @order = map { $_->[0] } grep { $_->[0] =~ /^X-Order-/i } @{ $e->{headers} || [] };
    is(join(',', @order), join(',', map { sprintf 'X-Order-%02d', $_ } 1 .. 40),
        '40 fields forwarded in order');
    is(length(hdr($e, 'X-Long') // ''), 4000, 'a 4000-byte field forwarded');
    is(hdr($e, 'X-Dup'), 'a, b', 'repeated field forwarded');
    like(hdr($e, 'Cookie') // '', qr/^c1=1(?:, |; )c2=2$/, 'two Cookie fields forwarded');
}

{
    # a request head near the client limits (large_client_header_buffers
    # 4 8k): the head sent upstream is about as large
    my $raw = http("GET /bighead HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . join('', map { "X-Big$_: " . ($_ x 7000) . "\r\n" } 1 .. 3) . "\r\n", port => $p0);
    my ($st, undef, $b) = parse_response($raw);
    my $e = echo($b);
    is($st, 200, 'request head of 21 KB: 200');
    is(join(',', map { length(hdr($e, "X-Big$_") // '') } 1 .. 3), '7000,7000,7000',
        'request head of 21 KB: every field forwarded whole');
}

{
    my $q = join '&', map { "h=X-R$_:%20" . ('r' x 50) } 1 .. 40;
    my ($st, $h, $b) = parse_response(http_get($p0, "/rmany?$q"));
    is($st, 200, 'many response fields: 200');
    is(scalar(grep { /^x-r\d+$/ } keys %$h), 40, '40 response fields passed');
}

$t->stop;
$u->stop;

done_testing;
