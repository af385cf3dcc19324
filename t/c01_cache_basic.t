#!/usr/bin/perl

# The cache's basic path: a miss goes to the origin and is stored while
# it streams to its first client; later requests, in every worker, are
# hits sent from shared memory with Age and Cache-Status; chunked bodies
# are stored decoded; objects over max_object are streamed and not
# stored; HEAD is answered from a stored GET; $upstream_cache_status.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use IO::Select;
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

write_cache_conf($t, {
    connections => 256,
    zone => 'size=4m max_object=256k',
    log => '$pid $request_method $request_uri $status $upstream_cache_status',
}, <<'EOF');
    upstream u {
        server 127.0.0.1:%%PORT_5%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://u;
            proxy_cache one;
        }
        location /nc/ {
            proxy_pass http://u;
        }
        location /nohc/ {
            proxy_pass http://u;
            proxy_cache one;
            proxy_cache_convert_head off;
        }
    }
EOF

my $u = start_cache($t);
ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 5), 'two workers');

my $p0 = $t->port(0);
my $cc60 = 'h=Cache-Control:max-age=60&date=now';

# ---- miss, then hits in every worker ---------------------------------------

my ($st, $h, $b) = parse_response(http_get($p0, "/a?$cc60"));
is($st, 200, 'miss: 200');
is(echo($b)->{target}, "/a?$cc60", 'miss: the origin answered');
like($h->{'cache-status'} // '', qr/^sluice; fwd=miss; stored/,
    'miss: Cache-Status fwd=miss; stored');
ok(!defined $h->{age}, 'miss: no Age from a fresh origin answer');
my $first = $b;

my ($hits, $same, $ages, $cs) = (0, 0, 0, 0);
for my $i (1 .. 30) {
    my ($s2, $h2, $b2) = parse_response(http_get($p0, "/a?$cc60"));
    $hits++ if ($s2 // '') eq '200';
    $same++ if ($b2 // '') eq $first;
    $ages++ if defined $h2->{age} && $h2->{age} =~ /^\d+\z/;
    $cs++ if ($h2->{'cache-status'} // '') =~ /^sluice; hit; ttl=\d+/;
}
is($hits, 30, '30 hits answered 200');
is($same, 30, 'every hit has the stored body');
is($ages, 30, 'every hit has an Age');
is($cs, 30, 'every hit has Cache-Status: sluice; hit; ttl=N');
is($u->nrequests, 1, 'the origin saw one request for 31 answers');

{
    # keepalive: several hits on one connection
    my $c = SluiceTest::Client->new(port => $p0);
    my $ok = 0;
    for (1 .. 5) {
        $c->get("/a?$cc60");
        my ($s3, $h3, $b3) = $c->read_response;
        $ok++ if ($s3 // '') eq '200' && ($b3 // '') eq $first
            && ($h3->{connection} // '') eq 'keep-alive';
    }
    is($ok, 5, 'five hits on one keepalive connection');
    $c->close;
}

# ---- Age grows --------------------------------------------------------------

{
    my (undef, $h1) = parse_response(http_get($p0, "/a?$cc60"));
    sleep 2.2;
    my (undef, $h2) = parse_response(http_get($p0, "/a?$cc60"));
    cmp_ok($h2->{age}, '>=', ($h1->{age} // 0) + 2, "Age grows ($h1->{age} -> $h2->{age})");
    my ($ttl) = ($h2->{'cache-status'} // '') =~ /ttl=(\d+)/;
    ok(defined $ttl && $ttl <= 58, 'ttl in Cache-Status shrinks');
}

# ---- large and chunked bodies ----------------------------------------------

for my $case (['len=200000&seed=3', 200000, 3, 'Content-Length body'],
              ['te=chunked&len=150000&seed=4', 150000, 4, 'chunked body'])
{
    my ($q, $n, $seed, $what) = @$case;
    $u->clear;
    my ($s1, $h1, $b1) = parse_response(http_get($p0, "/big?$q&$cc60"));
    is(SluiceTest::Upstream::sha($b1 // ''),
        SluiceTest::Upstream::body_sha($n, $seed), "$what: first client gets it whole");
    like($h1->{"cache-status"} // "", $n == 200000 ? qr/fwd=miss; stored/ : qr/fwd=miss/, "$what: miss (stored while streaming)");
    my ($s2, $h2, $b2) = parse_response(http_get($p0, "/big?$q&$cc60"));
    like($h2->{'cache-status'} // '', qr/^sluice; hit/, "$what: then a hit");
    is($h2->{'content-length'}, $n, "$what: the hit has Content-Length $n");
    ok(!defined $h2->{'transfer-encoding'}, "$what: the hit is not chunked");
    is(SluiceTest::Upstream::sha($b2 // ''),
        SluiceTest::Upstream::body_sha($n, $seed), "$what: the hit body is the same");
    is($u->nrequests, 1, "$what: one origin request");
}

# ---- over max_object: streamed, not stored ---------------------------------

for my $q ('len=300000&seed=5', 'te=chunked&len=300000&seed=5') {
    $u->clear;
    my $ok = 0;
    for (1 .. 2) {
        my ($s1, $h1, $b1) = parse_response(http_get($p0, "/huge?$q&$cc60"));
        $ok++ if SluiceTest::Upstream::sha($b1 // '')
            eq SluiceTest::Upstream::body_sha(300000, 5)
            && ($h1->{'cache-status'} // '') !~ /stored|hit/;
    }
    is($ok, 2, "over max_object ($q): both clients get the whole body, nothing stored");
    is($u->nrequests, 2, "over max_object ($q): both went to the origin");
}

# ---- a first client that goes away: the fill goes on, nothing half stored --

{
    $u->clear;
    my $path = "/gone?len=200000&seed=6&stall=50000:1&$cc60";
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get($path, Connection => 'close');
    # read the head and some body, then leave while the origin stalls
    my $got = '';
    wait_for(sub {
        my $s = IO::Select->new($c->sock);
        if ($s->can_read(0.1)) { sysread($c->sock, my $d, 65536); $got .= $d // ''; }
        length $got > 1000;
    }, 5, 0.01);
    $c->close;
    ok(length $got > 1000, 'the first client got part of the body');
    sleep 1.5;      # the origin ends its stall; sluice reads on alone
    my ($s1, $h1, $b1) = parse_response(http_get($p0, $path));
    is(SluiceTest::Upstream::sha($b1 // ''), SluiceTest::Upstream::body_sha(200000, 6),
        'the next client gets the whole body');
    like($h1->{'cache-status'} // '', qr/^sluice; hit/,
        'a hit: the fill went on without the client (a stored, whole object)');
    is($u->nrequests, 1, 'the origin saw 1 request');
    my ($s2, $h2, $b2) = parse_response(http_get($p0, $path));
    is(SluiceTest::Upstream::sha($b2 // ''), SluiceTest::Upstream::body_sha(200000, 6),
        'and then it is a whole hit');
}

# ---- HEAD from a stored GET ---------------------------------------------------

{
    $u->clear;
    my $raw = http_head($p0, "/a?$cc60");
    my ($s1, $h1, $b1) = parse_response($raw, head => 1);
    is($s1, 200, 'HEAD: 200');
    like($h1->{'cache-status'} // '', qr/^sluice; hit/, 'HEAD: a hit on the stored GET');
    is($h1->{'content-length'}, length $first, 'HEAD: Content-Length of the stored body');
    like($raw, qr/\r\n\r\n\z/, 'HEAD: no body');
    is($u->nrequests, 0, 'HEAD: the origin not asked');

    # a HEAD miss goes to the origin as GET (proxy_cache_convert_head on,
    # the default): the whole answer is stored, the client gets the head
    for my $q ("len=150000&seed=7", "te=chunked&len=150000&seed=7") {
        $u->clear;
        my $raw = http_head($p0, "/headconv?$q&$cc60");
        my ($s2, $h2) = parse_response($raw, head => 1);
        is($s2, 200, "HEAD miss ($q): 200");
        like($raw, qr/\r\n\r\n\z/, "HEAD miss ($q): no body");
        is($h2->{'content-length'}, $q =~ /chunked/ ? undef : 150000,
            "HEAD miss ($q): the Content-Length a GET would have");
        # ("stored" is said only of a body of known length)
        like($h2->{'cache-status'} // '',
            $q =~ /chunked/ ? qr/^sluice; fwd=miss/ : qr/^sluice; fwd=miss; stored/,
            "HEAD miss ($q): a miss");
        is($u->last_request->{method}, 'GET', "HEAD miss ($q): sent upstream as GET");
        my ($s3, $h3, $b3) = parse_response(http_get($p0, "/headconv?$q&$cc60"));
        like($h3->{'cache-status'} // '', qr/^sluice; hit/, "HEAD miss ($q): then a GET hits");
        is(SluiceTest::Upstream::sha($b3 // ''), SluiceTest::Upstream::body_sha(150000, 7),
            "HEAD miss ($q): with the whole body");
        is($u->nrequests, 1, "HEAD miss ($q): the origin asked once");
        # a keepalive connection goes on after the HEAD
        my $c = SluiceTest::Client->new(port => $p0, timeout => 10);
        $c->request('HEAD', "/headconv2?$q&$cc60");
        my ($s4, $h4) = $c->read_response(head => 1);
        $c->get("/headconv2?$q&$cc60", Connection => 'close');
        my ($s5, $h5, $b5) = $c->read_response;
        is($s4 . ' ' . ($s5 // ''), '200 200', "HEAD then GET on one connection ($q)");
        like($h5->{'cache-status'} // '', qr/^sluice; hit/, "the GET after it hits ($q)");
        is(length($b5 // ''), 150000, "the GET after it has the body ($q)");
    }

    # converted, but the answer is not storable: read and dropped
    {
        $u->clear;
        my $c = SluiceTest::Client->new(port => $p0, timeout => 10);
        $c->request('HEAD', '/headns?h=Cache-Control:no-store&len=100000');
        my ($s4, $h4) = $c->read_response(head => 1);
        $c->get("/headns2?$cc60", Connection => 'close');
        my ($s5, $h5, $b5) = $c->read_response;
        is($s4, 200, 'HEAD miss, no-store: 200');
        is($h4->{'content-length'}, 100000, 'HEAD miss, no-store: Content-Length');
        is(echo($b5)->{target}, "/headns2?$cc60",
            'HEAD miss, no-store: the connection goes on (no body leaked)');
        is($u->nrequests, 2, 'HEAD miss, no-store: 2 origin requests');
    }

    # proxy_cache_convert_head off: a HEAD miss goes as HEAD, stores nothing
    $u->clear;
    my ($s2, $h2) = parse_response(http_head($p0, "/nohc/headonly?$cc60"), head => 1);
    is($s2, 200, 'convert_head off: HEAD miss: 200');
    is($u->last_request->{method}, 'HEAD', 'convert_head off: sent as HEAD');
    my ($s3, $h3) = parse_response(http_get($p0, "/nohc/headonly?$cc60"));
    like($h3->{'cache-status'} // '', qr/fwd=miss/, 'convert_head off: HEAD miss stored nothing');
}

# ---- without proxy_cache nothing changes ------------------------------------

{
    $u->clear;
    my ($s1, $h1) = parse_response(http_get($p0, "/nc/x?$cc60"));
    my ($s2, $h2) = parse_response(http_get($p0, "/nc/x?$cc60"));
    is($u->nrequests, 2, 'no proxy_cache: every request goes to the origin');
    ok(!defined $h2->{'cache-status'}, 'no proxy_cache: no Cache-Status');
}

$t->stop;

{
    my @l = split /\n/, $t->read_file('access.log') // '';
    my @a = grep { m{ GET /a\?} } @l;
    like($a[0] // '', qr/ 200 MISS$/, '$upstream_cache_status MISS for the first');
    is(scalar(grep { / 200 HIT$/ } @a), scalar(@a) - 1, '$upstream_cache_status HIT for the rest');
    my %pids = map { (split / /)[0] => 1 } grep { / HIT$/ } @a;
    SKIP: {
        skip 'the kernel sent every connection to one worker', 1 if keys %pids < 2;
        ok(keys %pids >= 2, 'hits served by ' . scalar(keys %pids) . ' workers from one store');
    }
}

done_testing;
