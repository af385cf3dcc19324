#!/usr/bin/perl

# A client that goes away during a cache miss: while the response is being
# stored, sluice lets the client go but reads the origin's body to its end
# into the cache (as nginx ignores a client's abort for a cacheable
# response), so the next request is a hit, the requests collapsed behind
# the aborted one get the object, and the origin sees one request.  An
# answer that is not being stored still ends the upstream fetch at once.
# The aborted request is logged once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

write_cache_conf($t, {
    zone => 'size=32m max_object=8m',
    log => '$request_uri $status $upstream_cache_status',
}, <<'EOF');
    upstream u {
        server 127.0.0.1:%%PORT_5%%;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://u;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache one;
            proxy_cache_lock_timeout 60s;
            proxy_read_timeout 30s;
        }
        location /st/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_read_timeout 30s;
            send_timeout 1s;
        }
    }
EOF

my $u = start_cache($t);
my $p0 = $t->port(0);
my $LEN = 400000;

# The origin's "done" record for the request with target matching re
# (bounded wait), or undef.
sub wait_done {
    my ($re, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        my @ev = $u->events;
        my %conn;
        for my $e (@ev) {
            $conn{"$e->{conn}/$e->{seq}"} = $e
                if $e->{ev} eq 'request' && $e->{target} =~ $re;
        }
        for my $e (@ev) {
            return $e if $e->{ev} eq 'done' && $conn{"$e->{conn}/$e->{seq}"};
        }
        sleep 0.1;
    }
    return undef;
}

# Sends GET path, reads the response head only, then closes the socket
# with the body unread (the kernel resets the connection).
sub get_head_and_close {
    my ($path) = @_;
    my $c = SluiceTest::Client->new(port => $p0, timeout => 15);
    $c->get($path);
    my ($st) = $c->read_response(head => 1);
    $c->close;
    return $st;
}

sub log_lines {
    my ($re) = @_;
    my $end = time + 20;
    my @l;
    while (time < $end) {
        @l = grep { $_ =~ $re } split /\n/, $t->read_file('access.log') // '';
        last if @l;
        sleep 0.1;
    }
    return @l;
}

my $cacheable = "h=Cache-Control:max-age=600&date=now&len=$LEN"
    . "&slow=16384:0.04&done=1";
my $want = SluiceTest::Upstream::body_sha($LEN, 3);

{
    my $path = "/a1?$cacheable&seed=3";
    is(get_head_and_close($path), '200', 'the first client got the head, then closed');
    my $d = wait_done(qr{^/a1\?}, 30);
    ok($d && $d->{ok}, 'the origin sent the whole body: sluice kept reading');
    my ($st, $h, $b) = get($path);
    is($st, '200', 'then 200');
    like($h->{'cache-status'} // '', qr/^sluice; hit/, 'a hit');
    is(length($b // ''), $LEN, 'full length');
    is(SluiceTest::Upstream::sha($b // ''), $want, 'the stored body is intact');
    is($u->nrequests, 1, 'the origin saw 1 request');
    sleep 0.3;
    my @l = log_lines(qr{^/a1\?.* MISS$});
    is(scalar(@l), 1, 'the aborted request is logged once (' . ($l[0] // '') . ')');
}

{
    $u->clear;
    my $path = "/a2?$cacheable&seed=3";
    my $first = SluiceTest::Client->new(port => $p0, timeout => 15);
    $first->get($path);
    my ($st0) = $first->read_response(head => 1);
    is($st0, '200', 'collapsing: the first client has the head');
    # The others come while the first is being stored: they wait.
    my @c = map { SluiceTest::Client->new(port => $p0, timeout => 40) } 1 .. 3;
    $_->get($path, Connection => 'close') for @c;
    sleep 0.2;
    $first->close;
    my @r = map { [$_->read_response] } @c;
    $_->close for @c;
    is(scalar(grep { ($_->[0] // '') eq '200' } @r), 3, 'the 3 waiters got 200');
    is(scalar(grep { SluiceTest::Upstream::sha($_->[2] // '') eq $want } @r), 3,
        'each the whole object');
    is($u->nrequests, 1, 'no second origin request for the waiters');
}

{
    $u->clear;
    # 2 MB at 16 KB every 40 ms: about 5 s if it were all read.
    my $path = '/n1?h=Cache-Control:no-store&date=now&len=2000000'
        . '&slow=16384:0.04&done=1&seed=4';
    my $t0 = time;
    is(get_head_and_close($path), '200', 'not stored: the head, then closed');
    my $d = wait_done(qr{^/n1\?}, 30);
    ok($d, 'the origin finished its answer');
    is($d && $d->{ok}, 0, 'and saw its connection closed: the fetch ended');
    my $o = SluiceTest::Client->new(port => $p0, timeout => 10);
    $o->get('/n2?h=Cache-Control:max-age=60&date=now', Connection => 'close');
    my ($st) = $o->read_response;
    is($st, '200', 'sluice answers the next request');
}

# A client that stops reading: after send_timeout it is let go and the
# fill goes on.  (6 MB is more than the socket buffers hold: the default
# 4 MB send buffer and the client's unread receive buffer.)
{
    $u->clear;
    my $n = 6000000;
    my $path = "/st/a?h=Cache-Control:max-age=600&date=now&len=$n&seed=8&done=1";
    my $c = SluiceTest::Client->new(port => $p0, timeout => 15);
    $c->get($path);
    # Logged when the client is let go; it has read nothing so far.
    my @l = log_lines(qr{^/st/a\?});
    is(scalar(@l), 1, 'send_timeout: the stalled client was let go and logged');
    ok($c->wait_closed(20), 'its connection was closed');
    cmp_ok(length($c->pending), '<', $n, 'before the whole body reached it');
    $c->close;
    my $d = wait_done(qr{^/st/a\?}, 30);
    ok($d && $d->{ok}, 'send_timeout: the origin sent the whole body');
    my ($st, $h, $b) = get($path);
    like($h->{'cache-status'} // '', qr/^sluice; hit/, 'send_timeout: then a hit');
    is(SluiceTest::Upstream::sha($b // ''), SluiceTest::Upstream::body_sha($n, 8),
        'send_timeout: the stored body is intact');
    is($u->nrequests, 1, 'send_timeout: the origin saw 1 request');
}

# Outgrows max_object while filling alone (no length: chunked): the store
# gives up, and so does the fetch.
{
    $u->clear;
    my $path = '/big?h=Cache-Control:max-age=600&date=now&len=12000000'
        . '&te=chunked&chunks=65536&slow=65536:0.01&done=1&seed=5';
    is(get_head_and_close($path), '200', 'too big: the head, then closed');
    my $d = wait_done(qr{^/big\?}, 40);
    ok($d, 'the origin finished its answer');
    is($d && $d->{ok}, 0, 'too big to store: the fetch ended');
}

$t->stop;
ok(!$t->stop_timed_out, 'sluice stopped in time');
done_testing;
