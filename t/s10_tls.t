#!/usr/bin/perl

# TLS termination: requests over TLS 1.3 and 1.2 get the right body and
# $scheme "https"; SNI picks the server block and its certificate (RSA or
# ECDSA by the client's signature algorithms); TLS 1.1 is refused; ALPN
# negotiates http/1.1; keepalive and a large response over TLS; a proxied
# request (with a body) and an upgraded tunnel reach a plain upstream with X-Forwarded-Proto:
# https; an idle handshake is closed after client_header_timeout; bad
# certificate files, a mismatched key, an insecure protocol and an ssl
# listen without a certificate are configuration errors with file:line.
# Certificates are made at test time with the openssl command.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(time);
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Certs;

my $t = SluiceTest->new(need_ctl => 0);
my $d = $t->testdir;

# A CA; an RSA and an ECDSA certificate for a.test; an RSA one for b.test.
self_signed($t, 'ca', '/CN=sluice-test-ca');
for my $c (['a-rsa', 'a.test', 'rsa:2048'], ['a-ec', 'a.test', 'ec'],
           ['b', 'b.test', 'rsa:2048'])
{
    my ($n, $cn, $alg) = @$c;
    issue_cert($t, $n, "/CN=$cn", 'ca', alg => $alg);
}

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    upstream up { server 127.0.0.1:%%PORT_5%%; }

    server {
        listen 127.0.0.1:%%PORT_0%% ssl default_server;
        server_name a.test;
        ssl_certificate a-rsa.crt;
        ssl_certificate_key a-rsa.key;
        ssl_certificate a-ec.crt;
        ssl_certificate_key a-ec.key;
        ssl_session_timeout 10m;
        ssl_prefer_server_ciphers on;
        client_header_timeout 1s;
        location / { return 200 "A $scheme $server_name"; }
        location /up/ { proxy_pass http://up; }
        location /ws/ { proxy_read_timeout 1s; proxy_pass http://up; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name b.test;
        ssl_certificate b.crt;
        ssl_certificate_key b.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
        location / { return 200 "B $scheme $server_name"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "plain $scheme"; }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'a');
$u->start;
$t->start;
my $p0 = $t->port(0);

# Runs s_client with req on stdin; returns (exit code, stdout+stderr,
# stdout alone).
sub s_client {
    my ($req, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd(['openssl', 's_client',
        '-connect', "127.0.0.1:$p0", '-ign_eof', '-CAfile', "$d/ca.crt",
        @args], stdin => $req, timeout => 10);
    return ($rc, $out . $err, $out);
}

sub get {
    my ($path, $host, @args) = @_;
    return s_client("GET $path HTTP/1.1\r\nHost: $host\r\n"
                    . "Connection: close\r\n\r\n", '-servername', $host,
                    @args);
}

# ---- requests and SNI ------------------------------------------------------------------

{
    my ($rc, $o) = get('/', 'a.test', '-tls1_3');
    like($o, qr{HTTP/1\.1 200 .*?\r\n\r\nA https a\.test}s,
         'TLS 1.3: 200 and the body');
    like($o, qr/subject=\s*CN\s*=\s*a\.test/, 'a.test certificate');
    like($o, qr/New, TLSv1\.3/, 'TLS 1.3 negotiated');
    like($o, qr/Verification: OK|Verify return code: 0 \(ok\)/,
         'chain verifies against the test CA');
}
{
    my ($rc, $o) = get('/', 'b.test', '-tls1_2');
    like($o, qr{HTTP/1\.1 200 .*?\r\n\r\nB https b\.test}s,
         'TLS 1.2: SNI b.test picks its server block');
    like($o, qr/subject=\s*CN\s*=\s*b\.test/, 'SNI b.test: its certificate');
    like($o, qr/New, TLSv1\.2|Protocol\s*: TLSv1\.2/, 'TLS 1.2 negotiated');
}
{
    my ($rc, $o) = get('/', 'other.test');
    like($o, qr/subject=\s*CN\s*=\s*a\.test/,
         'unknown name: the default server certificate');
}
{
    my ($rc, $o) = get('/', 'a.test', '-sigalgs',
                       'ecdsa_secp256r1_sha256');
    like($o, qr/Server public key is 256 bit/, 'ECDSA certificate chosen');
    ($rc, $o) = get('/', 'a.test', '-sigalgs', 'rsa_pss_rsae_sha256');
    like($o, qr/Server public key is 2048 bit/, 'RSA certificate chosen');
    like($o, qr/\r\n\r\nA https/, 'request over the RSA certificate');
}
{
    # Default ciphers: DHE works (RFC 7919 group), CBC and SHA-1 do not.
    my ($rc, $o) = get('/', 'a.test', '-tls1_2', '-cipher',
                       'DHE-RSA-AES128-GCM-SHA256');
    like($o, qr/Server Temp Key: DH, 2048 bits/, 'DHE with ffdhe2048');
    like($o, qr/\r\n\r\nA https/, 'request over DHE');
    ($rc, $o) = get('/', 'a.test', '-tls1_2', '-cipher',
                    'ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA');
    isnt($rc, 0, 'CBC suites refused by default');
}
{
    my ($rc, $o) = get('/', 'a.test', '-alpn', 'http/1.1');
    like($o, qr{ALPN protocol: http/1\.1}, 'ALPN http/1.1');
}
{
    my ($rc, $o) = get('/', 'a.test', '-tls1_1', '-cipher',
                       'DEFAULT:@SECLEVEL=0');
    isnt($rc, 0, 'TLS 1.1 refused');
    unlike($o, qr{HTTP/1\.1 200}, 'no response over TLS 1.1');
}

# ---- keepalive, a large response, the proxy ----------------------------------------------

{
    my $req = "GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n"
        . "GET /two HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n";
    my ($rc, $o) = s_client($req, '-servername', 'a.test', '-quiet');
    my @st = $o =~ m{HTTP/1\.1 200}g;
    is(scalar @st, 2, 'two requests on one TLS connection');
    like($o, qr/B https b\.test/, 'Host picks the server per request');
}
{
    my $len = 300000;
    my ($rc, $all, $o) = get("/up/big?len=$len&seed=7", 'a.test',
                             '-quiet');
    my ($body) = $o =~ /\r\n\r\n(.*)\z/s;
    is(length($body // ''), $len, 'large proxied response over TLS');
    ok(($body // '') eq SluiceTest::Upstream::body_bytes($len, 7),
       'content intact');
}
{
    my $body = 'x' x 70000;
    my ($rc, $all, $o) = s_client("POST /up/post HTTP/1.1\r\nHost: a.test\r\n"
        . "Content-Length: 70000\r\nConnection: close\r\n\r\n$body",
        '-servername', 'a.test', '-quiet');
    like($o, qr{HTTP/1\.1 200}, 'proxied POST over TLS');
    my ($json) = $o =~ /\r\n\r\n(.*)\z/s;
    my $e = eval { JSON::PP::decode_json($json // '') } || {};
    is($e->{body_len}, 70000, 'request body reached the upstream');
    my ($xfp) = map { $_->[1] } grep { lc $_->[0] eq 'x-forwarded-proto' }
        @{ $e->{headers} || [] };
    is($xfp, 'https', 'X-Forwarded-Proto: https');
}
{
    # An upgraded connection: the tunnel's client side runs over TLS.
    my $data = join '', map { sprintf "tunnel-%06d\n", $_ } 1 .. 6000;
    my ($rc, $all, $o) = s_client("GET /ws/x HTTP/1.1\r\nHost: a.test\r\n"
        . "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n$data",
        '-servername', 'a.test', '-quiet');
    like($o, qr{^HTTP/1\.1 101 }, '101 over TLS');
    my ($echo) = $o =~ /\r\n\r\n(.*)\z/s;
    ok(($echo // '') eq $data, 'tunnel echoes ' . length($data)
       . ' bytes over TLS') or diag(length($echo // ''));
}
{
    my ($st, $h, $b) = parse_response(http_get($t->port(1), '/'));
    is($b, 'plain http', 'plain listener: $scheme http');
}

# ---- handshake timeout ---------------------------------------------------------------

{
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p0",
                                  Timeout => 3);
    ok($s, 'TCP connect to the TLS port');
    my $t0 = time;
    my $closed = 0;
    if ($s && IO::Select->new($s)->can_read(5)) {
        my $n = sysread($s, my $buf, 100);
        $closed = defined $n && $n == 0 || !defined $n;
    }
    my $dt = time - $t0;
    ok($closed, 'idle handshake closed by the server');
    cmp_ok($dt, '<', 4, 'within client_header_timeout (1s) plus margin');
}
{
    # A client that sends garbage instead of a ClientHello.
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p0",
                                  Timeout => 3);
    print $s "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    my $got = '';
    while (IO::Select->new($s)->can_read(3)) {
        my $n = sysread($s, my $buf, 4096);
        last unless $n;
        $got .= $buf;
    }
    unlike($got, qr/A https/, 'plain HTTP on the TLS port gets no page');
}

# ---- configuration errors -----------------------------------------------------------

my $srv = "listen 127.0.0.1:%%PORT_2%% ssl;\n";
conf_err($t, 'mismatch.conf', <<"EOF", 'b.key', qr/mismatch|does not match/,
http { server { $srv ssl_certificate a-rsa.crt;
    ssl_certificate_key b.key;
} }
EOF
    'mismatched key');
conf_err($t, 'mismatch2.conf', <<"EOF", 'a-ec.key', qr/does not match/,
http { server { $srv ssl_certificate a-rsa.crt;
    ssl_certificate_key a-ec.key;
} }
EOF
    'key of another type');
conf_err($t, 'nocert.conf', <<"EOF", 'missing.crt', qr/cannot load certificate/,
http { server { $srv
    ssl_certificate missing.crt;
    ssl_certificate_key a-rsa.key;
} }
EOF
    'missing certificate file');
$t->write_file('garbage.key', "not a key\n");
conf_err($t, 'badkey.conf', <<"EOF", 'garbage.key',
http { server { $srv ssl_certificate a-rsa.crt;
    ssl_certificate_key garbage.key;
} }
EOF
    qr/cannot load certificate key/, 'bad key file');
conf_err($t, 'tls11.conf', <<"EOF", 'TLSv1.1', qr/TLSv1\.1/,
http { server { $srv ssl_certificate a-rsa.crt;
    ssl_certificate_key a-rsa.key;
    ssl_protocols TLSv1.1 TLSv1.2;
} }
EOF
    'TLSv1.1 refused');
conf_err($t, 'nossl.conf', <<"EOF", 'server {', qr/no "ssl_certificate"/,
http {
    server { $srv }
}
EOF
    'ssl listen without a certificate');
{
    my $path = $t->write_conf(<<"EOF", name => 'good.conf');
http { server { $srv ssl_certificate a-rsa.crt;
    ssl_certificate_key a-rsa.key;
    ssl_certificate $d/a-ec.crt;
    ssl_certificate_key $d/a-ec.key;
} }
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 0, 'RSA and ECDSA pairs with relative and absolute paths')
        or diag($out . $err);
}

$t->stop;
done_testing;
