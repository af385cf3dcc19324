package SluiceTest::TlsFront;

# SluiceTest::TlsFront: a TLS server in front of a fake upstream, for the
# tests of TLS towards upstreams (proxy_pass https://, health checks).
#
#   my $u = SluiceTest::Upstream->new($t, port => $t->port(5))->start;
#   my $f = SluiceTest::TlsFront->new($t, port => $t->port(6),
#       backend => $t->port(5), cert => "$d/srv.crt", key => "$d/srv.key");
#   $f->start;
#   ... requests through sluice to https://127.0.0.1:PORT_6 ...
#   my @h = $f->handshakes;      # {conn, sni, reused, version}, oldest first
#   my @e = $f->failures;        # handshakes that failed
#
# client_ca => FILE makes the server ask for a client certificate from
# that CA (and fail the handshake without one); the handshake record then
# has the certificate's subject as "client".
#
# Each TLS connection accepted gets one plain connection to the backend
# and bytes are relayed both ways until either side closes, so keepalive
# on the TLS side is keepalive on the backend (its accepts() count TLS
# connections).  The SSL context is made before the server forks, and
# every connection process inherits it: session tickets issued by one are
# accepted by the others, so resumption can be observed ("reused").  One
# JSON line per handshake is appended to TESTDIR/tls-NAME.log.  Every wait
# is bounded; the server exits after life => SEC (default 300).
#
# plain() (below) starts the opposite: a server that is not TLS at all.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Socket::SSL;
use IO::Select;
use POSIX qw(WNOHANG);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest::Upstream ();

my @fronts;
my $JSON = JSON::PP->new->canonical->ascii;

sub new {
    my ($class, $t, %o) = @_;
    my $self = bless {
        t       => $t,
        port    => $o{port} // die("TlsFront: port required\n"),
        backend => $o{backend} // die("TlsFront: backend required\n"),
        cert    => $o{cert},
        key     => $o{key},
        client_ca => $o{client_ca},
        name    => $o{name} // "f$o{port}",
        life    => $o{life} // 300,
        idle    => $o{idle} // 10,
        pid     => undef,
        creator => $$,
    }, $class;
    $self->{log} = $t->testdir . "/tls-$self->{name}.log";
    push @fronts, $self;
    return $self;
}

sub port { $_[0]{port} }
sub log_path { $_[0]{log} }

sub _record {
    my ($self, $ev) = @_;
    $ev->{time} = sprintf '%.3f', time;
    sysopen my $f, $self->{log}, O_WRONLY | O_APPEND | O_CREAT or return;
    syswrite $f, $JSON->encode($ev) . "\n";
    close $f;
}

sub start {
    my ($self) = @_;
    my $ctx = IO::Socket::SSL::SSL_Context->new(SSL_server => 1,
        SSL_cert_file => $self->{cert}, SSL_key_file => $self->{key},
        $self->{client_ca}
            ? (SSL_verify_mode => SSL_VERIFY_PEER
                                  | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
               SSL_ca_file => $self->{client_ca})
            : (SSL_verify_mode => SSL_VERIFY_NONE))
        or die "TlsFront: context: $SSL_ERROR\n";
    my $ls;
    my $deadline = time + 5;
    until ($ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
               LocalPort => $self->{port}, Proto => 'tcp', Listen => 128,
               ReuseAddr => 1))
    {
        die "TlsFront: bind $self->{port}: $!\n" if time > $deadline;
        sleep 0.1;
    }
    open my $f, '>>', $self->{log} or die "$self->{log}: $!\n";
    close $f;
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        @fronts = ();
        $self->{creator} = 0;
        eval { $self->_serve($ls, $ctx) };
        print STDERR "tls front: $@" if $@;
        POSIX::_exit(0);
    }
    close $ls;
    $self->{pid} = $pid;
    return $self;
}

sub _serve {
    my ($self, $ls, $ctx) = @_;
    my (%kids, $stop, $n);
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{PIPE} = 'IGNORE';
    my $end = time + $self->{life};
    my $ppid = getppid;
    my $me = $$;
    my $sel = IO::Select->new($ls);
    while (!$stop && time < $end && getppid == $ppid) {
        while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $kids{$k} }
        next unless $sel->can_read(0.2);
        my $c = $ls->accept or next;
        $n++;
        my $pid = fork;
        if (!defined $pid) { close $c; next; }
        if ($pid == 0) {
            close $ls;
            $SIG{TERM} = 'DEFAULT';
            eval { $self->_conn($c, $ctx, $n, $me) };
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        close $c;
    }
    kill 'TERM', keys %kids;
    my $deadline = time + 2;
    while (%kids && time < $deadline) {
        my $k = waitpid(-1, WNOHANG);
        if ($k > 0) { delete $kids{$k}; next; }
        last if $k < 0;
        sleep 0.02;
    }
    kill 'KILL', keys %kids;
}

sub _conn {
    my ($self, $c, $ctx, $n, $srvpid) = @_;
    my $ok = IO::Socket::SSL->start_SSL($c, SSL_server => 1,
        SSL_reuse_ctx => $ctx, Timeout => 5);
    if (!$ok) {
        $self->_record({ ev => 'fail', conn => $n,
            error => "$SSL_ERROR" });
        return;
    }
    my $ssl = $c->_get_ssl_object;
    $self->_record({ ev => 'handshake', conn => $n,
        sni => $c->get_servername // '',
        reused => Net::SSLeay::session_reused($ssl) ? 1 : 0,
        client => $c->peer_certificate('subject') // '',
        version => $c->get_sslversion // '' });
    my $b = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $self->{backend}, Proto => 'tcp', Timeout => 5)
        or return;
    my $sel = IO::Select->new($c, $b);
    while (getppid == $srvpid) {
        my @r = $c->pending ? ($c) : $sel->can_read($self->{idle});
        last unless @r;
        for my $s (@r) {
            my $d;
            my $got = sysread($s, $d, 16384);
            return unless $got;
            my $to = $s == $c ? $b : $c;
            my $off = 0;
            while ($off < length $d) {
                my $w = syswrite($to, $d, length($d) - $off, $off);
                return unless $w;
                $off += $w;
            }
        }
    }
}

sub _events {
    my ($self, $kind) = @_;
    open my $f, '<', $self->{log} or return ();
    my @e;
    while (my $l = <$f>) {
        my $e = eval { $JSON->decode($l) } or next;
        push @e, $e if $e->{ev} eq $kind;
    }
    return @e;
}

sub handshakes { $_[0]->_events('handshake') }
sub failures { $_[0]->_events('fail') }

# Forgets what was logged so far.
sub clear {
    my ($self) = @_;
    open my $f, '>', $self->{log} or die "$self->{log}: $!\n";
    close $f;
}

# Stopping (SIGTERM, then SIGKILL after 3 s; only in the process that
# made the front) is SluiceTest::Upstream's: the same pid and creator.
*stop = \&SluiceTest::Upstream::stop;
*DESTROY = \&SluiceTest::Upstream::DESTROY;

# SluiceTest::TlsFront::plain($t, port => P, status => '400 Bad Request'):
# a server on P that answers plain HTTP at once (default "200 OK") and
# closes, so that a TLS handshake with it fails at once.  It runs as a
# child of $t for at most 120 s.
sub plain {
    my ($t, %o) = @_;
    my $status = $o{status} // '200 OK';
    my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $o{port}, Listen => 64, ReuseAddr => 1)
        or die "listen: $!\n";
    $t->spawn(sub {
        my $end = time + 120;
        while (time < $end) {
            my $c = $ls->accept or next;
            syswrite $c, "HTTP/1.1 $status\r\nContent-Length: 0\r\n"
                . "Connection: close\r\n\r\n";
            close $c;
        }
    });
    close $ls;
}

END {
    local ($?, $!, $@);
    $_->stop for @fronts;
}

1;
