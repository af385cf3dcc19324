#!/usr/bin/perl

# Slowloris: several hundred connections trickling partial heads must not
# keep a normal client from being served promptly, and the default
# client_header_timeout (10s, from the first byte) cuts them all off.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my $WANT = 500;

# Make sure we may open enough sockets; re-exec once under a raised limit.
sub nofile {
    my $n = `sh -c 'ulimit -n' 2>/dev/null`;
    chomp $n if defined $n;
    return (defined $n && $n =~ /^\d+$/) ? $n : ($n && $n eq 'unlimited' ? 1e6 : 1024);
}

if (nofile() < $WANT + 100 && !$ENV{SLUICE_TEST_REEXEC}) {
    $ENV{SLUICE_TEST_REEXEC} = 1;
    my @inc = map { "-I$_" } grep { !ref } @INC;
    exec 'sh', '-c', 'ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" '
        . '2>/dev/null; exec "$@"', 'sh', $^X, @inc, $0, @ARGV;
}

use SluiceTest;

my $count = $WANT;
my $lim = nofile();
$count = $lim - 100 if $lim - 100 < $count;
plan(skip_all => "open files limit $lim too low") if $count < 50;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
events {
    worker_connections 4096;
}
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF

$t->start;
my $p0 = $t->port(0);
my $T0 = time;

# ---- open the slow connections ---------------------------------------------------

my @slow;
for my $i (1 .. $count) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p0,
        Proto => 'tcp', Timeout => 2);
    last unless $s;
    $s->blocking(0);
    syswrite($s, "GET /slow$i HTTP/1.1\r\nHost: localhost\r\n");
    push @slow, { sock => $s, open => 1, raw => '' };
}
my $opened = @slow;
cmp_ok($opened, '>=', $count * 0.9, "opened $opened slow connections")
    or diag("connect failed: $!");
my $first_byte = time;

# ---- meanwhile a normal client ---------------------------------------------------------

my ($good, $worst, $trickled) = (0, 0, 0);
my $last_trickle = time;
for my $i (1 .. 50) {
    my $t1 = time;
    my $r = http_ex("GET /normal$i HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n", port => $p0, timeout => 5);
    my $dt = time - $t1;
    my ($st, undef, $body) = parse_response($r->{raw});
    $good++ if defined $st && $st == 200 && $body eq 'ok';
    $worst = $dt if $dt > $worst;

    # every ~0.5 s, one more header byte on every slow connection
    if (time - $last_trickle > 0.5) {
        for my $c (@slow) {
            next unless $c->{open};
            my $n = syswrite($c->{sock}, "X-$i: y\r\n");
            $trickled++ if $n;
        }
        $last_trickle = time;
    }
    sleep 0.08;
}

is($good, 50, 'all 50 normal requests served while slow clients trickle');
cmp_ok($worst, '<', 2, sprintf('slowest normal request %.3fs', $worst));
ok($trickled > 0, "slow clients kept trickling ($trickled writes)");

# ---- the default header timeout (10s from the first byte) cuts them off -----------

my $sel = IO::Select->new(map { $_->{sock} } @slow);
my %by_sock = map { ($_->{sock} + 0) => $_ } @slow;
my $deadline = $first_byte + 16;
my $last_write = time;
while (time < $deadline && grep { $_->{open} } @slow) {
    for my $s ($sel->can_read(0.2)) {
        my $c = $by_sock{$s + 0};
        my $buf;
        my $n = sysread($s, $buf, 4096);
        if (defined $n && $n > 0) {
            $c->{raw} .= $buf;
            next;
        }
        next if !defined $n && ($!{EAGAIN} || $!{EINTR});
        $c->{open} = 0;
        $c->{closed_at} = time;
        $sel->remove($s);
    }
    if (time - $last_write > 0.5) {
        for my $c (grep { $_->{open} && $_->{raw} eq '' } @slow) {
            syswrite($c->{sock}, "X-Late: y\r\n");
        }
        $last_write = time;
    }
}
my @closed = grep { !$_->{open} } @slow;
is(scalar @closed, $opened, sprintf('default client_header_timeout closed all '
    . 'slow connections (%d of %d)', scalar @closed, $opened));
my $early = grep { $_->{closed_at} - $first_byte < 8 } @closed;
is($early, 0, 'none closed long before the 10s header timeout');
my $with408 = grep { $_->{raw} =~ m{^HTTP/1\.1 408 } } @closed;
is($with408, scalar @closed, 'each got a 408');

close $_->{sock} for @slow;

{
    my ($st, undef, $body) = parse_response(http_get($p0, '/'));
    is("$st $body", '200 ok', 'served normally afterwards');
}

cmp_ok(time - $T0, '<', 30, sprintf('bounded in time (%.1fs)', time - $T0));

$t->stop;

done_testing;
