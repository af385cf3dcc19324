package SluiceTest::Load;

# Load generation for the balancing and health tests: many requests at
# once from one process, and tallies of which upstream answered.

use strict;
use warnings;

use Exporter qw(import);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest qw(parse_response);
use JSON::PP ();

our @EXPORT = qw(load tally fmt servers_json server_rec);

# Runs n requests against 127.0.0.1:port, conc at a time, each on a new
# connection, in this one process (non-blocking sockets and select).
# Options: n, conc (default 4), path (string, or sub(i) returning the
# target), local (sub(i) returning the source address to bind), timeout
# (for the whole run, default 20 s), duration (start no new request
# after that many seconds; n is then a maximum).  Returns one hash per request, in
# the order of i: { i, status ('none' when nothing came back), up (the
# X-Upstream header, '' when none), t0 and t1 (when it started and
# ended), elapsed }.
sub load {
    my ($port, %o) = @_;
    my $n = $o{n} // 100;
    my $conc = $o{conc} // 4;
    my $begin = time;
    my $deadline = $begin + ($o{timeout} // 20);
    my $stop_at = defined $o{duration} ? $begin + $o{duration} : $deadline;
    my $path = $o{path} // '/';
    my (@res, %live);
    my $next = 0;
    my $sel = IO::Select->new;

    my $start_one = sub {
        my $i = $next++;
        my $p = ref $path ? $path->($i) : $path;
        my %args = (PeerAddr => '127.0.0.1', PeerPort => $port,
            Proto => 'tcp', Timeout => 3);
        $args{LocalAddr} = $o{local}->($i) if $o{local};
        my $s = IO::Socket::INET->new(%args);
        if (!$s) {
            $res[$i] = { i => $i, status => 'none', up => '',
                t0 => time, t1 => time, elapsed => 0,
                error => "connect: $!" };
            return;
        }
        binmode $s;
        my $req = "GET $p HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n\r\n";
        syswrite($s, $req);
        $s->blocking(0);
        $live{fileno $s} = { s => $s, i => $i, buf => '', t0 => time };
        $sel->add($s);
    };
    my $finish = sub {
        my ($c) = @_;
        $sel->remove($c->{s});
        delete $live{fileno $c->{s}};
        close $c->{s};
        my ($st, $h) = parse_response($c->{buf});
        $res[$c->{i}] = { i => $c->{i}, status => $st // 'none',
            up => ($h && $h->{'x-upstream'}) // '',
            t0 => $c->{t0}, t1 => time, elapsed => time - $c->{t0} };
    };

    while ($next < $n || %live) {
        $n = $next if time >= $stop_at && $next < $n;
        while ($next < $n && keys(%live) < $conc && time < $stop_at) {
            $start_one->();
        }
        last if time >= $deadline;
        for my $s ($sel->can_read(0.2)) {
            my $c = $live{fileno $s} or next;
            my $r = sysread($s, my $d, 65536);
            next if !defined $r && ($!{EAGAIN} || $!{EINTR});
            if (!$r) { $finish->($c); next; }
            $c->{buf} .= $d;
        }
        last if $next >= $n && !%live;
    }
    # Out of time: what is still open counts as failed.
    for my $c (values %live) {
        close $c->{s};
        $res[$c->{i}] = { i => $c->{i}, status => 'none', up => '',
            t0 => $c->{t0}, t1 => time, elapsed => time - $c->{t0},
            error => 'timeout' };
    }
    return map { $_ // { status => 'none', up => '' } } @res[0 .. $n - 1];
}

# name => count over results (status 200 only), and the number not 200.
sub tally {
    my %c;
    my $bad = 0;
    for my $r (@_) {
        if ($r->{status} eq '200') { $c{ $r->{up} }++ } else { $bad++ }
    }
    return (\%c, $bad);
}

sub fmt {
    my ($c) = @_;
    return join ' ', map { "$_=" . ($c->{$_} // 0) } sort keys %$c;
}


# `sluicectl -j servers [UPSTREAM]` of sluice t, decoded; undef on failure.
sub servers_json {
    my ($t, $up) = @_;
    my ($rc, $out, $err) = $t->ctl('-j', 'servers', defined $up ? $up : ());
    return undef unless $rc == 0;
    return eval { JSON::PP::decode_json($out) };
}

# The JSON record of upstream/addr ({} when there is none).
sub server_rec {
    my ($t, $up, $addr) = @_;
    my $j = servers_json($t, $up) or return {};
    for my $u (@{ $j->{upstreams} || [] }) {
        next unless $u->{name} eq $up;
        for my $s (@{ $u->{servers} || [] }) {
            return $s if $s->{addr} eq $addr;
        }
    }
    return {};
}

1;
