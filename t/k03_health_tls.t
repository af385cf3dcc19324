#!/usr/bin/perl

# Health checks over TLS: a group used with proxy_pass https:// is checked
# over TLS without being told (a TLS server goes up, a server that answers
# plain HTTP goes down with the OpenSSL reason in the log, and requests
# avoid it); `tls` on a group used over plain HTTP, with verification
# against the right CA and SNI (tls_name=) up, against another CA down;
# tls=off keeps a plain check for an https:// group; type=tcp with tls
# checks the handshake alone; the states as sluicectl servers shows them;
# configuration errors with file:line.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Load;
use SluiceTest::Upstream;
use SluiceTest::TlsFront;
use SluiceTest::Certs;

my $t = SluiceTest->new;
my $d = $t->testdir;

self_signed($t, $_, "/CN=sluice-test-$_") for qw(ca ca2);
issue_cert($t, 'srv', '/CN=up.test', 'ca', san => 'DNS:up.test');

# PORT_5: plain upstream; PORT_6: TLS in front of it; PORT_8: answers
# plain HTTP at once and closes (a TLS handshake with it fails at once).
my $up = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'b');
$up->start;
my $tls = SluiceTest::TlsFront->new($t, port => $t->port(6),
    backend => $t->port(5), cert => "$d/srv.crt", key => "$d/srv.key",
    name => 'f');
$tls->start;
SluiceTest::TlsFront::plain($t, port => $t->port(8));

my ($p5, $p6, $p8) = map { '127.0.0.1:' . $t->port($_) } 5, 6, 8;

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
http {
    access_log off;
    upstream auto {
        server 127.0.0.1:%%PORT_6%%;
        server 127.0.0.1:%%PORT_8%%;
        health_check uri=/health interval=200ms fall=2 rise=2;
    }
    upstream verified {
        server 127.0.0.1:%%PORT_6%%;
        health_check tls tls_verify=on tls_trusted_certificate=ca.crt
                     tls_name=up.test uri=/v interval=200ms rise=1 fall=1;
    }
    upstream wrongca {
        server 127.0.0.1:%%PORT_6%%;
        health_check tls tls_verify=on tls_trusted_certificate=ca2.crt
                     host=up.test interval=200ms rise=1 fall=1;
    }
    upstream offtls {
        server 127.0.0.1:%%PORT_5%%;
        health_check tls=off uri=/off interval=200ms rise=1 fall=1;
    }
    upstream plain {
        server 127.0.0.1:%%PORT_5%%;
        health_check uri=/plain interval=200ms rise=1 fall=1;
    }
    upstream tcp {
        server 127.0.0.1:%%PORT_6%%;
        server 127.0.0.1:%%PORT_8%%;
        health_check type=tcp tls interval=200ms rise=1 fall=1;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /a/ { proxy_pass https://auto; }
        location /off/ { proxy_pass https://offtls; }
        location /v/ { proxy_pass http://verified; }
        location /w/ { proxy_pass http://wrongca; }
        location /p/ { proxy_pass http://plain; }
        location /t/ { proxy_pass http://tcp; }
    }
}
EOF
$t->start;

sub health { server_rec($t, @_)->{health} // '' }
sub reach {
    my ($u, $addr, $state) = @_;
    return wait_for(sub { health($u, $addr) eq $state }, 15, 0.05);
}

ok(reach('auto', $p6, 'up'), 'https:// group: the TLS server checks up');
ok(reach('auto', $p8, 'down'),
   'https:// group: a server that answers plain HTTP checks down');
like($t->error_log, qr/upstream server \Q$p8\E in "auto" is down after \d+ (?#
    )failed checks, last: .*wrong version number/,
    'the transition is logged with the OpenSSL reason');
{
    my ($ok, @st) = (0);
    for my $i (1 .. 6) {
        my ($st) = parse_response(http_get($t->port(0), "/a/$i"));
        push @st, $st // 'none';
        $ok++ if ($st // 0) == 200;
    }
    is($ok, 6, 'requests go to the server that is up')
        or diag("statuses: @st\n" . $t->error_log);
}

ok(reach('verified', $p6, 'up'), 'tls with verification and the right CA: up');
{
    my @sni = map { $_->{sni} } $tls->handshakes;
    ok((grep { $_ eq 'up.test' } @sni), 'tls_name= is sent as SNI');
}
ok(reach('wrongca', $p6, 'down'), 'verification against another CA: down');
like($t->error_log,
     qr/upstream server \Q$p6\E in "wrongca" is down .*verify error/,
     'the verify error is logged');

ok(reach('offtls', $p5, 'up'), 'tls=off: a plain check of an https:// group');
ok(reach('plain', $p5, 'up'), 'a plain group: a plain check');
{
    my %seen = map { $_->{target} => 1 } $up->requests;
    ok($seen{'/off'} && $seen{'/plain'}, 'the plain checks reached the server');
    ok($seen{'/v'} && $seen{'/health'}, 'the TLS checks reached it through TLS');
}
ok(reach('tcp', $p6, 'up'), 'type=tcp tls: a handshake is the check');
ok(reach('tcp', $p8, 'down'), 'type=tcp tls: no handshake, down');

# The TLS server goes away: down; back: up.
$tls->stop;
ok(reach('auto', $p6, 'down'), 'TLS server stopped: down');
$tls->start;
ok(reach('auto', $p6, 'up'), 'TLS server back: up');

$t->check_log;
$t->stop;

# ---- configuration errors -------------------------------------------------------

conf_err($t, 'noca.conf', <<'EOF', 'health_check', qr/tls_trusted_certificate/,
http { upstream u { server 127.0.0.1:1;
    health_check tls tls_verify=on;
} }
EOF
    'tls_verify=on without a CA');
conf_err($t, 'missing.conf', <<'EOF', 'health_check',
http { upstream u { server 127.0.0.1:1;
    health_check tls tls_trusted_certificate=missing.crt;
} }
EOF
    qr/cannot load trusted certificates/, 'missing CA file');
conf_err($t, 'badtls.conf', <<'EOF', 'health_check', qr/invalid parameter "tls=maybe"/,
http { upstream u { server 127.0.0.1:1;
    health_check tls=maybe;
} }
EOF
    'tls=maybe');

done_testing;
