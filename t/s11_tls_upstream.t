#!/usr/bin/perl

# TLS towards upstreams: proxy_pass https:// carries requests and bodies
# (a body spooled to a file too) over TLS; keepalive connections keep
# their TLS session (the upstream sees fewer connections than requests);
# proxy_ssl_verify with the right CA succeeds, with another CA or another
# name fails with 502 and the verify error in the log; an address is
# verified against the certificate's IP SAN; SNI is sent only with
# proxy_ssl_server_name on; sessions are resumed on new connections
# (TLS 1.3 and 1.2) unless proxy_ssl_session_reuse is off; an upgraded
# tunnel runs over TLS; a client
# certificate is presented; a server that does not speak TLS is a
# connection error and the next server is tried; a handshake that never
# finishes ends after proxy_connect_timeout (504); configuration
# errors name file:line.  The TLS upstream is SluiceTest::TlsFront (Perl
# IO::Socket::SSL) in front of SluiceTest::Upstream; certificates are made
# at test time with the openssl command.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::TlsFront;
use SluiceTest::Certs;

my $t = SluiceTest->new(need_ctl => 0);
my $d = $t->testdir;

# Two CAs; the upstream's certificate (up.test and 127.0.0.1) from the
# first; a client certificate from the first.
self_signed($t, $_, "/CN=sluice-test-$_") for qw(ca ca2);
issue_cert($t, 'srv', '/CN=up.test', 'ca', san => 'DNS:up.test,IP:127.0.0.1');
issue_cert($t, 'cli', '/CN=sluice-client', 'ca');

# PORT_5: plain backend; PORT_6: TLS in front of it; PORT_7: TLS in front
# of it that wants a client certificate from the first CA.
my $up = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'b');
$up->start;
my $tls = SluiceTest::TlsFront->new($t, port => $t->port(6),
    backend => $t->port(5), cert => "$d/srv.crt", key => "$d/srv.key",
    name => 'f');
$tls->start;
my $mtls = SluiceTest::TlsFront->new($t, port => $t->port(7),
    backend => $t->port(5), cert => "$d/srv.crt", key => "$d/srv.key",
    name => 'm', client_ca => "$d/ca.crt");
$mtls->start;
# PORT_8: a server that answers plain HTTP at once and closes.
SluiceTest::TlsFront::plain($t, port => $t->port(8),
    status => '400 Bad Request');

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    upstream ka { server 127.0.0.1:%%PORT_6%%; keepalive 4; }
    upstream nk { server 127.0.0.1:%%PORT_6%%; }
    upstream mixed {
        server 127.0.0.1:%%PORT_8%%;
        server 127.0.0.1:%%PORT_6%%;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_ssl_trusted_certificate ca.crt;
        location /ka/ { proxy_pass https://ka; }
        location /spool/ {
            client_body_buffer_size 1k;
            proxy_pass https://nk;
        }
        location /s/ { proxy_pass https://nk; }
        location /s12/ {
            proxy_ssl_protocols TLSv1.2;
            proxy_pass https://nk;
        }
        location /hs/ {
            proxy_connect_timeout 1s;
            proxy_next_upstream off;
            proxy_pass https://127.0.0.1:%%PORT_5%%;
        }
        location /nr/ {
            proxy_ssl_session_reuse off;
            proxy_pass https://nk;
        }
        proxy_ssl_name up.test;
        location /v/ok/ {
            proxy_ssl_verify on;
            proxy_ssl_server_name on;
            proxy_pass https://nk;
        }
        location /v/wrongca/ {
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate ca2.crt;
            proxy_pass https://nk;
        }
        location /v/name/ {
            proxy_ssl_verify on;
            proxy_ssl_name other.test;
            proxy_pass https://nk;
        }
        location /ip/ {
            proxy_ssl_verify on;
            proxy_ssl_name 127.0.0.1;
            proxy_ssl_server_name on;
            proxy_pass https://127.0.0.1:%%PORT_6%%;
        }
        location /plain/ {
            proxy_next_upstream off;
            proxy_pass https://127.0.0.1:%%PORT_8%%;
        }
        location /mixed/ { proxy_pass https://mixed; }
        location /mtls/ {
            proxy_ssl_certificate cli.crt;
            proxy_ssl_certificate_key cli.key;
            proxy_pass https://127.0.0.1:%%PORT_7%%;
        }
        location /nocert/ { proxy_pass https://127.0.0.1:%%PORT_7%%; }
    }
}
EOF
$t->start;

sub get {
    my ($path, %h) = @_;
    return parse_response(http_get($t->port(0), $path, %h));
}

# ---- keepalive -------------------------------------------------------------

{
    my $ok = 0;
    for my $i (1 .. 6) {
        my ($st) = get("/ka/k$i");
        $ok++ if $st == 200;
    }
    is($ok, 6, 'six requests over pooled TLS connections');
    my $accepts = $up->accepts;
    ok($accepts >= 1 && $accepts < 6,
       "TLS connections reused ($accepts for 6)");
    is(scalar(my @h = $tls->handshakes), $accepts,
       'one handshake per connection');
}

# ---- requests over TLS -----------------------------------------------------

{
    my ($st, $h, $body) = get('/ka/x?len=200000&seed=7');
    is($st, 200, 'proxy_pass https:// answers');
    is(length($body // ''), 200000, 'the whole body arrived');
    is(SluiceTest::Upstream::sha($body // ''),
       SluiceTest::Upstream::body_sha(200000, 7), 'body intact');
    my $r = $up->last_request;
    is($r->{target}, '/ka/x?len=200000&seed=7', 'the upstream saw the request');
    my @hs = $tls->handshakes;
    is($hs[-1]{sni}, '', 'no SNI without proxy_ssl_server_name');
}
{
    my $body = 'b' x 100000;
    my $raw = http("POST /spool/p HTTP/1.1\r\nHost: x\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body",
        port => $t->port(0), timeout => 10);
    my ($st) = parse_response($raw);
    is($st, 200, 'a body spooled to a file goes over TLS');
    my $r = $up->last_request;
    is($r->{body_len}, 100000, 'the upstream got the whole body');
    is($r->{body_sha}, SluiceTest::Upstream::sha($body), 'body intact');
}

# ---- an upgraded tunnel over TLS -----------------------------------------------

# Sends data on s and reads until want bytes came back (or 8 s).
sub exchange {
    my ($s, $data, $want) = @_;
    my $deadline = time + 8;
    my ($off, $got) = (0, '');
    my $sel = IO::Select->new($s);
    while (length $got < $want && time < $deadline) {
        my ($r, $w) = IO::Select->select($sel,
            $off < length $data ? $sel : undef, undef, 0.2);
        if ($w && @$w) {
            my $n = syswrite($s, $data, 65536, $off);
            $off += $n if $n;
        }
        if ($r && @$r) {
            my $n = sysread($s, my $d, 262144);
            last if defined $n && $n == 0;
            $got .= $d if $n;
        }
    }
    return $got;
}
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(0), Timeout => 5) or die "connect: $!\n";
    my $req = "GET /nr/ws?greet=HELLO HTTP/1.1\r\nHost: x\r\n"
        . "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    my $got = exchange($s, $req, 1);
    $got .= exchange($s, '', 1) until $got =~ /\r\n\r\nHELLO/ || !length $got
        || length $got > 4096;
    like($got, qr{^HTTP/1\.1 101 .*\r\n\r\nHELLO\z}s,
         'upgrade over TLS: 101 and the greeting');
    my $big = join '', map { chr(($_ * 7) % 251) } 1 .. 300000;
    my $back = exchange($s, $big, length $big);
    ok($back eq $big, 'the tunnel echoes 300 kB over TLS');
    close $s;
}

# ---- verification ----------------------------------------------------------

{
    $tls->clear;
    my ($st, $h, $body) = get('/v/ok/a');
    is($st, 200, 'verify on with the right CA and name: 200');
    my @hs = $tls->handshakes;
    is($hs[-1]{sni}, 'up.test', 'proxy_ssl_server_name on sends the name');

    ($st) = get('/ip/a');
    is($st, 200, 'an address is verified against the IP SAN');
    @hs = $tls->handshakes;
    is($hs[-1]{sni}, '', 'no SNI for an address');

    my $before = length $t->error_log;
    ($st) = get('/v/wrongca/a');
    is($st, 502, 'verify with another CA: 502');
    my $log = substr($t->error_log, $before);
    like($log, qr/SSL_do_handshake\(\)\ failed\ .*certificate\ verify\ failed.*
        verify\ error:\ \(\d+:\ [^)]*local\ issuer[^)]*\)
        .*upstream:\ "127\.0\.0\.1:\d+"/x,
        'the log names the verify error and the server');

    $before = length $t->error_log;
    ($st) = get('/v/name/a');
    is($st, 502, 'verify with another name: 502');
    $log = substr($t->error_log, $before);
    like($log, qr/hostname mismatch/, 'the log says hostname mismatch');
}

# ---- session reuse ----------------------------------------------------------

{
    $tls->clear;
    get("/s/$_") for 1 .. 4;
    my @hs = $tls->handshakes;
    is(scalar @hs, 4, 'no keepalive: one handshake per request');
    my $reused = grep { $_->{reused} } @hs[1 .. $#hs];
    is($reused, 3, 'new connections resume the session');
    is($hs[0]{reused}, 0, 'the first handshake is a full one');

    $tls->clear;
    get("/s12/$_") for 1 .. 3;
    @hs = $tls->handshakes;
    is(scalar(grep { $_->{version} =~ /TLSv1_?2\z/ } @hs), 3,
       'proxy_ssl_protocols TLSv1.2: TLS 1.2 handshakes');
    is(scalar(grep { $_->{reused} } @hs), 2, 'TLS 1.2 sessions resumed');

    $tls->clear;
    get("/nr/$_") for 1 .. 3;
    @hs = $tls->handshakes;
    is(scalar @hs, 3, 'session reuse off: three handshakes');
    is(scalar(grep { $_->{reused} } @hs), 0, 'none resumed');
}

# ---- client certificates -------------------------------------------------------

{
    $mtls->clear;
    my ($st) = get('/mtls/a');
    is($st, 200, 'proxy_ssl_certificate: accepted by a server that asks');
    my @hs = $mtls->handshakes;
    like($hs[-1]{client} // '', qr/sluice-client/, 'the client certificate');
    ($st) = get('/nocert/a');
    is($st, 502, 'no client certificate: 502');
}

# ---- failures ---------------------------------------------------------------------

{
    my $before = length $t->error_log;
    my ($st) = get('/plain/a');
    is($st, 502, 'a server that does not speak TLS: 502');
    my $log = substr($t->error_log, $before);
    like($log, qr/SSL_do_handshake\(\)\ failed\ .*wrong\ version\ number
        .*\ while\ SSL\ handshaking\ to\ upstream,
        \ upstream:\ "127\.0\.0\.1:\d+"/x,
        'logged with the OpenSSL reason and the address');

    $before = length $t->error_log;
    ($st) = get('/hs/a');
    is($st, 504, 'a server that never answers the handshake: 504');
    $log = substr($t->error_log, $before);
    like($log, qr/upstream timed out while SSL handshaking to upstream/,
         'after proxy_connect_timeout');

    my $ok = 0;
    for my $i (1 .. 4) {
        my ($s) = get("/mixed/m$i");
        $ok++ if $s == 200;
    }
    is($ok, 4, 'a failed handshake goes on to the next server');
}
# A reload builds new contexts; requests go on over TLS.
{
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 10),
       'reload with TLS upstreams');
    my ($st) = get('/v/ok/after-reload');
    is($st, 200, 'verified TLS after the reload');
}
$t->check_log;
$t->stop;

# ---- configuration errors -------------------------------------------------------

my $srv = "listen 127.0.0.1:%%PORT_2%%;";
conf_err($t, 'noca.conf', <<"EOF", 'proxy_pass', qr/proxy_ssl_trusted_certificate/,
http { server { $srv location / { proxy_ssl_verify on;
    proxy_pass https://127.0.0.1:%%PORT_6%%;
} } }
EOF
    'verify without trusted certificates');
conf_err($t, 'missingca.conf', <<"EOF", 'missing.crt', qr/cannot load trusted/,
http { server { $srv
    proxy_ssl_trusted_certificate missing.crt;
    location / { proxy_pass https://127.0.0.1:%%PORT_6%%; }
} }
EOF
    'missing CA file');
conf_err($t, 'badproto.conf', <<"EOF", 'TLSv1.1', qr/TLSv1\.1/,
http { server { $srv location / {
    proxy_ssl_protocols TLSv1.1 TLSv1.2;
    proxy_pass https://127.0.0.1:%%PORT_6%%;
} } }
EOF
    'insecure protocol');
conf_err($t, 'nokey.conf', <<"EOF", 'cli.crt', qr/without "proxy_ssl_certificate_key"/,
http { server { $srv location / {
    proxy_ssl_certificate cli.crt;
    proxy_pass https://127.0.0.1:%%PORT_6%%;
} } }
EOF
    'client certificate without key');
conf_err($t, 'badkey.conf', <<"EOF", 'srv.key', qr/does not match|mismatch/,
http { server { $srv location / {
    proxy_ssl_certificate cli.crt;
    proxy_ssl_certificate_key srv.key;
    proxy_pass https://127.0.0.1:%%PORT_6%%;
} } }
EOF
    'client key that does not match');
conf_err($t, 'ciphers.conf', <<"EOF", 'proxy_ssl_ciphers', qr/invalid "proxy_ssl_ciphers"/,
http { server { $srv location / {
    proxy_ssl_ciphers NOSUCHCIPHER;
    proxy_pass https://127.0.0.1:%%PORT_6%%;
} } }
EOF
    'bad cipher list');
conf_err($t, 'mixport.conf', <<"EOF", 'https://backend.test', qr/http:\/\/ and https:\/\//,
http { server { $srv
    location /a/ { proxy_pass https://backend.test; }
    location /b/ { proxy_pass http://backend.test; }
} }
EOF
    'one host by http:// and https:// without a port');
{
    my $path = $t->write_conf(<<"EOF", name => 'good.conf');
http { server { $srv
    proxy_ssl_trusted_certificate $d/ca.crt;
    proxy_ssl_verify on;
    proxy_ssl_verify_depth 2;
    proxy_ssl_protocols TLSv1.3;
    proxy_ssl_ciphers HIGH:!aNULL;
    location / { proxy_pass https://127.0.0.1:%%PORT_6%%/; }
} }
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 0, 'a complete proxy_ssl_* set is accepted') or diag($out . $err);
}

done_testing;
