#!/usr/bin/perl

# OCSP stapling from a file: with `ssl_stapling on; ssl_stapling_file F;`
# a client asking for the certificate status (s_client -status) gets the
# configured response, also in a server block chosen by SNI; a server
# without stapling sends none; a reload re-reads the file (a "good"
# response replaced by a "revoked" one); a missing, empty or non-OCSP file
# and stapling without a file are configuration errors with file:line.
# The responses are made at test time with `openssl ocsp`.

use strict;
use warnings;

use Test::More;
use SluiceTest;
use SluiceTest::Certs;

my $t = SluiceTest->new(need_ctl => 1);
my $d = $t->testdir;

self_signed($t, 'ca', '/CN=OCSP-Test-CA');
issue_cert($t, 'a', '/CN=a.test', 'ca', serial => '0x1234');

# A response for a.crt with the given index status (V good, R revoked).
sub ocsp_response {
    my ($status, $out) = @_;
    my $exp = '991231235959Z';
    my $line = $status eq 'R'
        ? "R\t$exp\t260101000000Z\t1234\tunknown\t/CN=a.test\n"
        : "V\t$exp\t\t1234\tunknown\t/CN=a.test\n";
    $t->write_file('index.txt', $line);
    ossl($t, qw(ocsp -no_nonce), '-issuer', "$d/ca.crt", '-cert', "$d/a.crt",
         '-reqout', "$d/req.der");
    ossl($t, qw(ocsp -ndays 1), '-index', "$d/index.txt", '-rsigner',
         "$d/ca.crt", '-rkey', "$d/ca.key", '-CA', "$d/ca.crt", '-reqin',
         "$d/req.der", '-respout', $out);
}
ocsp_response('V', "$d/good.der");
ocsp_response('R', "$d/revoked.der");
$t->write_file('stapled.der', $t->read_file('good.der'));

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
http {
    access_log off;
    ssl_certificate a.crt;
    ssl_certificate_key a.key;
    server {
        listen 127.0.0.1:%%PORT_0%% ssl default_server;
        server_name a.test;
        ssl_stapling on;
        ssl_stapling_file stapled.der;
        location / { return 200 "stapled"; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name none.test;
        location / { return 200 "none"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl default_server;
        server_name none.test;
        location / { return 200 "none"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        server_name a.test;
        ssl_stapling on;
        ssl_stapling_file stapled.der;
        location / { return 200 "stapled"; }
    }
}
EOF
$t->start;

sub status {
    my ($port, $name, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd(['openssl', 's_client',
        '-connect', "127.0.0.1:$port", '-servername', $name, '-status',
        '-ign_eof', @args],
        stdin => "GET / HTTP/1.1\r\nHost: $name\r\nConnection: close\r\n\r\n",
        timeout => 10);
    return $out . $err;
}

for my $v ('-tls1_3', '-tls1_2') {
    my $o = status($t->port(0), 'a.test', $v);
    like($o, qr/OCSP Response Status: successful/, "$v: response stapled");
    like($o, qr/Cert Status: good/, "$v: status good");
    like($o, qr/Serial Number: 1234/, "$v: for the server certificate");
    $o = status($t->port(0), 'none.test', $v);
    like($o, qr/OCSP response: no response sent/,
         "$v: no stapling in a server without it (SNI)");
    like($o, qr/\r\n\r\nnone/, "$v: request answered there");
}
{
    my $o = status($t->port(1), 'a.test');
    like($o, qr/OCSP Response Status: successful/,
         'stapled by a server block chosen by SNI');
    $o = status($t->port(1), 'none.test');
    like($o, qr/OCSP response: no response sent/, 'not by its default');
}

# ---- reload re-reads the file ----------------------------------------------

{
    $t->write_file('stapled.der', $t->read_file('revoked.der'));
    my %old = map { $_ => 1 } $t->worker_pids;
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload') or diag($out . $err);
    ok(wait_for(sub { !grep { $old{$_} } $t->worker_pids }, 15),
       'old workers gone');
    my $o = status($t->port(0), 'a.test');
    like($o, qr/Cert Status: revoked/, 'the new file is stapled');
}

# ---- configuration errors --------------------------------------------------

my $srv = "listen 127.0.0.1:%%PORT_2%% ssl;\n ssl_certificate a.crt;\n"
    . " ssl_certificate_key a.key;\n";
conf_err($t, 'missing.conf', <<"EOF", 'missing.der', qr/cannot open/,
http { server { $srv
    ssl_stapling on;
    ssl_stapling_file missing.der;
} }
EOF
    'missing file');
$t->write_file('empty.der', '');
conf_err($t, 'empty.conf', <<"EOF", 'empty.der', qr/empty/,
http { server { $srv
    ssl_stapling on;
    ssl_stapling_file empty.der;
} }
EOF
    'empty file');
conf_err($t, 'garbage.conf', <<"EOF", 'ssl_stapling_file a.crt', qr/not a DER OCSP response/,
http { server { $srv
    ssl_stapling on;
    ssl_stapling_file a.crt;
} }
EOF
    'a PEM certificate instead of a response');
conf_err($t, 'nofile.conf', <<"EOF", 'server {', qr/needs "ssl_stapling_file"/,
http {
    server { $srv
    ssl_stapling on;
} }
EOF
    'stapling without a file');
conf_err($t, 'badflag.conf', <<"EOF", 'ssl_stapling yes', qr/"on" or "off"/,
http { server { $srv
    ssl_stapling yes;
} }
EOF
    'bad ssl_stapling value');

$t->stop;
done_testing;
