#!/usr/bin/perl

# Proxy upgrades: a WebSocket-style upgrade gets 101 and a two-way tunnel
# (bytes echo both ways, large transfers intact, either side's close ends
# it, idle end after proxy_read_timeout); an upstream that declines the
# upgrade answers normally; upgraded connections never go back to the pool.

use strict;
use warnings;

use Test::More;
use IO::Select;
use Time::HiRes qw(time sleep);
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
    log_format ups '$request_uri $status "$upstream_addr" "$upstream_status"';
    access_log %%TESTDIR%%/access.log ups;

    upstream ws { server 127.0.0.1:%%PORT_5%%; }
    upstream wska { server 127.0.0.1:%%PORT_6%%; keepalive 2; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_read_timeout 2s;
        location /ws/ { proxy_pass http://ws; }
        location /wska/ { proxy_pass http://wska; }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'ws');
my $uka = SluiceTest::Upstream->new($t, port => $t->port(6), name => 'wska');
$u->start;
$uka->start;
$t->start;

my $p0 = $t->port(0);

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }
sub hdr { SluiceTest::Upstream::header(@_) }

sub upgrade_req {
    my ($path, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
        . "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n$extra\r\n";
}

# Reads from the client's socket until want bytes are in pending() or
# timeout; returns them (removed from the buffer).
sub read_n {
    my ($c, $want, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $sel = IO::Select->new($c->sock);
    while (length $c->{buf} < $want && time < $deadline) {
        next unless $sel->can_read(0.2);
        my $n = sysread($c->sock, my $d, 262144);
        last unless $n;
        $c->{buf} .= $d;
    }
    return substr($c->{buf}, 0, $want < length $c->{buf} ? $want : length $c->{buf}, '');
}

# Sends data and reads it back at the same time (so neither side blocks).
sub exchange {
    my ($c, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 8);
    my $sock = $c->sock;
    my ($off, $got) = (0, '');
    $got = substr($c->{buf}, 0, length $c->{buf}, '');
    my $sel = IO::Select->new($sock);
    while (length $got < length $data && time < $deadline) {
        my ($r, $w) = IO::Select->select($sel, $off < length $data ? $sel : undef,
            undef, 0.2);
        if ($w && @$w) {
            my $n = syswrite($sock, $data, 65536, $off);
            $off += $n if $n;
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $d, 262144);
            last if defined $n && $n == 0;
            $got .= $d if $n;
        }
    }
    return $got;
}

# ---- the tunnel ----------------------------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
    $c->send(upgrade_req('/ws/chat?greet=HELLO'));
    my ($st, $h) = $c->read_response;
    is($st, 101, 'upgrade: 101');
    like($h->{upgrade} // '', qr/^websocket$/i, 'upgrade: Upgrade: websocket');
    like($h->{connection} // '', qr/\bupgrade\b/i, 'upgrade: Connection: upgrade');
    is($h->{'x-upstream'}, 'ws', 'upgrade: upstream response head passed');
    is(read_n($c, 5), 'HELLO', 'tunnel: upstream bytes sent first reach the client');

    is(exchange($c, 'ping'), 'ping', 'tunnel: bytes echo both ways');
    my $big = SluiceTest::Upstream::body_bytes(3 * 1048576, 11);
    my $back = exchange($c, $big, 10);
    is(length $back, length $big, 'tunnel: 3 MB echoed');
    is(SluiceTest::Upstream::sha($back), SluiceTest::Upstream::body_sha(3 * 1048576, 11),
        'tunnel: 3 MB intact');
    my $httpish = "after\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    is(exchange($c, $httpish), $httpish,
        'tunnel: HTTP-looking bytes are just bytes');

    my $r = $u->last_request;
    is(hdr($r, 'Upgrade'), 'websocket', 'upgrade: Upgrade forwarded');
    like(hdr($r, 'Connection') // '', qr/\bupgrade\b/i, 'upgrade: Connection: upgrade forwarded');
    is(hdr($r, 'Sec-WebSocket-Key'), 'dGhlIHNhbXBsZSBub25jZQ==', 'upgrade: other fields forwarded');

    shutdown($c->sock, 1);
    ok(wait_for(sub { grep { $_->{ev} eq 'tunnel' } $u->events }, 3),
        'tunnel: client close reaches the upstream');
    ok($c->wait_closed(3), 'tunnel: then the client connection closes');
    my ($ev) = grep { $_->{ev} eq 'tunnel' } $u->events;
    is($ev->{echoed}, 4 + length($big) + length($httpish), 'tunnel: upstream saw every byte');
    $c->close;
}

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
    $c->send(upgrade_req('/ws/tclose?greet=BYE&tclose=1'));
    my ($st) = $c->read_response;
    is($st, 101, 'upstream closes the tunnel: 101');
    ok($c->wait_closed(3), 'upstream closes the tunnel: client connection closed');
    is($c->pending, 'BYE', 'upstream closes the tunnel: its last bytes delivered');
    $c->close;
}

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 8);
    $c->send(upgrade_req('/ws/idle'));
    my ($st) = $c->read_response;
    is($st, 101, 'idle tunnel: 101');
    is(exchange($c, 'x'), 'x', 'idle tunnel: works');
    my $start = time;
    my $closed = $c->wait_closed(6);
    my $el = time - $start;
    ok($closed && $el > 1.5 && $el < 4.5,
        sprintf('idle tunnel: closed after proxy_read_timeout 2s (%.2fs)', $el));
    $c->close;
}

# ---- declined, keepalive -----------------------------------------------------------------------------

{
    my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
    $c->send(upgrade_req('/ws/declined?upgrade=0&len=10'));
    my ($st, $h, $b) = $c->read_response;
    is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(10),
        'upgrade declined by the upstream: normal response');
    $c->get('/ws/next?len=3&seed=1');
    ($st, $h, $b) = $c->read_response;
    is("$st " . ($b // ''), '200 ' . SluiceTest::Upstream::body_bytes(3, 1),
        'upgrade declined: the connection goes on as HTTP');
    $c->close;
}

{
    my ($st) = parse_response(http_get($p0, '/wska/warm'));
    is($st, 200, 'keepalive group: 200');
    my $acc = $uka->accepts;
    my $c = SluiceTest::Client->new(port => $p0, timeout => 5);
    $c->send(upgrade_req('/wska/up'));
    ($st) = $c->read_response;
    is($st, 101, 'keepalive group: upgrade 101');
    is(exchange($c, 'abc'), 'abc', 'keepalive group: tunnel works');
    $c->close;
    ok(wait_for(sub { grep { $_->{ev} eq 'tunnel' } $uka->events }, 3),
        'keepalive group: tunnel ended');
    my @ok;
    for my $i (1 .. 3) {
        my ($s, $h, $b) = parse_response(http_get($p0, "/wska/after$i"));
        push @ok, ($s // '-') . ' ' . (echo($b)->{target} // '-');
    }
    is("@ok", '200 /wska/after1 200 /wska/after2 200 /wska/after3',
        'keepalive group: requests after a tunnel answered');
    my @r = grep { $_->{target} =~ m{^/wska/after} } $uka->requests;
    my %tunnel_conn = map { $_->{conn} => 1 }
        grep { $_->{target} eq '/wska/up' } $uka->requests;
    ok(!grep({ $tunnel_conn{$_->{conn}} } @r),
        'keepalive group: the upgraded connection was not reused');
}

$t->stop;
$u->stop;
$uka->stop;

{
    my $log = $t->read_file('access.log') // '';
    my $a = $u->addr;
    like($log, qr{^/ws/chat\?greet=HELLO 101 "\Q$a\E" "101"$}m, 'access log: upgrade logged with 101');
}

done_testing;
