#!/usr/bin/perl

# Request collapsing: N clients ask for the same missing key at once, in
# several workers; one request goes to the origin and the others wait for
# its stored answer (proxy_cache_lock, on by default).  The wait is
# bounded by proxy_cache_lock_timeout, after which they go to the origin
# themselves; an answer that will not be stored releases the waiters at
# once; proxy_cache_lock off sends everyone.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new;

write_cache_conf($t, {
    connections => 512,
    zone => 'size=8m',
    log => '$request_uri $status $upstream_cache_status',
}, <<'EOF');
    upstream u {
        server 127.0.0.1:%%PORT_5%%;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://u;
            proxy_cache one;
        }
        location /short/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_lock_timeout 300ms;
        }
        location /nolock/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_lock off;
        }
    }
EOF

my $u = start_cache($t);
my $p0 = $t->port(0);
my $N = 12;

# N clients send the same request at once; returns their answers.
sub burst {
    my ($path) = @_;
    my @c = map { SluiceTest::Client->new(port => $p0, timeout => 15) } 1 .. $N;
    $_->get($path, Connection => 'close') for @c;
    my @r = map { [$_->read_response] } @c;
    $_->close for @c;
    return @r;
}

{
    my $path = '/c1?h=Cache-Control:max-age=60&date=now&delay=1&len=100000&seed=9';
    my @r = burst($path);
    my $want = SluiceTest::Upstream::body_sha(100000, 9);
    is(scalar(grep { ($_->[0] // '') eq '200' } @r), $N, "$N clients answered 200");
    is(scalar(grep { SluiceTest::Upstream::sha($_->[2] // '') eq $want } @r), $N,
        'every body is the whole object');
    is($u->nrequests, 1, "collapsed: the origin saw 1 request for $N clients");
    my $waited = grep { ($_->[1]{'cache-status'} // '') =~ /^sluice; hit.*; collapsed/ } @r;
    is($waited, $N - 1, 'the others waited and were hits (Cache-Status ...; collapsed)');
    my (undef, $h) = parse_response(http_get($p0, $path));
    like($h->{'cache-status'}, qr/^sluice; hit/, 'then a plain hit');

    my ($rc, $out) = $t->ctl('-j', 'cache', 'stats');
    my ($z) = grep { $_->{name} eq 'one' }
        @{ (eval { JSON::PP->new->decode($out) } || {})->{zones} || [] };
    is($z->{collapsed}, $N - 1, "sluicectl cache stats: collapsed $N - 1");
    is($z->{miss}, 1, 'one miss');
    is($z->{stored}, 1, 'one stored');
    is($z->{hit}, $N, "$N hits (the waiters and the plain one)");
}

{
    $u->clear;
    my @r = burst('/short/c2?h=Cache-Control:max-age=60&date=now&delay=1.5');
    is(scalar(grep { ($_->[0] // '') eq '200' } @r), $N, 'lock timeout: all answered');
    is($u->nrequests, $N, 'after proxy_cache_lock_timeout the waiters went to the origin');
    my $lt = grep { ($_->[1]{'cache-status'} // '') =~ /detail=lock-timeout/ } @r;
    # (one may take the claim over once it is as old as the timeout)
    cmp_ok($lt, '>=', $N - 3, "Cache-Status detail=lock-timeout for them ($lt)");
}

{
    $u->clear;
    my @r = burst('/c3?h=Cache-Control:no-store&date=now&delay=0.3');
    is(scalar(grep { ($_->[0] // '') eq '200' } @r), $N, 'not storable: all answered');
    is($u->nrequests, $N, 'not storable: every client went to the origin');
}

{
    $u->clear;
    my @r = burst('/nolock/c4?h=Cache-Control:max-age=60&date=now&delay=0.5');
    is(scalar(grep { ($_->[0] // '') eq '200' } @r), $N, 'lock off: all answered');
    cmp_ok($u->nrequests, '>', 1, 'proxy_cache_lock off: no collapsing (' . $u->nrequests . ' origin requests)');
}

done_testing;
