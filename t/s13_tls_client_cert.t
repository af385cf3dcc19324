#!/usr/bin/perl

# Client certificates and per-SNI settings.
#
# ssl_verify_client on: a certificate from the configured CA is accepted
# ($ssl_client_verify SUCCESS, $ssl_client_s_dn/$ssl_client_i_dn in RFC 2253
# form), no certificate gets 400 "No required SSL certificate was sent", a
# certificate from another CA gets 400 "The SSL certificate error" (nginx's
# answers), also for a server-level `return`.  optional: the request goes on
# with NONE / SUCCESS / FAILED:reason.  ssl_verify_depth: a chain through an
# intermediate verifies at the default depth 1, not at depth 0.
#
# The server block chosen by SNI brings its own settings, not only its
# certificate: verify mode, ssl_protocols and ssl_ciphers of a name-based
# server apply, and a session made in one server block does not resume in
# another.  Configuration errors name file:line.

use strict;
use warnings;

use Test::More;
use SluiceTest;
use SluiceTest::Certs;

my $t = SluiceTest->new(need_ctl => 0);
my $d = $t->testdir;

# Two CAs; an intermediate under CA 1; the server certificate and the
# clients: alice (CA 1), mallory (CA 2), carol (intermediate).
self_signed($t, 'ca1', '/CN=Test CA 1');
self_signed($t, 'ca2', '/CN=Test CA 2');
$t->write_file('ext.cnf', "basicConstraints=critical,CA:TRUE\n"
               . "keyUsage=keyCertSign,cRLSign\n");
for my $c (['int', '/CN=Test Intermediate', 'ca1', 1],
           ['srv', '/CN=a.test', 'ca1', 0],
           ['alice', '/O=Sluice/CN=alice', 'ca1', 0],
           ['mallory', '/CN=mallory', 'ca2', 0],
           ['carol', '/CN=carol', 'int', 0])
{
    my ($n, $subj, $ca, $isca) = @$c;
    issue_cert($t, $n, $subj, $ca, $isca ? (extfile => "$d/ext.cnf") : ());
}

my $body = '"v=$ssl_client_verify s=$ssl_client_s_dn i=$ssl_client_i_dn '
    . 'p=$ssl_protocol c=$ssl_cipher n=$ssl_server_name"';
$t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    ssl_certificate srv.crt;
    ssl_certificate_key srv.key;

    # The default server asks for no certificate and allows TLS 1.2-1.3.
    server {
        listen 127.0.0.1:%%PORT_0%% ssl default_server;
        server_name plain.test;
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name on.test;
        ssl_client_certificate ca1.crt;
        ssl_verify_client on;
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name ret.test;
        ssl_client_certificate ca1.crt;
        ssl_verify_client on;
        return 200 "server-level return";
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name opt.test;
        ssl_client_certificate ca1.crt;
        ssl_verify_client optional;
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name shallow.test;
        ssl_client_certificate ca1.crt;
        ssl_verify_client optional;
        ssl_verify_depth 0;
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name tls13.test;
        ssl_protocols TLSv1.3;
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name aes128.test;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;
        location / { return 200 $body; }
    }
}
EOF
$t->start;
my $p0 = $t->port(0);

# (exit code, all output) of one request to name with extra s_client args.
sub get {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd(['openssl', 's_client',
        '-connect', "127.0.0.1:$p0", '-servername', $name, '-ign_eof',
        @args], stdin => "GET / HTTP/1.1\r\nHost: $name\r\n"
                         . "Connection: close\r\n\r\n", timeout => 10);
    return ($rc, $out . $err);
}

my @alice = ('-cert', "$d/alice.crt", '-key', "$d/alice.key");
my @mallory = ('-cert', "$d/mallory.crt", '-key', "$d/mallory.key");
my @carol = ('-cert', "$d/carol.crt", '-key', "$d/carol.key",
             '-cert_chain', "$d/int.crt");

# ---- ssl_verify_client on (reached by SNI from a default server without) --

{
    my ($rc, $o) = get('on.test', @alice);
    like($o, qr{HTTP/1\.1 200}, 'on: good certificate accepted');
    like($o, qr{v=SUCCESS }, 'on: $ssl_client_verify SUCCESS');
    like($o, qr{s=CN=alice,O=Sluice }, '$ssl_client_s_dn (RFC 2253)');
    like($o, qr{i=CN=Test CA 1 }, '$ssl_client_i_dn');
    like($o, qr{n=on\.test(?![.\w])}, '$ssl_server_name');
    like($o, qr{Acceptable client certificate CA names\s*\n\s*CN\s*=\s*Test CA 1}s,
         'on: the CA list is announced after the SNI switch');
}
{
    my ($rc, $o) = get('on.test');
    like($o, qr{HTTP/1\.1 400 }, 'on: no certificate -> 400');
    like($o, qr{No required SSL certificate was sent}, 'on: nginx reason');
    like($o, qr{Connection: close}i, 'on: connection closed after the 400');
}
{
    my ($rc, $o) = get('on.test', @mallory);
    like($o, qr{HTTP/1\.1 400 }, 'on: certificate of another CA -> 400');
    like($o, qr{The SSL certificate error}, 'on: nginx reason');
}
{
    my ($rc, $o) = get('ret.test');
    like($o, qr{HTTP/1\.1 400 }, 'on: a server-level return is checked too');
    unlike($o, qr{server-level return}, 'no body of the return');
    ($rc, $o) = get('ret.test', @alice);
    like($o, qr{server-level return}, 'and answered with a certificate');
}

# ---- optional and depth ---------------------------------------------------

{
    my ($rc, $o) = get('opt.test');
    like($o, qr{HTTP/1\.1 200 .*v=NONE }s, 'optional: none -> 200 NONE');
    ($rc, $o) = get('opt.test', @alice);
    like($o, qr{v=SUCCESS s=CN=alice}, 'optional: good -> SUCCESS');
    ($rc, $o) = get('opt.test', @mallory);
    like($o, qr{HTTP/1\.1 200 .*v=FAILED:(unable to|certificate)}s,
         'optional: other CA -> 200 FAILED:reason');
    like($o, qr{s=CN=mallory }, 'optional: DN of a failed certificate');
    ($rc, $o) = get('opt.test', @carol);
    like($o, qr{v=SUCCESS s=CN=carol i=CN=Test Intermediate },
         'ssl_verify_depth 1 (default): one intermediate verifies');
    ($rc, $o) = get('shallow.test', @carol);
    like($o, qr{v=FAILED:(certificate chain too long|unable to get local issuer)},
         'ssl_verify_depth 0: the intermediate is too deep');
    ($rc, $o) = get('plain.test', @alice);
    like($o, qr{v=NONE }, 'verify off: no certificate asked for');
}

# ---- protocols and ciphers of the SNI server -----------------------------

{
    my ($rc, $o) = get('tls13.test', '-tls1_2');
    isnt($rc, 0, 'ssl_protocols TLSv1.3 of the SNI server: TLS 1.2 refused');
    unlike($o, qr{HTTP/1\.1 200}, 'no answer over TLS 1.2');
    ($rc, $o) = get('tls13.test', '-tls1_3');
    like($o, qr{p=TLSv1\.3 }, 'TLS 1.3 accepted there');
    ($rc, $o) = get('plain.test', '-tls1_2');
    like($o, qr{p=TLSv1\.2 }, 'default server: TLS 1.2 accepted');

    ($rc, $o) = get('aes128.test', '-tls1_3');
    isnt($rc, 0, 'ssl_protocols TLSv1.2 of the SNI server: TLS 1.3 refused');
    ($rc, $o) = get('aes128.test', '-tls1_2', '-cipher',
                    'ECDHE-RSA-AES256-GCM-SHA384');
    isnt($rc, 0, 'ssl_ciphers of the SNI server: other cipher refused');
    ($rc, $o) = get('plain.test', '-tls1_2', '-cipher',
                    'ECDHE-RSA-AES256-GCM-SHA384');
    like($o, qr{c=ECDHE-RSA-AES256-GCM-SHA384 }, 'accepted by the default');
    ($rc, $o) = get('aes128.test', '-tls1_2');
    like($o, qr{c=ECDHE-RSA-AES128-GCM-SHA256 }, 'its own cipher chosen');
}

# ---- a session does not cross server blocks ------------------------------

for my $v ('-tls1_2', '-tls1_3') {
    my $s = "$d/plain$v.sess";
    get('plain.test', $v, '-sess_out', $s);
    my ($rc, $o) = get('plain.test', $v, '-sess_in', $s);
    like($o, qr{^Reused, }m, "$v: resumes in its server block");
    ($rc, $o) = get('on.test', $v, '-sess_in', $s);
    unlike($o, qr{^Reused, }m, "$v: not in a server that checks clients");
    like($o, qr{HTTP/1\.1 400 }, "$v: which wants a certificate");
}

# ---- configuration errors --------------------------------------------------

my $srv = "listen 127.0.0.1:%%PORT_2%% ssl;\n ssl_certificate srv.crt;\n"
    . " ssl_certificate_key srv.key;\n";
conf_err($t, 'noca.conf', <<"EOF", 'ssl_verify_client', qr/no "ssl_client_certificate"/,
http { server { $srv
    ssl_verify_client on;
} }
EOF
    'verify without a CA');
conf_err($t, 'missingca.conf', <<"EOF", 'missing-ca.crt', qr/cannot load client CA/,
http { server { $srv
    ssl_verify_client optional;
    ssl_client_certificate missing-ca.crt;
} }
EOF
    'missing CA file');
conf_err($t, 'badverify.conf', <<"EOF", 'maybe', qr/"on", "optional" or "off"/,
http { server { $srv
    ssl_verify_client maybe;
} }
EOF
    'bad ssl_verify_client value');
conf_err($t, 'baddepth.conf', <<"EOF", 'ssl_verify_depth', qr/invalid number/,
http { server { $srv
    ssl_verify_depth deep;
} }
EOF
    'bad ssl_verify_depth');

$t->stop;
done_testing;
