#!/usr/bin/perl

# Per-address connection caps at accept (limit_conn_accept), counted from
# accept to close and shared by two workers: idle keepalive connections
# and connections that never send a byte count; the connection over the
# cap is closed at once without a byte while another address (127.0.0.2)
# is served; closing connections gives the count back; TLS connections
# count before their handshake; [::1] when the host has it; rejections in
# the metrics and the error log; dry run; a reload keeps the counts and a
# reload without the directive stops enforcing; config errors.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $have_ssl = eval { require IO::Socket::SSL; 1 };
my $have_v6 = eval {
    require IO::Socket::IP;
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
        Listen => 1) or die;
    close $s;
    1;
};

my $t = SluiceTest->new;
my $d = $t->testdir;

# ---- configuration errors ----------------------------------------------------

{
    my @cases = (
        [ "limit_conn_accept nosuch 5;\n",
          qr/:(\d+): unknown limit zone "nosuch" \(declare it with limit_conn_zone\)/,
          'unknown zone' ],
        [ "limit_conn_zone \$http_x_key zone=k:64k;\nlimit_conn_accept k 5;\n",
          qr/:(\d+): the key of zone "k" is "\$http_x_key", but limit_conn_accept needs \$binary_remote_addr or \$remote_addr/,
          'key other than the address' ],
        [ "limit_conn_zone \$binary_remote_addr zone=z:64k;\nlimit_conn_accept z 0;\n",
          qr/:(\d+): invalid number of connections "0"/, 'N of 0' ],
        [ "limit_conn_zone \$binary_remote_addr zone=z:64k;\nlimit_conn_accept z lots;\n",
          qr/:(\d+): invalid number of connections "lots"/, 'N not a number' ],
        [ "limit_conn_zone \$binary_remote_addr zone=z:64k;\nlimit_conn_accept z 5;\nlimit_conn z 2;\n",
          qr/:(\d+): zone "z" is also used by the limit_conn at /,
          'zone shared with limit_conn' ],
        [ "limit_conn_zone \$binary_remote_addr zone=z:64k;\nlimit_conn_accept z 5;\nlimit_conn_accept z 9;\n",
          qr/:(\d+): zone "z" is also used by the limit_conn_accept at /,
          'zone named twice' ],
        [ "limit_req_zone \$binary_remote_addr zone=r:64k rate=1r/s;\nlimit_conn_accept r 5;\n",
          qr/:(\d+): .*"r"/, 'a limit_req zone' ],
    );
    for my $c (@cases) {
        my ($lines, $re, $name) = @$c;
        my $path = $t->write_conf(<<"EOF", name => 'bad.conf');
http {
$lines    server { listen 127.0.0.1:%%PORT_0%%; return 200 "x"; }
}
EOF
        my ($rc, $out, $err) = $t->run_t({ conf => $path });
        isnt($rc, 0, "sluice -t refuses: $name");
        like($out . $err, $re, "$name: file:line and reason")
            or diag($out . $err);
    }
    my $path = $t->write_conf(<<'EOF', name => 'good.conf');
http {
    limit_conn_zone $remote_addr zone=txt:64k;
    limit_conn_zone ${binary_remote_addr} zone=bin:64k;
    limit_conn_accept txt 100;
    limit_conn_accept bin 10;
    server { listen 127.0.0.1:%%PORT_0%%; return 200 "x"; }
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 0, 'two caps, $remote_addr and ${binary_remote_addr}: accepted')
        or diag($out . $err);
}

# ---- the server -----------------------------------------------------------------

if ($have_ssl) {
    my ($rc, $out, $err) = $t->run_cmd(['openssl', qw(req -x509 -newkey
        rsa:2048 -nodes -days 2 -subj /CN=a.test), '-keyout', "$d/a.key",
        '-out', "$d/a.crt"], timeout => 30);
    die "openssl: $err" if $rc != 0;
}
my $v6listen = $have_v6 ? "listen [::1]:%%PORT_1%%;" : '';
my $tls = $have_ssl ? <<'EOF' : '';
    server {
        listen 127.0.0.1:%%PORT_2%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        location / { return 200 "tls"; }
    }
EOF

sub conf {
    my ($cap) = @_;
    my $line = $cap ? "limit_conn_accept perip $cap;" : '';
    return <<"EOF";
%%MAIN%%
worker_processes 2;
http {
    log_format w '\$pid \$remote_addr \$request_uri \$status';
    access_log %%TESTDIR%%/access.log w;
    client_header_timeout 60s;
    keepalive_timeout 60s;
    limit_conn_zone \$binary_remote_addr zone=perip:1m;
    $line
    server {
        listen 127.0.0.1:%%PORT_0%%;
        $v6listen
        location / { return 200 "ok"; }
        location = /metrics { metrics; }
    }
$tls}
EOF
}

$t->write_conf(conf(5));
$t->allow_log(qr/limiting connections/);
my ($p0, $p1, $p2) = ($t->port(0), $t->port(1), $t->port(2));
# start() would probe the [::1] port over IPv4: wait for the IPv4 one.
$t->start(nowait => 1);
ok(wait_for(sub {
       return 'exited' unless $t->running;
       IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p0,
           LocalAddr => '127.0.0.9', Timeout => 1) ? 1 : 0;
   }, 10) eq '1', 'sluice started') or BAIL_OUT("not up\n" . $t->error_log);
ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 5), 'two workers');

# A connection from $from (127.0.0.x or ::1) to $port; undef if refused.
sub conn {
    my ($from, $port) = @_;
    if ($from =~ /:/) {
        return IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
            LocalHost => $from, Timeout => 5);
    }
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        LocalAddr => $from, Proto => 'tcp', Timeout => 5);
}

# One keepalive request on $s: the status, or 'closed'.
sub ka_get {
    my ($s, $path) = @_;
    syswrite($s, "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n") or return 'closed';
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
        my ($st, $h, $body) = parse_response($raw);
        return $st if defined $st && defined $body
            && length($body) >= ($h->{'content-length'} // 0);
    }
    return length $raw ? 'partial' : 'closed';
}

# Whether the server closed $s within $secs: 'closed' (EOF or reset, no
# byte), 'data' (it sent something), 'open'.
sub closed_within {
    my ($s, $secs) = @_;
    my $sel = IO::Select->new($s);
    return 'open' unless $sel->can_read($secs);
    my $n = sysread $s, my $buf, 4096;
    return (!defined $n || $n == 0) ? 'closed' : 'data';
}

# Waits until the server closes `want` of the sockets (at most 10 s), then
# half a second more for any further one.  Returns how many it closed and
# the ones left open.
sub closed_count {
    my ($want, @socks) = @_;
    my (%closed, @open);
    my $deadline = time + 10;
    my $grace;
    while (1) {
        my $sel = IO::Select->new(grep { !$closed{$_} } @socks);
        last unless $sel->count;
        my $left = ($grace // $deadline) - time;
        last if $left <= 0;
        for my $s ($sel->can_read($left)) {
            my $n = sysread $s, my $buf, 4096;
            $closed{$s} = (!defined $n || $n == 0) ? 'closed' : 'data';
        }
        $grace //= time + 0.5 if scalar(keys %closed) >= $want;
    }
    @open = grep { !$closed{$_} } @socks;
    my $bytes = grep { $_ eq 'data' } values %closed;
    return (scalar(keys %closed), $bytes, @open);
}

sub rejections {
    my ($st, undef, $body) = parse_response(http_get_from('127.0.0.3', $p0, '/metrics'));
    return undef unless defined $st && $st == 200;
    my ($n) = $body =~ /^sluice_limit_rejections_total\{limit="conn",dry_run="false"\} (\d+)$/m;
    return $n;
}

# A request with Connection: close from a given address.
sub http_get_from {
    my ($from, $port, $path) = @_;
    my $s = conn($from, $port) or return '';
    syswrite $s, "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    return $raw;
}

sub st_from { my ($st) = parse_response(http_get_from(@_)); $st // 'none' }

# Five keepalive connections from 127.0.0.1 that each had a 200 (so each
# is accepted and counted), spread over both workers.
sub five_keepalive {
    for my $try (1 .. 10) {
        my @c;
        for my $i (1 .. 5) {
            my $s = conn('127.0.0.1', $p0) or last;
            last unless ka_get($s, "/five?$try.$i") eq '200';
            push @c, $s;
        }
        my %pids;
        my $log = $t->read_file('access.log') // '';
        $pids{$1} = 1 while $log =~ m{^(\d+) 127\.0\.0\.1 /five\?$try\.\d+ 200$}mg;
        return @c if @c == 5 && keys(%pids) >= 2;
        close $_ for @c;
        # Wait until the server has seen them go.
        wait_for(sub { st_from('127.0.0.1', $p0, '/probe') eq '200' }, 5);
    }
    return ();
}

my $before = rejections() // 0;

# ---- idle keepalive connections count, across workers ----------------------------

my @ka = five_keepalive();
is(scalar @ka, 5, 'five keepalive connections from 127.0.0.1, both workers serving');
{
    my $s6 = conn('127.0.0.1', $p0);
    ok($s6, 'a sixth connection is made (the kernel accepts it)');
    is(closed_within($s6, 10), 'closed', 'cap 5: the sixth is closed at once, without a byte');
    is(st_from('127.0.0.2', $p0, '/'), 200, 'a client from 127.0.0.2 still gets 200');
    is(ka_get($ka[0], '/again'), 200, 'the five counted ones still work');
}
ok(wait_for(sub { (rejections() // 0) > $before }, 5),
   'sluice_limit_rejections_total{limit="conn"} counts the refusal');
ok(wait_for(sub { $t->error_log =~ /\[warn\].*limiting connections by zone "perip" at accept \(5 per client\), client: 127\.0\.0\.1/ }, 5),
   'the refusal is logged at warn');

# ---- closing gives the count back -------------------------------------------------

close $ka[$_] for 0, 1;
splice @ka, 0, 2;
ok(wait_for(sub {
       my $s = conn('127.0.0.1', $p0) or return 0;
       return 0 unless ka_get($s, '/back') eq '200';
       push @ka, $s;
       return 1;
   }, 10), 'two closed: a new connection is accepted again');
{
    my $s = conn('127.0.0.1', $p0);
    is(ka_get($s, '/back2'), 200, 'and a second one');
    push @ka, $s;
    my $s7 = conn('127.0.0.1', $p0);
    is(closed_within($s7, 10), 'closed', 'five again: the next is closed');
}
close $_ for @ka;
@ka = ();
ok(wait_for(sub { st_from('127.0.0.1', $p0, '/') eq '200' }, 10),
   'all closed: 127.0.0.1 served again');

# ---- connections that never send a byte count ---------------------------------------

{
    # Which seven are refused depends on the order the workers accept them.
    my @silent = map { conn('127.0.0.1', $p0) } 1 .. 7;
    is(scalar(grep { defined } @silent), 7, 'seven silent connections made');
    my ($closed, $bytes, @open) = closed_count(2, @silent);
    is($closed, 2, 'seven silent connections: two are closed at once');
    is($bytes, 0, 'without a byte');
    is(scalar @open, 5, 'five stay open');
    is(st_from('127.0.0.2', $p0, '/'), 200, '127.0.0.2 still served');
    close $_ for @silent;
    ok(wait_for(sub { st_from('127.0.0.1', $p0, '/') eq '200' }, 10),
       'silent ones closed: the count is given back');
}

# ---- TLS: counted before the handshake ------------------------------------------------

SKIP: {
    skip 'IO::Socket::SSL not installed', 5 unless $have_ssl;
    my @silent = map { conn('127.0.0.1', $p2) } 1 .. 6;
    is(scalar(grep { defined } @silent), 6, 'six connections to the TLS port, no ClientHello');
    my ($closed, $bytes, @open) = closed_count(1, @silent);
    is($closed, 1, 'TLS: one of six is closed at once, before any handshake');
    is($bytes, 0, 'without a byte');
    my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$p2",
        LocalAddr => '127.0.0.2',
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        SSL_hostname => 'a.test', Timeout => 10);
    my $resp = '';
    if ($s) {
        print $s "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
        while (1) {
            my $n = sysread($s, my $buf, 4096);
            last unless $n;
            $resp .= $buf;
        }
        close $s;
    }
    like($resp, qr{^HTTP/1\.1 200 .*\r\n\r\ntls\z}s, 'HTTPS from 127.0.0.2 gets 200');
    is(st_from('127.0.0.1', $p0, '/'), 'none',
       'the cap is per address for every listener: plain from 127.0.0.1 closed too');
    close $_ for @silent;
    ok(wait_for(sub { st_from('127.0.0.1', $p0, '/') eq '200' }, 10),
       'TLS ones closed: the count is given back');
}

# ---- [::1] ----------------------------------------------------------------------------

SKIP: {
    skip 'no IPv6 on loopback', 4 unless $have_v6;
    my @c;
    for my $i (1 .. 5) {
        my $s = conn('::1', $p1) or last;
        last unless ka_get($s, "/v6?$i") eq '200';
        push @c, $s;
    }
    is(scalar @c, 5, 'five keepalive connections from [::1]');
    my $s6 = conn('::1', $p1);
    is(closed_within($s6, 10), 'closed', '[::1]: the sixth is closed at once');
    is(st_from('127.0.0.1', $p0, '/'), 200, '127.0.0.1 is counted apart');
    close $_ for @c;
    ok(wait_for(sub { st_from('::1', $p1, '/') eq '200' }, 10),
       '[::1] served again once they are closed');
}

# ---- a reload keeps the counts; one without the directive stops enforcing ---------

{
    my @c = five_keepalive();
    is(scalar @c, 5, 'five keepalive connections held across a reload');
    $t->write_conf(conf(5) . "# reloaded\n");
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 10),
       'reloaded (same zone)');
    ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 10), 'new workers');
    my $s6 = conn('127.0.0.1', $p0);
    is(closed_within($s6, 10), 'closed',
       'after the reload the old workers\' five still count: the sixth is closed');

    $t->write_conf(conf(0));
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 3/ }, 10),
       'reloaded without limit_conn_accept');
    ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 10), 'new workers');
    # An old worker may take a connection or two before it stops listening.
    my $s;
    ok(wait_for(sub {
           $s = conn('127.0.0.1', $p0) or return 0;
           return ka_get($s, '/free') eq '200';
       }, 10), 'no cap any more: a sixth connection is served');
    close $_ for grep { defined } @c, $s;
}

# ---- dry run ----------------------------------------------------------------------------

{
    my $c = conf(2);
    $c =~ s/(limit_conn_accept perip 2;)/$1\n    limit_conn_dry_run on;/;
    $t->write_conf($c);
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 4/ }, 10),
       'reloaded with cap 2 and limit_conn_dry_run on');
    ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 10), 'new workers');
    # Until the new workers take them (the old ones have no cap at all).
    my %st;
    my $logged = wait_for(sub {
        my @c = map { conn('127.0.0.1', $p0) } 1 .. 4;
        $st{ka_get($_, '/dry')}++ for grep { defined } @c;
        close $_ for grep { defined } @c;
        return $t->error_log =~ /limiting connections, dry run, by zone "perip" at accept/;
    }, 10);
    ok($logged, 'dry run: connections over a cap of 2 are logged as would-be refusals');
    is_deeply(\%st, { 200 => $st{200} // -1 }, 'dry run: but every connection is served');
    my (undef, undef, $body) = parse_response(http_get_from('127.0.0.3', $p0, '/metrics'));
    like($body // '', qr/^sluice_limit_rejections_total\{limit="conn",dry_run="true"\} [1-9]/m,
         'dry run: counted in sluice_limit_rejections_total{dry_run="true"}');
}

$t->stop;
done_testing;
