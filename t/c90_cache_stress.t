#!/usr/bin/perl

# Cache stress: four workers share one small zone while many clients
# fill it and churn through it for about a minute (SLUICE_STRESS_SECONDS,
# default 60).  The clients use keepalive connections and new ones, pick
# keys from a key space several times the zone (a hot set asked for more
# often, so that hits and evictions both happen all the time), now and
# then an object over max_object and a HEAD, and check every body against
# the SHA-256 of what the upstream sends for that key.  Meanwhile the
# test purges keys and prefixes with sluicectl.  At the end: every answer
# was a 200 with the right body, the zone counted hits, stores and
# evictions, `cache stats` finds it consistent, no worker died, and the
# error log has no alert.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;
my $secs = $ENV{SLUICE_STRESS_SECONDS} // 60;
my $nclients = 12;

# ports: 0 sluice; 1 the upstream.
$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 4;
events {
    worker_connections 1024;
}
http {
    access_log off;
    cache_zone hot size=1m max_object=48k;
    upstream app { server 127.0.0.1:%%PORT_1%%; keepalive 16; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; proxy_cache hot; }
    }
}
EOF

my $up = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'o',
    params => { date => 'now' },
    life => $secs + 120, idle => 30)->start;
$t->start;
my $p0 = $t->port(0);
my @workers = sort $t->worker_pids;
is(scalar @workers, 4, 'four workers');

# The key space: 600 keys of 100 B to 40 KiB (about 12 MB), the first 40
# of them hot; and 10 objects over max_object.
my $nkeys = 600;
sub key_len { 100 + ($_[0] * 7919) % (40 * 1024) }
sub key_path {
    my ($i) = @_;
    my $len = key_len($i);
    return "/g" . ($i % 10) . "/k$i?len=$len&seed=s$i"
        . '&h=Cache-Control:max-age=3600';
}
sub big_len { 64 * 1024 + $_[0] * 4099 }
sub big_path {
    my ($i) = @_;
    return "/big/b$i?len=" . big_len($i) . "&seed=b$i"
        . '&h=Cache-Control:max-age=3600';
}

# One client: requests until the deadline, each checked; writes a JSON
# summary to TESTDIR/client-N.json.
sub client {
    my ($n, $until) = @_;
    srand($n * 7717 + $$);
    my %r = (requests => 0, ok => 0, bad => 0, heads => 0, big => 0,
        conns => 0, errors => []);
    my $c;
    while (time < $until) {
        my ($path, $len, $seed, $head);
        my $dice = rand;
        if ($dice < 0.02) {
            my $i = int rand 10;
            ($path, $len, $seed) = (big_path($i), big_len($i), "b$i");
            $r{big}++;
        } else {
            my $i = rand() < 0.5 ? int rand 40 : int rand $nkeys;
            ($path, $len, $seed) = (key_path($i), key_len($i), "s$i");
        }
        $head = rand() < 0.03;
        # Half the clients keep their connection for a while.
        if (!$c || $c->eof || ($n % 2 && rand() < 0.2) || !($n % 2)) {
            $c->close if $c;
            $c = SluiceTest::Client->new(port => $p0, timeout => 20);
            $r{conns}++;
            if (!$c) {
                push @{ $r{errors} }, "connect: $!" if @{ $r{errors} } < 10;
                $r{bad}++;
                $r{requests}++;
                sleep 0.05;
                next;
            }
        }
        $r{requests}++;
        $r{heads}++ if $head;
        $c->request($head ? 'HEAD' : 'GET', $path);
        my ($st, $h, $body) = $c->read_response(head => $head,
            timeout => 20);
        my $good = ($st // 0) == 200 && (
            $head ? ($h->{'content-length'} // -1) == $len && $body eq ''
                  : defined $body && length($body) == $len
                    && SluiceTest::Upstream::sha($body)
                       eq SluiceTest::Upstream::body_sha($len, $seed));
        if ($good) {
            $r{ok}++;
        } else {
            $r{bad}++;
            push @{ $r{errors} }, sprintf('%s %s: status %s, %s bytes%s',
                $head ? 'HEAD' : 'GET', $path, $st // 'none',
                defined $body ? length $body : 'no',
                $c->error ? ', ' . $c->error : '')
                if @{ $r{errors} } < 10;
            $c->close;
            $c = undef;
        }
    }
    $c->close if $c;
    $t->write_file($t->testdir . "/client-$n.json",
        JSON::PP->new->encode(\%r));
}

my $until = time + $secs;
my @pids = map { my $n = $_; $t->spawn(sub { client($n, $until) }) }
    1 .. $nclients;

# Meanwhile: purges, of keys and prefixes, some of them hot.
my ($purges, $purge_fail, $purged) = (0, 0, 0);
while (time < $until - 1) {
    sleep 0.5 + rand;
    my $i = int rand 40;
    my @args = rand() < 0.3
        ? ('cache', 'purge', '--prefix', 'httplocalhost/g' . ($i % 10) . '/')
        : ('cache', 'purge', 'http://localhost' . key_path($i));
    my ($rc, $out) = $t->ctl(@args);
    $purges++;
    $purge_fail++ if $rc != 0;
    $purged += $1 while $out =~ /: (\d+) purged$/mg;
}

my %done = $t->wait_helpers($secs + 60, @pids);
is(scalar(grep { $_ != 0 } values %done), 0, 'every client finished');

my %sum = (requests => 0, ok => 0, bad => 0, heads => 0, big => 0,
    conns => 0);
my @errors;
for my $n (1 .. $nclients) {
    my $j = eval { JSON::PP->new->decode(
        $t->read_file($t->testdir . "/client-$n.json")) };
    if (!$j) {
        push @errors, "client $n left no summary";
        next;
    }
    $sum{$_} += $j->{$_} for keys %sum;
    push @errors, @{ $j->{errors} || [] };
}
diag(sprintf '%d requests (%d HEAD, %d over max_object) on %d '
    . 'connections in %ds; %d purges removed %d objects', $sum{requests},
    $sum{heads}, $sum{big}, $sum{conns}, $secs, $purges, $purged);
cmp_ok($sum{requests}, '>', 200 * $secs / 60 * 10,
    'clients made many requests');
is($sum{bad}, 0, 'every answer was a 200 with the right body')
    or diag(join "\n", @errors[0 .. ($#errors < 19 ? $#errors : 19)]);
is($sum{ok}, $sum{requests}, 'all requests counted ok');
cmp_ok($sum{big}, '>', 0, 'objects over max_object were asked for');
is($purge_fail, 0, 'every purge succeeded');

my ($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
my $j = eval { JSON::PP->new->decode($out) } // {};
my ($z) = @{ $j->{zones} || [] };
$z //= {};
diag(join ', ', map { "$_ $z->{$_}" } grep { defined $z->{$_} }
    qw(entries used free hit miss stored not_stored evicted purged
       collapsed));
is($z->{check}, 'ok', 'the zone is consistent');
ok($z->{consistent}, '... consistent is true');
cmp_ok($z->{hit} // 0, '>', $sum{requests} / 10, 'many hits');
cmp_ok($z->{evicted} // 0, '>', 0, 'evictions');
cmp_ok($z->{stored} // 0, '>', 600, 'many stores');
cmp_ok($z->{not_stored} // 0, '>=', 1, 'objects not stored');
cmp_ok($z->{purged} // 0, '>=', $purged, 'purges counted');
cmp_ok($z->{used} // 0, '<=', $z->{size} // 0, 'used within the zone');

# Nobody holds a reference any more: everything can be purged.
($rc, $out, $err) = $t->ctl('cache', 'purge', '--prefix', 'httplocalhost/');
is($rc, 0, 'purge everything: exit 0');
($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
$j = eval { JSON::PP->new->decode($out) } // {};
($z) = @{ $j->{zones} || [] };
is($z->{entries}, 0, 'purge everything: no entries left');
is($z->{check}, 'ok', 'purge everything: consistent');

is_deeply([sort $t->worker_pids], \@workers, 'no worker died');
unlike($t->error_log, qr/exited on signal|\[alert\]|\[emerg\]/,
    'no crash or alert in the error log');
$t->stop;
done_testing;
