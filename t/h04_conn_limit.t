#!/usr/bin/perl

# worker_connections: a worker that has used all its connections closes
# its oldest idle keepalive connections first, then the connections that
# have been sending a header for the longest time, so new clients are
# still served.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
events {
    worker_connections 16;
}
http {
    access_log off;
    keepalive_timeout 60s;
    client_header_timeout 60s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);

# ---- idle keepalive connections are reclaimed ------------------------------------

{
    my (@conns, $served);
    $served = 0;
    for my $i (1 .. 40) {
        my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
        next unless $c;
        $c->get("/ka$i");
        my ($st) = $c->read_response;
        $served++ if defined $st && $st == 200;
        push @conns, $c;
    }
    is($served, 40, '40 keepalive clients served one after another with '
        . 'worker_connections 16');
    my @closed = grep { $_->wait_closed(0.05) } @conns;
    cmp_ok(scalar @closed, '>=', 40 - 16,
        'idle keepalive connections closed to make room (' . scalar(@closed)
        . ')');
    ok(!$conns[-1]->wait_closed(0.2), 'the newest connection is kept');
    ok($conns[0]->wait_closed(0.2), 'the oldest connection was closed');
    $_->close for @conns;
}

# ---- then connections stuck in a header ---------------------------------------------

{
    my @slow;
    for my $i (1 .. 30) {
        my $c = SluiceTest::Client->new(port => $p0, timeout => 5) or next;
        $c->send("GET /slow$i HTTP/1.1\r\nHost: localhost\r\n");
        push @slow, $c;
        sleep 0.01;
    }
    my $t0 = time;
    my $ok = 0;
    for my $i (1 .. 5) {
        my ($st) = parse_response(http_get($p0, "/new$i", _timeout => 5));
        $ok++ if defined $st && $st == 200;
    }
    my $dt = time - $t0;
    is($ok, 5, 'new clients served while 30 connections hang in their '
        . 'header');
    cmp_ok($dt, '<', 5, sprintf('promptly (%.2fs for 5 requests)', $dt));
    my @closed = grep { $_->wait_closed(0.05) } @slow;
    cmp_ok(scalar @closed, '>=', 30 - 16, 'connections stuck in a header '
        . 'closed to make room (' . scalar(@closed) . ')');
    ok($slow[0]->wait_closed(0.2), 'the oldest header connection was closed');
    $_->close for @slow;
}

{
    my ($st, undef, $body) = parse_response(http_get($p0, '/'));
    is("$st $body", '200 ok', 'served normally afterwards');
}

# Running out of connections may be logged; it must not be an alert.
$t->stop;

done_testing;
