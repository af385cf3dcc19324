#!/usr/bin/perl

# Slow TLS clients do not starve normal ones.
#
# Phase 1 (plenty of slots): 250 slow connections to a TLS listener --
# 150 that connect and never send a ClientHello, 50 that send part of a
# TLS record and stop, 50 that finish the handshake and then drip the
# request head a byte every 0.5 s -- while a normal HTTPS client makes a
# new connection and a request every 0.2 s.  Every normal request is
# answered, each well within a generous bound, and the server cuts every
# slow connection: the handshake and the head are bounded by
# client_header_timeout (2 s here), the dripped head gets a 408.
#
# Phase 2 (worker_connections 64, two workers): 300 silent connections
# fill the slots; a worker out of slots closes the oldest handshaking
# connections instead of refusing new clients, so normal requests are
# still answered, long before client_header_timeout (30 s) would cut the
# silent ones.
#
# The numbers (latencies, when the slow ones were cut) are printed with
# diag.  Bounded: at most 300 connections, about 15 s.
#
# First, the "Hardened example" of sluice.conf.5 passes `sluice -t` once
# the files it names exist.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use FindBin;
use SluiceTest;
use SluiceTest::Certs;

BEGIN {
    eval { require IO::Socket::SSL; 1 }
        or plan(skip_all => 'IO::Socket::SSL not installed');
}

my $t = SluiceTest->new(need_ctl => 0);
my $d = $t->testdir;

self_signed($t, 'a', '/CN=a.test');

# ---- the hardened example of the manual --------------------------------------

{
    my $man = SluiceTest::_slurp("$FindBin::Bin/../man/sluice.conf.5") // '';
    my ($ex) = $man =~ /^\.Ss Hardened example\n.*?^\.Bd -literal[^\n]*\n(.*?)^\.Ed$/ms;
    ok(defined $ex && $ex =~ /ssl_stapling_file/,
       'hardened example found in sluice.conf.5');
    $ex //= '';
    $ex =~ s/\\e/\\/g;
    my $path = $t->write_conf($ex, name => 'hardened.conf', raw => 1);
    $t->write_file('example.com.crt', $t->read_file('a.crt'));
    $t->write_file('example.com.key', $t->read_file('a.key'));
    $t->write_file('ops-ca.crt', $t->read_file('a.crt'));
    $t->write_file('htpasswd', "admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
    $t->write_file('index.txt', "V\t991231235959Z\t\t01\tunknown\t/CN=x\n");
    for my $argv (['-no_nonce', '-issuer', "$d/a.crt", '-cert', "$d/a.crt",
                   '-reqout', "$d/req.der"],
                  ['-index', "$d/index.txt", '-rsigner', "$d/a.crt",
                   '-rkey', "$d/a.key", '-CA', "$d/a.crt", '-reqin',
                   "$d/req.der", '-respout', "$d/example.com.ocsp.der"])
    {
        ossl($t, 'ocsp', @$argv);
    }
    my ($trc, $to, $te) = $t->run_t({ conf => $path });
    is($trc, 0, 'the hardened example passes sluice -t') or diag($to . $te);
}

sub conf {
    my ($wc, $cht) = @_;
    return <<"EOF";
%%MAIN%%
worker_processes 2;
events { worker_connections $wc; }
http {
    access_log off;
    client_header_timeout $cht;
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        location / { return 200 "fine"; }
    }
}
EOF
}

my $port;

# One normal HTTPS request on a new connection: (status, seconds).
sub normal_request {
    my $t0 = time;
    my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$port",
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        SSL_hostname => 'a.test', Timeout => 10);
    return (0, time - $t0) unless $s;
    print $s "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    my $resp = '';
    while (1) {
        my $n = sysread($s, my $buf, 4096);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($st) = $resp =~ m{^HTTP/1\.1 (\d+)};
    $st = 0 unless defined $st && $resp =~ /\r\n\r\nfine\z/;
    return ($st, time - $t0);
}

sub silent_conn {
    return IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                 Timeout => 5);
}

sub stats {
    my @v = sort { $a <=> $b } @_;
    return 'none' unless @v;
    return sprintf('n=%d min=%.3fs median=%.3fs max=%.3fs', scalar @v,
                   $v[0], $v[$#v / 2], $v[-1]);
}

# ---- phase 1 -----------------------------------------------------------------

$t->write_conf(conf(4096, '2s'));
$t->start;
$port = $t->port(0);

{
    my (@slow, %kind_n);
    my $add = sub {
        my ($kind, $s) = @_;
        return unless $s;
        push @slow, { kind => $kind, s => $s, t0 => time, closed => undef,
                      got => '' };
        $kind_n{$kind}++;
    };
    $add->('silent', silent_conn()) for 1 .. 150;
    for (1 .. 50) {
        my $s = silent_conn();
        # A handshake record header announcing 512 bytes, and 20 of them.
        syswrite($s, "\x16\x03\x01\x02\x00" . ("\x01" x 20)) if $s;
        $add->('partial', $s);
    }
    for (1 .. 50) {
        my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$port",
            SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
            SSL_hostname => 'a.test', Timeout => 10);
        if ($s) {
            $s->blocking(0);
            syswrite($s, "GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: ");
        }
        $add->('drip', $s);
    }
    is($kind_n{silent} // 0, 150, '150 silent connections open');
    is($kind_n{partial} // 0, 50, '50 partial-ClientHello connections open');
    is($kind_n{drip} // 0, 50, '50 handshaken connections dripping a head');

    my (@lat, @bad);
    my $start = time;
    my $next_normal = $start;
    my $next_drip = $start;
    while (time - $start < 30) {
        my @open = grep { !defined $_->{closed} } @slow;
        last if !@open && @lat >= 20;
        if (time >= $next_drip) {
            $next_drip += 0.5;
            for my $c (grep { $_->{kind} eq 'drip' } @open) {
                syswrite($c->{s}, 'a');
            }
        }
        if (time >= $next_normal && @lat < 40) {
            $next_normal += 0.2;
            my ($st, $dt) = normal_request();
            push @lat, $dt;
            push @bad, "status $st" if $st != 200;
            next;
        }
        my $sel = IO::Select->new(map { $_->{s} } @open);
        for my $fh ($sel->can_read(0.05)) {
            my ($c) = grep { $_->{s} == $fh } @open;
            my $n = sysread($fh, my $buf, 4096);
            if (defined $n && $n > 0) {
                $c->{got} .= $buf;
                next;
            }
            next if !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK}
                                    || ($c->{kind} eq 'drip'
                                        && $IO::Socket::SSL::SSL_ERROR
                                        == IO::Socket::SSL::SSL_WANT_READ()));
            $c->{closed} = time - $c->{t0};
        }
    }
    cmp_ok(scalar @lat, '>=', 20, scalar(@lat) . ' normal requests made');
    is(scalar @bad, 0, 'every normal request answered 200')
        or diag("@bad");
    cmp_ok((sort { $b <=> $a } @lat)[0], '<', 3,
           'each normal request took < 3 s (under load from slow clients)');
    diag('normal requests: ' . stats(@lat));
    for my $k (qw(silent partial drip)) {
        my @c = grep { $_->{kind} eq $k } @slow;
        my @cut = map { $_->{closed} } grep { defined $_->{closed} } @c;
        is(scalar @cut, scalar @c, "every $k connection was cut");
        # Measured by this loop, which a loaded machine slows down: the
        # bound is loose on purpose (the timeouts are 2 s).
        cmp_ok((sort { $b <=> $a } @cut)[0] // 99, '<', 25,
               "$k: cut by the timeouts (2 s, plus 2 s for the head "
               . "after a handshake, plus margin for a loaded machine)");
        cmp_ok((sort { $a <=> $b } @cut)[0] // 0, '>=', 1.5,
               "$k: not before client_header_timeout");
        diag("$k connections cut after: " . stats(@cut));
    }
    my @drip408 = grep { $_->{kind} eq 'drip' && $_->{got} =~ /^HTTP\/1\.1 408/ }
        @slow;
    is(scalar @drip408, 50, 'the dripped heads got 408');
    close $_->{s} for @slow;
}
$t->stop;

# ---- phase 2: out of slots ------------------------------------------------------

$t->write_conf(conf(64, '30s'));
$t->start;
{
    my @silent;
    for (1 .. 300) {
        my $s = silent_conn();
        push @silent, { s => $s, t0 => time } if $s;
    }
    is(scalar @silent, 300, '300 silent connections made (kernel accepts)');
    my (@lat, @bad);
    for (1 .. 10) {
        my ($st, $dt) = normal_request();
        push @lat, $dt;
        push @bad, "status $st" if $st != 200;
        sleep 0.1;
    }
    is(scalar @bad, 0, 'with every slot taken, normal requests answered')
        or diag("@bad");
    diag('normal requests with slots full: ' . stats(@lat));
    # How many silent ones the workers closed to make room (30 s timeout).
    my $cut = 0;
    my $sel = IO::Select->new(map { $_->{s} } @silent);
    for my $fh ($sel->can_read(0.5)) {
        my $n = sysread($fh, my $buf, 1);
        $cut++ if defined $n && $n == 0 || !defined $n;
    }
    cmp_ok($cut, '>', 0, "oldest handshaking connections closed for room "
           . "($cut of 300 within " . sprintf('%.1f', time - $silent[0]{t0})
           . ' s)');
    diag("phase 2: $cut of 300 silent connections closed by the drain");
    close $_->{s} for @silent;
}
$t->allow_log(qr/\[crit\].*accept4|worker_connections/);
$t->stop;
done_testing;
