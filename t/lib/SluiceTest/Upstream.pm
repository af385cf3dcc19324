package SluiceTest::Upstream;

# SluiceTest::Upstream: a fake upstream HTTP server for the proxy tests.
#
#   my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'a');
#   $u->start;                   # listening when start() returns
#   ... requests through sluice ...
#   my @r = $u->requests;        # what it received, oldest first
#   is($u->accepts, 1);          # connections accepted
#   $u->clear;                   # forget both
#   $u->stop;                    # also done at END / DESTROY
#
# The server is a forked child that accepts connections and forks one
# process per connection.  One JSON line per event is appended to
# TESTDIR/upstream-NAME.log (one write(2) each, O_APPEND): {"ev":"accept",
# "conn":N} when a connection is accepted, {"ev":"request",...} once a
# request (head and body) has been read, before it is answered.  A request record has:
# server, conn (connection number, from 1), seq (request number on the
# connection, from 1), method, target, version, headers ([[name, value],
# ...] in order), head (the raw head), body_len, body_sha (SHA-256 hex),
# chunked (1 when the body came chunked), time.
#
# What it answers is chosen by the query string of the request target
# (so the tests need no handler table; the proxy keeps the args), merged
# over the constructor's params => {...} and under force => {...}:
#
#   (nothing)      200, JSON echo of the request record
#   status=N       status code (reason=TEXT)
#   len=N          N bytes of body_bytes(N, seed) instead of the echo
#   seed=S         (with len) which deterministic content
#   te=chunked     chunked body; chunks=A,B,C (sizes, cycled; default
#                  1,7,100,4096); trailers=1 adds trailer fields; ext=1 adds
#                  chunk extensions
#   te=close       no length: the body ends with the connection
#   ver=1.0        "HTTP/1.0" status line
#   h=NAME:VALUE   extra response header (repeatable; "h=Server:x" etc.)
#   bighdr=N       adds "X-Big: bbb..." with an N-byte value
#   ct=TYPE        Content-Type (default application/json or
#                  application/octet-stream)
#   delay=SEC      wait before answering
#   date=now[+-N]  "Date:" the current time (offset by N seconds) instead
#                  of the fixed 2001 date
#   body=TEXT      TEXT as the body instead of the echo
#   inm=1          answer 304 when the request's If-None-Match names the
#                  ETag given with h=ETag:...; ims=1: answer 304 when the
#                  request has If-Modified-Since (the cache tests)
#   slow=N:SEC     write the body N bytes at a time, SEC between writes
#   done=1         after answering, record {"ev":"done","conn":N,"seq":N,
#                  "ok":0|1} (ok 0: a write failed -- the peer went away)
#   stall=N:SEC    after N body bytes, wait SEC seconds (then go on)
#   interim=100,103  interim responses sent before the final one
#   attach=TEXT    bytes written after the head of a 204/304/HEAD answer,
#                  then close (a broken upstream; they must never reach the
#                  client); in the same write unless attach_delay=SEC
#   weird=KIND     valid but unusual head, body "ok": no_reason, lower,
#                  nospace, tabs, chunked_uc, hex_uc, same_cl, empty_val
#   extra=TEXT     bytes written after a complete response, the connection
#                  kept open (a broken upstream); in the same write as the
#                  end of the response unless extra_delay=SEC
#   noread=SEC     wait SEC after the request head before reading the body
#   action=close   read the request, close without answering
#   action=reset   read the request, reset the connection (RST)
#   action=partial send half a status line, then close
#   action=truncate  announce len but send only half of it, then close
#   bad=KIND       malformed response head: bare_lf, bare_lf_hdr, cl_te,
#                  two_cl, space_colon, bad_status, no_status, obs_fold,
#                  huge_header, bad_cl, nul, cl_overflow, cl_negative,
#                  te_unknown; or a good head and a broken chunked body:
#                  chunk_hex, chunk_huge, chunk_crlf
#   conn=close     "Connection: close" and close after the answer
#   linger=SEC     close the connection when idle SEC after this answer
#   then=close     the NEXT request on this connection is read and the
#                  connection closed without answering it (then=reset: reset)
#   upgrade=0      answer a request with an Upgrade header normally;
#                  otherwise such a request gets "101 Switching Protocols"
#                  and the connection echoes bytes back (greet=TEXT is sent
#                  first) until EOF or 10 s idle; tclose=1 closes right after
#                  the 101 (and greet); an {"ev":"tunnel"} line is recorded
#                  at the end with the number of bytes echoed
#
# Every response carries "X-Upstream: NAME", "Server: fake-upstream/1.0"
# and "Date: Mon, 01 Jan 2001 00:00:00 GMT" (so that their replacement
# shows).  HEAD gets the same head as GET, no body.
#
# Also: body_bytes(N, SEED) and body_sha(N, SEED) (the content len=N&seed=
# SEED sends and its SHA-256), sha(DATA), header(REC, NAME) and
# header_count(REC, NAME) for request records; $u->events, last_request,
# nrequests, wait_requests(N, TIMEOUT), addr ("127.0.0.1:PORT"), running.  Every read is bounded in time; an idle keepalive
# connection is closed after idle => SEC (default 10); the whole server
# exits after life => SEC (default 300) even if nobody stops it.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);
use Digest::SHA ();
use JSON::PP ();
use Time::HiRes qw(time sleep);

my @servers;
my $JSON = JSON::PP->new->canonical->ascii;

# ---- deterministic bodies ----------------------------------------------------

my %BASE;

sub _base {
    my ($seed) = @_;
    return $BASE{$seed} //= do {
        my ($b, $x) = ('', "sluice-body:$seed");
        while (length $b < 65536) {
            $x = Digest::SHA::sha256($x);
            $b .= $x;
        }
        substr($b, 0, 65536);
    };
}

# Block k (64 KiB) of the body stream for seed: distinct per block.
sub _block {
    my ($k, $seed) = @_;
    return pack('N', $k) . substr(_base($seed), 4);
}

# The first n bytes of the deterministic content for seed (default 0).
sub body_bytes {
    my ($n, $seed) = @_;
    $seed //= 0;
    my $out = '';
    my $k = 0;
    while (length $out < $n) {
        $out .= _block($k++, $seed);
    }
    substr($out, $n) = '';
    return $out;
}

my %SHA;

# SHA-256 (hex) of body_bytes(n, seed).
sub body_sha {
    my ($n, $seed) = @_;
    $seed //= 0;
    return $SHA{"$n:$seed"} //= do {
        my $d = Digest::SHA->new(256);
        my ($left, $k) = ($n, 0);
        while ($left > 0) {
            my $b = _block($k++, $seed);
            $b = substr($b, 0, $left) if $left < length $b;
            $d->add($b);
            $left -= length $b;
        }
        $d->hexdigest;
    };
}

sub sha { Digest::SHA::sha256_hex($_[0]) }

# ---- the object ----------------------------------------------------------------

sub new {
    my ($class, $t, %o) = @_;
    my $port = $o{port} // die "Upstream: port required\n";
    my $name = $o{name} // "u$port";
    my $self = bless {
        t       => $t,
        port    => $port,
        name    => $name,
        params  => $o{params} // {},
        force   => $o{force} // {},
        idle    => $o{idle} // 10,
        life    => $o{life} // 300,
        log     => $t->testdir . "/upstream-$name.log",
        pid     => undef,
        creator => $$,
    }, $class;
    push @servers, $self;
    return $self;
}

sub port { $_[0]{port} }
sub name { $_[0]{name} }
sub addr { "127.0.0.1:$_[0]{port}" }
sub pid { $_[0]{pid} }
sub log_path { $_[0]{log} }

# Binds (retrying a little: the port may be in TIME_WAIT use), forks the
# server; dies when the port cannot be bound within 5 s.
sub start {
    my ($self) = @_;
    die "upstream $self->{name} already running\n" if $self->running;
    my $ls;
    my $deadline = time + 5;
    while (1) {
        $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $self->{port}, Proto => 'tcp', Listen => 128,
            ReuseAddr => 1);
        last if $ls;
        die "upstream $self->{name}: bind 127.0.0.1:$self->{port}: $!\n"
            if time > $deadline;
        sleep 0.1;
    }
    # The log exists from the start so readers need not care.
    open my $f, '>>', $self->{log} or die "$self->{log}: $!\n";
    close $f;

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        @servers = ();
        $self->{creator} = 0;
        eval { $self->_serve($ls) };
        print STDERR "upstream $self->{name}: $@" if $@;
        POSIX::_exit(0);
    }
    close $ls;
    $self->{pid} = $pid;
    return $self;
}

sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    my $r = waitpid($self->{pid}, WNOHANG);
    return 1 if $r == 0;
    $self->{pid} = undef;
    return 0;
}

# Stops the server and its connection processes (SIGTERM, then SIGKILL
# after 3 s).  The port is closed when stop() returns.
sub stop {
    my ($self) = @_;
    return unless $self->{creator} && $$ == $self->{creator};
    my $pid = $self->{pid} or return;
    kill 'TERM', $pid;
    my $deadline = time + 3;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.02;
    }
    $self->{pid} = undef;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop if $self->{creator};
}

END {
    local ($?, $!, $@);
    $_->stop for @servers;
}

# ---- reading the log -----------------------------------------------------------

sub events {
    my ($self) = @_;
    open my $f, '<', $self->{log} or return ();
    my @ev;
    while (my $l = <$f>) {
        next unless $l =~ /\n\z/;    # a line still being written
        my $e = eval { $JSON->decode($l) } or next;
        push @ev, $e;
    }
    close $f;
    return @ev;
}

# Request records (hashrefs), oldest first.
sub requests {
    my ($self) = @_;
    return grep { $_->{ev} eq 'request' } $self->events;
}

sub last_request { my @r = $_[0]->requests; return $r[-1] }

sub nrequests { scalar(my @r = $_[0]->requests) }

# Number of connections accepted.
sub accepts {
    my ($self) = @_;
    return scalar grep { $_->{ev} eq 'accept' } $self->events;
}

# Forgets what was recorded so far.
sub clear {
    my ($self) = @_;
    open my $f, '>', $self->{log} or die "$self->{log}: $!\n";
    close $f;
}

# Waits (bounded) until at least n requests are recorded.
sub wait_requests {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $c = $self->nrequests;
        return $c if $c >= $n;
        return 0 if time >= $deadline;
        sleep 0.02;
    }
}

# Value of header name (case-insensitive) in a request record; several
# fields are joined with ", "; undef when absent.
sub header {
    my ($rec, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name }
        @{ $rec->{headers} || [] };
    return @v ? join(', ', @v) : undef;
}

# Number of header fields named name in a request record.
sub header_count {
    my ($rec, $name) = @_;
    return scalar grep { lc $_->[0] eq lc $name } @{ $rec->{headers} || [] };
}

# ---- the server (child side) --------------------------------------------------

sub _record {
    my ($self, $ev) = @_;
    $ev->{server} = $self->{name};
    $ev->{time} = sprintf '%.3f', time;
    my $line = $JSON->encode($ev) . "\n";
    # One write(2) on an O_APPEND descriptor: lines never interleave.
    sysopen my $f, $self->{log}, O_WRONLY | O_APPEND | O_CREAT or return;
    syswrite $f, $line;
    close $f;
}

sub _serve {
    my ($self, $ls) = @_;
    my %kids;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    $SIG{INT} = 'IGNORE';
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'DEFAULT';
    my $end = time + $self->{life};
    my $ppid = getppid;
    my $sel = IO::Select->new($ls);
    my $nconn = 0;
    my $me = $$;
    while (!$stop && time < $end && getppid == $ppid) {
        while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $kids{$k} }
        next unless $sel->can_read(0.2);
        my $c = $ls->accept or next;
        $nconn++;
        $self->_record({ ev => 'accept', conn => $nconn,
            peer_port => $c->peerport });
        my $pid = fork;
        if (!defined $pid) { close $c; next; }
        if ($pid == 0) {
            close $ls;
            $SIG{TERM} = 'DEFAULT';
            eval { $self->_conn($c, $nconn, $me) };
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        close $c;
    }
    close $ls;
    kill 'TERM', keys %kids;
    my $deadline = time + 2;
    while (%kids && time < $deadline) {
        my $k = waitpid(-1, WNOHANG);
        if ($k > 0) { delete $kids{$k}; next; }
        last if $k < 0;
        sleep 0.02;
    }
    kill 'KILL', keys %kids;
    1 while waitpid(-1, WNOHANG) > 0;
}

# Connection state: sock, buf, eof.

sub _fill {
    my ($c, $deadline) = @_;
    return 0 if $c->{eof};
    my $left = $deadline - time;
    return 0 if $left <= 0;
    my $sel = IO::Select->new($c->{sock});
    return 0 unless $sel->can_read($left);
    my $n = sysread($c->{sock}, my $d, 262144);
    if (!defined $n) {
        return 0 if $!{EINTR} || $!{EAGAIN};
        $c->{eof} = 1;
        return 0;
    }
    if ($n == 0) { $c->{eof} = 1; return 0; }
    $c->{buf} .= $d;
    return 1;
}

sub _write {
    my ($c, $data) = @_;
    my $off = 0;
    my $deadline = time + 30;
    my $sel = IO::Select->new($c->{sock});
    while ($off < length $data) {
        if (time > $deadline) { $c->{wfail} = 1; return 0; }
        my $n = syswrite($c->{sock}, $data, length($data) - $off, $off);
        if (!defined $n) {
            if ($!{EAGAIN} || $!{EINTR}) { $sel->can_write(0.2); next; }
            $c->{wfail} = 1;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub _uri_unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9a-fA-F]{2})/chr hex $1/ge;
    return $s;
}

sub _params {
    my ($self, $target) = @_;
    my %p = %{ $self->{params} };
    my @h = @{ $p{h} || [] };
    my $q = $target =~ /\?(.*)\z/s ? $1 : '';
    for my $kv (split /&/, $q) {
        my ($k, $v) = split /=/, $kv, 2;
        next unless defined $k && length $k;
        $k = _uri_unescape($k);
        $v = _uri_unescape($v // '');
        if ($k eq 'h') { push @h, $v } else { $p{$k} = $v }
    }
    for my $k (keys %{ $self->{force} }) {
        if ($k eq 'h') { push @h, @{ $self->{force}{h} } }
        else { $p{$k} = $self->{force}{$k} }
    }
    $p{h} = \@h;
    return \%p;
}

# Reads one request; returns the record or undef (EOF, timeout, garbage).
sub _read_request {
    my ($self, $c, $timeout) = @_;
    my $deadline = time + $timeout;
    my $i;
    while (($i = index($c->{buf}, "\r\n\r\n")) < 0) {
        return undef if length $c->{buf} > 1048576;
        return undef unless _fill($c, $deadline);
    }
    my $head = substr($c->{buf}, 0, $i + 4, '');
    my @lines = split /\r\n/, substr($head, 0, $i);
    my $rl = shift @lines // '';
    my ($method, $target, $version) = split / /, $rl, 3;
    my @h;
    for my $l (@lines) {
        if ($l =~ /^([^:]*):[ \t]*(.*?)[ \t]*\z/s) {
            push @h, [$1, $2];
        } else {
            push @h, [$l, ''];
        }
    }
    my %rec = (ev => 'request', method => $method // '',
        target => $target // '', version => $version // '',
        headers => \@h, head => $head, chunked => 0);
    my $noread = $self->_params($rec{target})->{noread};
    sleep $noread if $noread;

    my $d = Digest::SHA->new(256);
    my $len = 0;
    $deadline = time + 30;
    my ($te) = map { $_->[1] } grep { lc $_->[0] eq 'transfer-encoding' } @h;
    my ($cl) = map { $_->[1] } grep { lc $_->[0] eq 'content-length' } @h;
    if (defined $te && $te =~ /chunked/i) {
        $rec{chunked} = 1;
        while (1) {
            my $e;
            while (($e = index($c->{buf}, "\r\n")) < 0) {
                return undef unless _fill($c, $deadline);
            }
            my $line = substr($c->{buf}, 0, $e + 2, '');
            my ($hex) = $line =~ /^([0-9a-fA-F]+)/ or return undef;
            my $size = hex $hex;
            if ($size == 0) {
                while (1) {
                    while (($e = index($c->{buf}, "\r\n")) < 0) {
                        return undef unless _fill($c, $deadline);
                    }
                    my $tl = substr($c->{buf}, 0, $e + 2, '');
                    last if $tl eq "\r\n";
                }
                last;
            }
            while (length $c->{buf} < $size + 2) {
                return undef unless _fill($c, $deadline);
            }
            $d->add(substr($c->{buf}, 0, $size, ''));
            substr($c->{buf}, 0, 2, '');
            $len += $size;
        }
    } elsif (defined $cl && $cl =~ /^\d+\z/) {
        my $left = $cl;
        while ($left > 0) {
            if (!length $c->{buf}) {
                return undef unless _fill($c, $deadline);
            }
            my $take = length $c->{buf} < $left ? length $c->{buf} : $left;
            $d->add(substr($c->{buf}, 0, $take, ''));
            $left -= $take;
            $len += $take;
        }
    }
    $rec{body_len} = $len;
    $rec{body_sha} = $d->hexdigest;
    return \%rec;
}

sub _conn {
    my ($self, $sock, $conn, $srvpid) = @_;
    $sock->blocking(0);
    binmode $sock;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    my $c = { sock => $sock, buf => '', eof => 0 };
    my $seq = 0;
    my $idle = $self->{idle};
    my $drop_next = 0;
    while (1) {
        last if getppid != $srvpid;
        my $rec = $self->_read_request($c, $idle) or last;
        $rec->{conn} = $conn;
        $rec->{seq} = ++$seq;
        my $p = $self->_params($rec->{target});
        if ($drop_next) {
            $rec->{dropped} = 1;
            $self->_record($rec);
            setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
                if $drop_next eq 'reset';
            last;
        }
        $self->_record($rec);
        my $keep = $self->_respond($c, $rec, $p);
        $self->_record({ ev => 'done', conn => $conn, seq => $seq,
            ok => $c->{wfail} ? 0 : 1 }) if $p->{done};
        last unless $keep;
        $drop_next = $p->{then} if ($p->{then} // '') =~ /^(?:close|reset)\z/;
        $idle = $p->{linger} if defined $p->{linger};
    }
    close $sock;
}

my %REASON = (100 => 'Continue', 101 => 'Switching Protocols',
    103 => 'Early Hints', 200 => 'OK', 204 => 'No Content',
    304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
    404 => 'Not Found', 429 => 'Too Many Requests',
    500 => 'Internal Server Error', 502 => 'Bad Gateway',
    503 => 'Service Unavailable', 504 => 'Gateway Timeout');

# Answers one request per p.  Returns true when the connection may be
# used for another request.
sub _respond {
    my ($self, $c, $rec, $p) = @_;
    my $action = $p->{action} // '';
    sleep $p->{delay} if $p->{delay};

    if ($action eq 'close') {
        return 0;
    }
    if ($action eq 'reset') {
        setsockopt($c->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        return 0;
    }
    if ($action eq 'partial') {
        _write($c, "HTTP/1.1 20");
        return 0;
    }

    for my $code (split /,/, $p->{interim} // '') {
        _write($c, "HTTP/1.1 $code " . ($REASON{$code} // 'Info') . "\r\n"
            . ($code == 103 ? "Link: </style.css>; rel=preload\r\n" : '')
            . "\r\n");
    }

    my $upgrade = SluiceTest::Upstream::header($rec, 'Upgrade');
    if (defined $upgrade && ($p->{upgrade} // '1') ne '0') {
        return $self->_tunnel($c, $upgrade, $p, $rec->{conn});
    }

    my $status = $p->{status} // 200;
    if ($p->{inm} || $p->{ims}) {
        my ($etag) = map { (split /:\s*/, $_, 2)[1] }
            grep { /^etag:/i } @{ $p->{h} };
        my $inm = SluiceTest::Upstream::header($rec, 'If-None-Match');
        my $ims = SluiceTest::Upstream::header($rec, 'If-Modified-Since');
        $status = 304 if $p->{inm} && defined $inm && defined $etag
            && grep { $_ eq $etag || $_ eq '*' } split /\s*,\s*/, $inm;
        $status = 304 if $p->{ims} && defined $ims;
    }
    my $reason = $p->{reason} // $REASON{$status} // 'Whatever';
    my $ver = ($p->{ver} // '1.1') eq '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
    my $is_head = $rec->{method} eq 'HEAD';
    my $nobody = $is_head || $status == 204 || $status == 304
        || $status < 200;

    my ($body, $blen, $seed);
    my $gen = defined $p->{len};
    if ($gen) {
        $blen = $p->{len};
        $seed = $p->{seed} // 0;
    } elsif (defined $p->{body}) {
        $body = $p->{body};
        $blen = length $body;
    } else {
        my %e = %$rec;
        delete $e{ev};
        $body = $JSON->encode(\%e);
        $blen = length $body;
    }
    my $te = $p->{te} // 'cl';
    my $close = ($p->{conn} // '') eq 'close' || $te eq 'close'
        || $ver eq 'HTTP/1.0'
        || grep { lc $_->[0] eq 'connection' && $_->[1] =~ /close/i }
            @{ $rec->{headers} };

    my $bad = $p->{bad};
    if (defined $bad) {
        return $self->_bad($c, $bad, $status);
    }
    if (defined $p->{weird}) {
        return $self->_weird($c, $p->{weird});
    }

    my @hdr = ("$ver $status $reason");
    my $date = 'Mon, 01 Jan 2001 00:00:00 GMT';
    if (($p->{date} // '') =~ /^now([+-]\d+)?\z/) {
        $date = POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT',
            gmtime(int(time) + ($1 // 0)));
    }
    push @hdr, "Server: fake-upstream/1.0",
        "Date: $date",
        "X-Upstream: $self->{name}";
    my $ct = $p->{ct} // ($gen ? 'application/octet-stream'
        : 'application/json');
    push @hdr, "Content-Type: $ct" unless $status == 204 || $status == 304;
    if ($status != 204 && $status >= 200) {
        if ($te eq 'chunked') {
            push @hdr, 'Transfer-Encoding: chunked';
            push @hdr, 'Trailer: X-Checksum' if $p->{trailers};
        } elsif ($te ne 'close') {
            push @hdr, "Content-Length: $blen"
                unless $status == 304 && !defined $p->{len};
        }
    }
    push @hdr, 'X-Big: ' . ('b' x $p->{bighdr}) if $p->{bighdr};
    push @hdr, 'Connection: close' if $close && $ver eq 'HTTP/1.1';
    push @hdr, 'Connection: keep-alive' if !$close && $ver eq 'HTTP/1.0';
    for my $h (@{ $p->{h} }) {
        my ($n, $v) = split /:\s*/, $h, 2;
        @hdr = grep { !/^\Q$n\E:/i } @hdr if $n =~ /^(?:server|date)\z/i;
        push @hdr, "$n: " . ($v // '');
    }
    # Output is held and written in as few writes as possible, so that
    # bytes after the response (extra, attach) arrive together with its
    # end unless a delay is asked for.
    my $out = join("\r\n", @hdr) . "\r\n\r\n";
    my $flush = sub {
        my $ok = _write($c, $out);
        $out = '';
        return $ok;
    };
    my $after = sub {
        my ($bytes, $delay) = @_;
        if ($delay) {
            return 0 unless $flush->();
            sleep $delay;
        }
        $out .= $bytes;
        return $flush->();
    };

    if ($nobody) {
        if (defined $p->{attach}) {
            $after->($p->{attach}, $p->{attach_delay});
            return 0;
        }
        if (defined $p->{extra}) {
            return 0 unless $after->($p->{extra}, $p->{extra_delay});
        }
        return 0 unless $flush->();
        return !$close;
    }

    # the body, as a stream of pieces
    my $total = ($p->{action} // '') eq 'truncate' ? int($blen / 2) : $blen;
    my ($slow_n, $slow_s) = split /:/, $p->{slow} // '';
    my ($stall_n, $stall_s) = split /:/, $p->{stall} // '';
    my @sizes = grep { $_ > 0 } split /,/, $p->{chunks} // '1,7,100,4096';
    my $ci = 0;
    my $sent = 0;
    my $k = 0;
    my $pending = '';
    my $stalled = 0;
    my $sha = Digest::SHA->new(256);
    while ($sent < $total) {
        if (!length $pending) {
            $pending = $gen ? _block($k++, $seed) : $body;
            $body = '' unless $gen;
        }
        my $want = $total - $sent;
        $want = $slow_n if $slow_n && $slow_n < $want;
        $want = $sizes[$ci++ % @sizes] if $te eq 'chunked'
            && $sizes[$ci % @sizes] < $want;
        if (defined $stall_n && !$stalled && $sent < $stall_n
            && $sent + $want > $stall_n) {
            $want = $stall_n - $sent;
        }
        $want = length $pending if $want > length $pending;
        my $piece = substr($pending, 0, $want, '');
        $sha->add($piece);
        $out .= $te eq 'chunked'
            ? sprintf('%x', length $piece)
                . ($p->{ext} ? ';ext=1;q="a b"' : '') . "\r\n$piece\r\n"
            : $piece;
        $sent += length $piece;
        my $pause = (defined $stall_n && !$stalled && $sent >= $stall_n)
            || ($slow_n && $sent < $total);
        if ($pause || length $out >= 262144) {
            return 0 unless $flush->();
        }
        if (defined $stall_n && !$stalled && $sent >= $stall_n) {
            $stalled = 1;
            sleep $stall_s;
        }
        sleep $slow_s if $slow_n && $sent < $total;
    }
    if ($total < $blen) {
        $flush->();
        return 0;
    }
    if ($te eq 'chunked') {
        my $tr = $p->{trailers}
            ? 'X-Checksum: ' . $sha->hexdigest . "\r\n" : '';
        $out .= "0\r\n$tr\r\n";
    }
    if (defined $p->{extra}) {
        return 0 unless $after->($p->{extra}, $p->{extra_delay});
    }
    return 0 unless $flush->();
    return 0 if $te eq 'close' || $close;
    return 1;
}

sub _bad {
    my ($self, $c, $bad, $status) = @_;
    my $x = "X-Upstream: $self->{name}";
    my %r = (
        bare_lf     => "HTTP/1.1 $status OK\nContent-Length: 2\n$x\n\nok",
        bare_lf_hdr => "HTTP/1.1 $status OK\r\nContent-Length: 2\n$x\r\n\r\nok",
        cl_te       => "HTTP/1.1 $status OK\r\nContent-Length: 2\r\n"
                     . "Transfer-Encoding: chunked\r\n$x\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        two_cl      => "HTTP/1.1 $status OK\r\nContent-Length: 2\r\n"
                     . "Content-Length: 3\r\n$x\r\n\r\nokk",
        space_colon => "HTTP/1.1 $status OK\r\nContent-Length : 2\r\n$x\r\n\r\nok",
        bad_status  => "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n$x\r\n\r\nok",
        no_status   => "hello, this is no HTTP\r\n\r\n",
        obs_fold    => "HTTP/1.1 $status OK\r\nContent-Length: 2\r\nX-Fold: a\r\n"
                     . " b\r\n$x\r\n\r\nok",
        huge_header => "HTTP/1.1 $status OK\r\nContent-Length: 2\r\nX-Big: "
                     . ('a' x 65536) . "\r\n$x\r\n\r\nok",
        bad_cl      => "HTTP/1.1 $status OK\r\nContent-Length: 2x\r\n$x\r\n\r\nok",
        nul         => "HTTP/1.1 $status OK\r\nContent-Length: 2\r\nX-Nul: a\0b\r\n"
                     . "$x\r\n\r\nok",
        cl_overflow => "HTTP/1.1 $status OK\r\nContent-Length: 99999999999999999999999\r\n"
                     . "$x\r\n\r\nok",
        cl_negative => "HTTP/1.1 $status OK\r\nContent-Length: -1\r\n$x\r\n\r\nok",
        te_unknown  => "HTTP/1.1 $status OK\r\nTransfer-Encoding: chunked, gzip\r\n"
                     . "$x\r\n\r\nok",
        # a good head, then a broken chunked body
        chunk_hex   => "HTTP/1.1 $status OK\r\nTransfer-Encoding: chunked\r\n$x\r\n\r\n"
                     . "5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n",
        chunk_huge  => "HTTP/1.1 $status OK\r\nTransfer-Encoding: chunked\r\n$x\r\n\r\n"
                     . "5\r\nhello\r\nffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        chunk_crlf  => "HTTP/1.1 $status OK\r\nTransfer-Encoding: chunked\r\n$x\r\n\r\n"
                     . "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    );
    my $out = $r{$bad} // die "unknown bad=$bad\n";
    _write($c, $out);
    return 0;
}

# Valid but unusual response heads, each with the body "ok".
sub _weird {
    my ($self, $c, $kind) = @_;
    my $x = "X-Upstream: $self->{name}";
    my %r = (
        no_reason   => "HTTP/1.1 200 \r\nContent-Length: 2\r\n$x\r\n\r\nok",
        lower       => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n$x\r\n\r\nok",
        nospace     => "HTTP/1.1 200 OK\r\nContent-Length:2\r\n$x\r\n\r\nok",
        tabs        => "HTTP/1.1 200 OK\r\nContent-Length:\t2\t\r\n$x\r\n\r\nok",
        chunked_uc  => "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n$x\r\n\r\n"
                     . "2\r\nok\r\n0\r\n\r\n",
        hex_uc      => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n$x\r\n\r\n"
                     . "00002\r\nok\r\n000\r\n\r\n",
        same_cl     => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                     . "$x\r\n\r\nok",
        empty_val   => "HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 2\r\n$x\r\n\r\nok",
    );
    my $out = $r{$kind} // die "unknown weird=$kind\n";
    _write($c, $out);
    return 0;
}

# 101, then echo until EOF or 10 s idle.
sub _tunnel {
    my ($self, $c, $proto, $p, $conn) = @_;
    return 0 unless _write($c, "HTTP/1.1 101 Switching Protocols\r\n"
        . "Connection: Upgrade\r\nUpgrade: $proto\r\n"
        . "X-Upstream: $self->{name}\r\n\r\n");
    _write($c, $p->{greet}) if defined $p->{greet};
    if ($p->{tclose}) {
        $self->_record({ ev => 'tunnel', conn => $conn, echoed => 0 });
        return 0;
    }
    my $n = 0;
    while (1) {
        if (length $c->{buf}) {
            $n += length $c->{buf};
            return 0 unless _write($c, $c->{buf});
            $c->{buf} = '';
        }
        last unless _fill($c, time + 10);
    }
    $self->_record({ ev => 'tunnel', conn => $conn, echoed => $n });
    return 0;
}

1;
