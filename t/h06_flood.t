#!/usr/bin/perl

# A client that pipelines requests without reading the responses: the
# worker must not block on it (others are served promptly) and must drop
# it once send_timeout passes without progress.  This is also the
# send_timeout test: thousands of small pipelined responses fill the
# socket buffers that one small response cannot.

use strict;
use warnings;

use Test::More;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    access_log off;
    send_timeout 2s;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "flood response body, padded to some length ........................................"; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);
my @workers = $t->worker_pids;

# a socket with a small receive buffer, connected
my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
$s->connect(pack_sockaddr_in($p0, inet_aton('127.0.0.1'))) or die "connect: $!";
$s->blocking(0);

my $one = "GET /flood HTTP/1.1\r\nHost: localhost\r\n\r\n";
my $chunk = $one x 100;
my ($sent_req, $stalled, $write_err) = (0, 0, '');
my $sel = IO::Select->new($s);
my $t0 = time;
while (time - $t0 < 4) {
    my $n = syswrite($s, $chunk);
    if (defined $n) {
        $sent_req += int($n / length $one);
        if ($n < length $chunk) {
            # finish the partial request so the stream stays well-formed
            my $rest = substr($chunk, $n, length($one) - $n % length($one));
            SluiceTest::_send_all($s, $rest, time + 1) and $sent_req++;
        }
        next;
    }
    if (!($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR})) {
        $write_err = "$!";    # the server may already have given up
        $write_err .= sprintf(' after %.2fs', time - $t0);
        last;
    }
    if (!$sel->can_write(1)) {
        $stalled = 1;
        last;
    }
}
ok($stalled || $write_err, "flooding client stopped after $sent_req "
    . 'pipelined requests without reading ('
    . ($stalled ? 'stalled' : "write failed: $write_err") . ')');
cmp_ok($sent_req, '>', 1000, 'many requests pipelined');
if ($write_err =~ /after ([\d.]+)s/) {
    cmp_ok($1, '>', 1.5, 'the server did not give up before send_timeout (2s)');
}

# meanwhile, the same worker serves others promptly
my ($ok, $worst) = (0, 0);
for my $i (1 .. 10) {
    my $t1 = time;
    my ($st) = parse_response(http_get($p0, "/other$i", _timeout => 3));
    my $dt = time - $t1;
    $worst = $dt if $dt > $worst;
    $ok++ if defined $st && $st == 200;
    sleep 0.1;
}
is($ok, 10, 'other clients served while one does not read');
cmp_ok($worst, '<', 1, sprintf('promptly (slowest %.3fs)', $worst));

# after send_timeout (2s) without progress the server drops the flooder:
# reading now yields what was buffered, then the end, long before all
# responses
sleep 3;
my ($got, $closed) = ('', 0);
my $deadline = time + 8;
my $nresp = 0;
while (time < $deadline) {
    last unless $sel->can_read($deadline - time);
    my $buf;
    my $n = sysread($s, $buf, 1 << 20);
    if (!$n) {
        next if !defined $n && ($!{EAGAIN} || $!{EINTR});
        $closed = 1;
        last;
    }
    $nresp += () = $buf =~ m{HTTP/1\.1 200 }g;
}
close $s;
ok($closed, "send_timeout: connection closed ($nresp of $sent_req responses "
    . 'delivered)');
cmp_ok($nresp, '<', $sent_req, 'send_timeout: the rest was not served');

is_deeply([$t->worker_pids], \@workers, 'worker still the same process');
my ($st) = parse_response(http_get($p0, '/after'));
is($st, 200, 'served normally afterwards');

$t->stop;

done_testing;
