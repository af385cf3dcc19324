#!/usr/bin/perl

# Passive failures alone (no health_check), over three workers: a server
# refusing connections is skipped after max_fails failures for
# fail_timeout, then probed again; the failure count lives in the shared
# health table, so the workers together try a dead server max_fails times,
# not max_fails times each; every request is still answered (retries).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Load;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ---- helpers -----------------------------------------------------------------




# connect() failures logged for addr so far.
sub nfail {
    my ($addr) = @_;
    return scalar(() = $t->error_log =~ /connect\(\) failed[^\n]*\Q$addr\E/g);
}

# Distinct worker pids in the access log lines whose URI starts with
# prefix.
sub workers_seen {
    my ($prefix) = @_;
    my %p;
    for my $l (split /\n/, $t->read_file('access.log') // '') {
        my ($pid, $uri) = split / /, $l;
        $p{$pid} = 1 if defined $uri && index($uri, $prefix) == 0;
    }
    return scalar keys %p;
}

# ports: 0 sluice; 1 a, 2 b (fake upstreams); 4, 6 nobody listens.
$t->write_conf(<<'EOF2');
%%MAIN%%
worker_processes 3;
events {
    worker_connections 1024;
}
http {
    log_format w '$pid $request_uri $status "$upstream_addr"';
    access_log %%TESTDIR%%/access.log w;

    upstream pf  { server 127.0.0.1:%%PORT_4%% max_fails=1 fail_timeout=2s;
                   server 127.0.0.1:%%PORT_1%%; }
    upstream pf3 { server 127.0.0.1:%%PORT_6%% max_fails=3 fail_timeout=2s;
                   server 127.0.0.1:%%PORT_2%%; }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /pf/  { proxy_pass http://pf; }
        location /pf3/ { proxy_pass http://pf3; }
    }
}
EOF2

my $a = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'a')->start;
my $b = SluiceTest::Upstream->new($t, port => $t->port(2), name => 'b')->start;
my $dead = '127.0.0.1:' . $t->port(4);
my $dead3 = '127.0.0.1:' . $t->port(6);
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 3 }, 5), 'three workers');
my $p0 = $t->port(0);

# ---- max_fails=1 --------------------------------------------------------------------

my ($t_first, $t_loaded);
{
    $t_first = time;
    my @r = load($p0, n => 60, conc => 3, path => sub { "/pf/$_[0]" });
    # The failure happened before this: fail_timeout counts from it.
    $t_loaded = time;
    my ($c, $bad) = tally(@r);
    my $f = nfail($dead);
    my $rec = server_rec($t, 'pf', $dead);
    my $nw = workers_seen('/pf/');
    diag(sprintf 'max_fails=1: 60 requests over %d workers in %.2fs: %s; the dead server '
        . 'tried %d times (failures %d, requests %d)', $nw, time - $t_first, fmt($c), $f,
        $rec->{failures} // -1, $rec->{requests} // -1);
    is($bad, 0, 'max_fails=1: 60 requests, all answered 200 (retried on a)');
    cmp_ok($nw, '>=', 2, 'max_fails=1: several workers served');
    ok($f >= 1, 'max_fails=1: the dead server was tried');
    # Shared: once in all.  A pick racing the first failure in another
    # worker may add one.
    ok($f <= 2, "max_fails=1: tried $f times in all, not once per worker");
    is($rec->{failures}, $f, 'servers -j: failures counts the connect failures');
    is($rec->{requests}, $f, 'servers -j: requests to the dead server as many');
    is($rec->{health}, 'unchecked', 'servers -j: health unchecked (passive only)');
    is(scalar(() = $t->error_log
        =~ /upstream server \Q$dead\E in "pf" is unavailable for 2s after 1 failure/g), 1,
        'max_fails=1: "is unavailable for 2s after 1 failure" logged once');

    # Within fail_timeout: skipped.
    @r = load($p0, n => 30, conc => 3, path => sub { "/pf/w$_[0]" });
    ($c, $bad) = tally(@r);
    is($bad, 0, 'within fail_timeout: 30 requests, all 200');
    is(nfail($dead), $f, 'within fail_timeout: the dead server not tried again')
        if time - $t_first < 1.8;
}

# ---- after fail_timeout: probed again ------------------------------------------------

{
    my $f0 = nfail($dead);
    # 2 s fail_timeout from a failure no later than $t_loaded (a slow,
    # sanitized build may take most of a second for the first load).
    my $left = $t_loaded + 2.3 - time;
    sleep $left if $left > 0;
    my @r = load($p0, n => 30, conc => 3, path => sub { "/pf/p$_[0]" });
    my ($c, $bad) = tally(@r);
    my $f = nfail($dead) - $f0;
    diag("after fail_timeout: the dead server tried $f more times");
    is($bad, 0, 'after fail_timeout: 30 requests, all 200');
    ok($f >= 1, 'after fail_timeout: the dead server probed again');
    ok($f <= 2, "after fail_timeout: probed $f times, then skipped again");
}

# ---- max_fails=3 ----------------------------------------------------------------------

{
    my @r = load($p0, n => 60, conc => 3, path => sub { "/pf3/$_[0]" });
    my ($c, $bad) = tally(@r);
    my $f = nfail($dead3);
    diag("max_fails=3: the dead server tried $f times over "
        . workers_seen('/pf3/') . ' workers');
    is($bad, 0, 'max_fails=3: 60 requests, all 200');
    ok($f >= 3 && $f <= 4, "max_fails=3: tried $f times in all (3, or 4 with a race)");
    is(scalar(() = $t->error_log
        =~ /upstream server \Q$dead3\E in "pf3" is unavailable for 2s after 3 failures/g), 1,
        'max_fails=3: "unavailable for 2s after 3 failures" logged once');
}

$t->stop;
$a->stop;
$b->stop;

done_testing;
