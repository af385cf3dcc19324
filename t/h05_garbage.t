#!/usr/bin/perl

# Nothing a client sends may crash or hang a worker: mutated and random
# requests (seeded, reproducible with SLUICE_TEST_SEED) are thrown at the
# server in parallel batches; afterwards the same worker processes serve
# normal requests and nothing was logged at alert.

use strict;
use warnings;

use Test::More;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $seed = $ENV{SLUICE_TEST_SEED} // 20261128;
srand($seed);

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
http {
    access_log %%TESTDIR%%/access.log;
    client_header_timeout 3s;
    client_body_timeout 3s;
    client_max_body_size 1k;
    large_client_header_buffers 4 2k;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name localhost;
        location / { return 200 "ok $uri $args $http_x_a"; }
        location = /r { return 302 http://$host$request_uri; }
        location ~* \.(x|y)$ { return 404; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);
ok(wait_for(sub { $t->worker_pids == 2 }, 5), 'two workers');
my @workers = sort $t->worker_pids;

my @seeds = (
    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /r?a=1&b=%20%zz HTTP/1.1\r\nHost: localhost\r\nX-A: v\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5;e=1\r\nhello\r\n0\r\nT: x\r\n\r\n",
    "HEAD /a.x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET http://localhost/abs?q HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n",
);
my @junk = ("\r", "\n", "\0", " ", "\t", ":", "%", "?", "#", "/", "\xff",
    "\x7f", "\"", "\\", "HTTP/1.1", "\r\n", "\r\n\r\n", "Content-Length: ",
    "Transfer-Encoding: chunked\r\n", "Host: x\r\n", "-1", "99999999999999999999",
    "ffffffffffffffff", "0\r\n\r\n", "\$", "{", "}", "..", "/../..", "%00",
    'A' x 3000);

sub mutate {
    my $s = $seeds[int rand @seeds];
    my $n = 1 + int rand 6;
    for (1 .. $n) {
        my $op = int rand 5;
        my $pos = int rand(length($s) + 1);
        if ($op == 0) {            # insert junk
            substr($s, $pos, 0) = $junk[int rand @junk];
        } elsif ($op == 1) {       # delete a span
            substr($s, $pos, 1 + int rand 8) = '' if $pos < length $s;
        } elsif ($op == 2) {       # flip a byte
            substr($s, $pos, 1) = chr(int rand 256) if $pos < length $s;
        } elsif ($op == 3) {       # duplicate a span
            my $len = 1 + int rand 40;
            substr($s, $pos, 0) = substr($s, int(rand(length $s)), $len);
        } else {                   # truncate
            $s = substr($s, 0, $pos);
        }
    }
    # sometimes several requests pipelined, sometimes pure noise
    my $r = rand;
    $s .= mutate_simple() if $r < 0.2;
    $s = join '', map { chr int rand 256 } 1 .. int rand 300 if $r > 0.95;
    return $s;
}

sub mutate_simple { $seeds[int rand @seeds] }

my $T0 = time;
my ($sent, $answered) = (0, 0);
my %status;
for my $batch (1 .. 8) {
    my @c;
    for (1 .. 40) {
        my $s = SluiceTest::_connect($p0, 2) or next;
        my $req = mutate();
        SluiceTest::_send_all($s, $req, time + 1);
        # half the time the client goes away half-way (FIN after the bytes)
        shutdown($s, 1) if rand() < 0.5;
        push @c, { sock => $s, raw => '' };
        $sent++;
    }
    my $sel = IO::Select->new(map { $_->{sock} } @c);
    my %by = map { ($_->{sock} + 0) => $_ } @c;
    my $deadline = time + 1.5;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read($deadline - time)) {
            my $buf;
            my $n = sysread($s, $buf, 65536);
            if ($n) { $by{$s + 0}{raw} .= $buf; next; }
            next if !defined $n && ($!{EAGAIN} || $!{EINTR});
            $sel->remove($s);
        }
    }
    for my $c (@c) {
        if ($c->{raw} =~ m{^HTTP/1\.1 (\d{3}) }) {
            $answered++;
            $status{$1}++;
        }
        close $c->{sock};
    }
}
my $dt = time - $T0;
note(sprintf('seed %s: %d requests, %d answered in %.1fs; statuses %s', $seed,
    $sent, $answered, $dt,
    join ' ', map { "$_:$status{$_}" } sort keys %status));
ok($sent >= 300, "sent $sent mutated requests");
ok(!grep({ !/^(?:200|302|400|404|408|413|414|431|501|505)$/ } keys %status),
    'only expected statuses');

is_deeply([sort $t->worker_pids], \@workers, 'no worker crashed (same pids)');
my $ok = 0;
for my $i (1 .. 20) {
    my ($st, undef, $body) = parse_response(http_get($p0, "/after$i?x=1",
        'X-A' => 'z'));
    $ok++ if defined $st && $st == 200 && $body eq "ok /after$i x=1 z";
}
is($ok, 20, 'normal requests served afterwards');

$t->stop;
like($t->error_log, qr/\S/, 'error log written');
unlike($t->error_log, qr/exited on signal|\[crit\]/, 'no crash, nothing critical logged');

done_testing;
