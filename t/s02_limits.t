#!/usr/bin/perl

# Rate and concurrency limits, counted globally across three workers:
# limit_req with burst (nodelay, delay, delay=N), limit_req_status,
# limit_req_dry_run, limit_conn with slow upstream requests,
# limit_conn_status, limits that survive a reload, and a client that goes
# away while its request is delayed.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 3;
http {
    log_format w '$pid $request_uri $status';
    access_log %%TESTDIR%%/access.log w;

    limit_req_zone $binary_remote_addr zone=burst:1m rate=6r/m;
    limit_req_zone $binary_remote_addr zone=st:64k rate=6r/m;
    limit_req_zone $binary_remote_addr zone=dry:64k rate=6r/m;
    limit_req_zone $binary_remote_addr zone=slow:64k rate=4r/s;
    limit_req_zone $binary_remote_addr zone=quick:64k rate=4r/s;
    limit_req_zone $binary_remote_addr zone=part:64k rate=4r/s;
    limit_req_zone $http_x_key zone=keyed:64k rate=6r/m;
    limit_conn_zone $binary_remote_addr zone=conn:1m;
    limit_conn_zone $binary_remote_addr zone=conn2:64k;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /burst { limit_req zone=burst burst=5 nodelay; return 200 "ok"; }
        location /status {
            limit_req zone=st;
            limit_req_status 429;
            return 200 "ok";
        }
        location /dry {
            limit_req zone=dry burst=1 nodelay;
            limit_req_dry_run on;
            return 200 "ok";
        }
        location /delay { limit_req zone=slow burst=3; return 200 "ok"; }
        location /nodelay { limit_req zone=quick burst=3 nodelay; return 200 "ok"; }
        location /partial { limit_req zone=part burst=3 delay=2; return 200 "ok"; }
        location /keyed { limit_req zone=keyed; return 200 "ok"; }
        location /conn {
            limit_conn conn 2;
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
        location /conn429 {
            limit_conn conn2 1;
            limit_conn_status 429;
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'slow');
$u->start;
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 3 }, 5), 'three workers');
my $p0 = $t->port(0);

# Sends n requests on n connections at once; returns, per request,
# [status, seconds until its response was complete].
sub parallel {
    my ($n, $path, %h) = @_;
    my $start = time;
    my (@s, %buf, %done);
    for my $i (0 .. $n - 1) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $p0, Proto => 'tcp', Timeout => 5) or next;
        my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
        $req .= "$_: $h{$_}\r\n" for sort keys %h;
        syswrite $s, "$req\r\n";
        $s[$i] = $s;
        $buf{$s} = '';
    }
    my $sel = IO::Select->new(grep { defined } @s);
    my $deadline = time + 10;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $b = '';
            my $r = sysread $s, $b, 65536;
            if ($r) { $buf{$s} .= $b; next; }
            $done{$s} = time - $start;
            $sel->remove($s);
            close $s;
        }
    }
    return map {
        my $s = $s[$_];
        defined $s ? [(parse_response($buf{$s}))[0] // 'none',
                      $done{$s} // 99] : ['none', 99]
    } 0 .. $n - 1;
}

sub count { my ($st, @r) = @_; return scalar grep { $_->[0] eq $st } @r }

# ---- limit_req: burst, counted once for all workers ------------------------------

{
    my @r;
    # One connection each, so that the kernel spreads them over workers.
    for my $i (1 .. 30) {
        my ($st) = parse_response(http_get($p0, "/burst?$i"));
        push @r, [$st // 'none', 0];
    }
    is(count(200, @r), 6,
        'rate=6r/m burst=5 nodelay, 30 requests over 3 workers: 6 admitted '
        . '(1 + burst), not 18');
    is(count(503, @r), 24, 'the others get 503 (default limit_req_status)');
    my $log = $t->read_file('access.log') // '';
    my %pids = map { $_ => 1 } $log =~ m{^(\d+) /burst}mg;
    cmp_ok(scalar(keys %pids), '>=', 2,
        'the burst was served by more than one worker');
}

{
    my @st = map { (parse_response(http_get($p0, '/status')))[0] } 1 .. 3;
    is_deeply(\@st, [200, 429, 429], 'limit_req_status 429, burst 0');
}

{
    my @st = map { (parse_response(http_get($p0, '/dry')))[0] } 1 .. 5;
    is_deeply(\@st, [(200) x 5], 'limit_req_dry_run on: nothing refused');
    ok(wait_for(sub { $t->error_log =~ /limiting requests, dry run, by zone "dry"/ }, 3),
        'dry run: the refusals are logged');
}

{
    my @st = map {
        (parse_response(http_get($p0, '/keyed', 'X-Key' => "k$_")))[0]
    } 1 .. 5;
    is_deeply(\@st, [(200) x 5], 'a key per client: each has its own bucket');
    @st = map { (parse_response(http_get($p0, '/keyed')))[0] } 1 .. 3;
    is_deeply(\@st, [(200) x 3], 'an empty key is not limited');
}

# ---- nodelay versus delay ----------------------------------------------------------

{
    my @r = parallel(5, '/nodelay');
    is(count(200, @r), 4, 'nodelay, burst=3: 4 of 5 simultaneous admitted');
    is(count(503, @r), 1, 'nodelay: the fifth refused');
    my @ok = grep { $_->[0] eq '200' } @r;
    cmp_ok((sort { $b <=> $a } map { $_->[1] } @ok)[0], '<', 0.45,
        'nodelay: all admitted answered at once');
}

{
    my @r = parallel(5, '/delay');
    is(count(200, @r), 4, 'delay, burst=3: 4 of 5 admitted');
    my @times = sort { $a <=> $b } map { $_->[1] } grep { $_->[0] eq '200' } @r;
    cmp_ok($times[0], '<', 0.2, 'delay: the first goes at once');
    cmp_ok($times[-1], '>', 0.6, 'delay: the last waits (3 x 250 ms at 4r/s)');
    cmp_ok($times[-1], '<', 3, 'delay: ... but not for long');
}

{
    my @r = parallel(4, '/partial');
    is(count(200, @r), 4, 'delay=2, burst=3: all 4 admitted');
    my @times = sort { $a <=> $b } map { $_->[1] } @r;
    cmp_ok($times[2], '<', 0.2, 'delay=2: the first three at once');
    cmp_ok($times[3], '>', 0.15, 'delay=2: the fourth is delayed');
}

# A client that leaves while delayed: no crash, the workers carry on.
{
    sleep 1.5;      # let the 'slow' bucket drain
    my @pids = sort $t->worker_pids;
    my @s;
    for (1 .. 4) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $p0, Proto => 'tcp', Timeout => 5) or next;
        syswrite $s, "GET /delay HTTP/1.1\r\nHost: x\r\n\r\n";
        push @s, $s;
    }
    sleep 0.2;
    close $_ for @s;
    sleep 1.2;
    is_deeply([sort $t->worker_pids], \@pids,
        'clients gone while delayed: no worker died');
    sleep 1;
    my ($st) = parse_response(http_get($p0, '/delay'));
    is($st, 200, 'and the next request is served');
}

# ---- limit_conn -------------------------------------------------------------------------

{
    my @r = parallel(5, '/conn?delay=1');
    is(count(200, @r), 2, 'limit_conn 2, 5 slow requests over 3 workers: 2 served');
    is(count(503, @r), 3, 'limit_conn: the others 503');
    my @after = map { (parse_response(http_get($p0, "/conn?n=$_")))[0] } 1 .. 3;
    is_deeply(\@after, [200, 200, 200],
        'limit_conn: the count goes back down when requests end');
    @r = parallel(3, '/conn429?delay=0.5');
    is(count(200, @r), 1, 'limit_conn 1: one served');
    is(count(429, @r), 2, 'limit_conn_status 429');
}

# ---- limits survive a reload ---------------------------------------------------------

{
    my ($st) = parse_response(http_get($p0, '/burst'));
    is($st, 503, 'burst zone still exhausted');
    # Requests delayed while their worker is told to stop gracefully
    # still get their answer.
    my @s;
    for (1 .. 4) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $p0, Proto => 'tcp', Timeout => 5) or next;
        syswrite $s, "GET /delay HTTP/1.1\r\nHost: x\r\n"
            . "Connection: close\r\n\r\n";
        push @s, $s;
    }
    sleep 0.1;
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 10),
        'reloaded');
    my $ok = 0;
    for my $s (@s) {
        my ($raw, $b) = ('', '');
        my $sel = IO::Select->new($s);
        my $deadline = time + 5;
        while (time < $deadline && $sel->can_read($deadline - time)) {
            last unless sysread $s, $b, 65536;
            $raw .= $b;
        }
        close $s;
        $ok++ if ((parse_response($raw))[0] // '') eq '200';
    }
    is($ok, 4, 'requests delayed across a reload are answered');
    ($st) = parse_response(http_get($p0, '/burst'));
    is($st, 503, 'after reload (same zone name and size): still limited');
}

$t->stop;
$u->stop;

# ---- configuration errors --------------------------------------------------------------

for my $case (
    [ 'limit_req_zone $binary_remote_addr zone=z:1m rate=5;', 'invalid rate' ],
    [ 'limit_req_zone $binary_remote_addr zone=z:1k rate=5r/s;', 'too small' ],
    [ 'limit_req_zone $binary_remote_addr zone=z:1m;', 'rate' ],
    [ 'limit_req zone=nosuch;', 'unknown limit zone "nosuch"' ],
    [ 'limit_conn nosuch 1;', 'unknown limit zone "nosuch"' ],
    [ 'limit_req_status 200;', 'between 400 and 599' ],
    [ "limit_req_zone \$binary_remote_addr zone=z:1m rate=1r/s;\n"
      . '    limit_req zone=z burst=2 nodelay delay=1;', 'mutually exclusive' ],
) {
    my ($line, $want) = @$case;
    my $path = $t->write_conf(<<"EOF", name => 'bad.conf');
http {
    access_log off;
    $line
    server { listen 127.0.0.1:%%PORT_3%%; return 200; }
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "bad: $want: exit 1");
    like($err, qr/bad\.conf:\d+: .*\Q$want\E/, "bad: $want: message with file:line")
        or diag($err);
}

done_testing;
