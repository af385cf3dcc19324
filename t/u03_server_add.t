#!/usr/bin/perl

# sluicectl server add / remove: the pool changes at run time, through the
# reload path (no request fails), and the change -- with drain states and
# weights -- is kept in STATE_DIR/upstreams.state, so it survives a reload
# and a restart.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use SluiceTest;

my $t = SluiceTest->new;
$t->write_conf(<<'EOF2');
worker_processes 2;
http {
    access_log off;
    upstream app {
        server 127.0.0.1:%%PORT_1%%;
        server 127.0.0.1:%%PORT_2%%;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; }
    }
    server { listen 127.0.0.1:%%PORT_1%%; location / { return 200 "one"; } }
    server { listen 127.0.0.1:%%PORT_2%%; location / { return 200 "two"; } }
    server { listen 127.0.0.1:%%PORT_3%%; location / { return 200 "three"; } }
}
EOF2
$t->start;
my ($p0, $p1, $p2, $p3) = map { $t->port($_) } 0 .. 3;

sub bodies {
    my ($n) = @_;
    my %seen;
    for (1 .. $n) {
        my ($st, undef, $b) = parse_response(http_get($p0, '/'));
        $seen{($st // 'none') == 200 ? $b : "status " . ($st // 'none')}++;
    }
    return \%seen;
}

sub servers {
    my ($rc, $out) = $t->ctl('-j', 'servers', 'app');
    return {} if $rc != 0;
    my $j = JSON::PP::decode_json($out);
    return { map { $_->{addr} => $_ } @{ $j->{upstreams}[0]{servers} } };
}

my $seen = bodies(20);
is_deeply([sort keys %$seen], [qw(one two)], 'two servers configured');

# ---- add ----------------------------------------------------------------------

my ($rc, $out, $err) = $t->ctl('server', 'add', 'app', "127.0.0.1:$p3",
    'weight=2');
is($rc, 0, 'server add: exit 0') or diag($err);
like($out, qr{^app/127\.0\.0\.1:$p3: added$}m, 'server add: reported');
ok(wait_for(sub { (bodies(12)->{three} // 0) > 0 }, 5),
    'the added server takes requests');
$seen = bodies(40);
ok(($seen->{three} // 0) > ($seen->{one} // 0),
    "weight=2 honoured (three $seen->{three}, one " . ($seen->{one} // 0) . ')');
ok(!grep(/^status/, keys %$seen), 'no request failed');
is(servers()->{"127.0.0.1:$p3"}{weight}, 2, 'servers -j shows it, weight 2');

# ---- remove -----------------------------------------------------------------------

($rc, $out) = $t->ctl('server', 'remove', 'app', "127.0.0.1:$p1");
is($rc, 0, 'server remove: exit 0');
ok(wait_for(sub { !exists bodies(10)->{one} }, 5),
    'the removed server takes no more requests');
ok(!exists servers()->{"127.0.0.1:$p1"}, 'servers no longer lists it');

# ---- errors --------------------------------------------------------------------------

for my $c (
    [['server', 'add', 'nope', '127.0.0.1:1'], qr/no upstream "nope"/],
    [['server', 'add', 'app', "127.0.0.1:$p2"], qr/already in upstream/],
    [['server', 'remove', 'app', '127.0.0.1:9'], qr/no server/],
    [['server', 'add', 'app', '127.0.0.1:7', 'weight=0'], qr/invalid weight/],
    [['server', 'add', 'app', '300.1.1.1:80'], qr/host not found/],
    [['server', 'frob', 'app', '127.0.0.1:7'], qr/usage/],
) {
    my ($r, $o, $e) = $t->ctl(@{ $c->[0] });
    is($r, 1, "@{$c->[0]}: exit 1");
    like($e, $c->[1], "@{$c->[0]}: reason");
}

# ---- state kept across a reload and a restart ---------------------------------------

$t->ctl('drain', "app/127.0.0.1:$p2");
my $state = $t->testdir . '/state/upstreams.state';
ok(-f $state, 'the state file exists');
my $text = do { local (@ARGV, $/) = $state; <> } // '';
like($text, qr/^add app 127\.0\.0\.1:$p3 2$/m, 'state file: the addition');
like($text, qr/^remove app 127\.0\.0\.1:$p1$/m, 'state file: the removal');
like($text, qr/^admin app 127\.0\.0\.1:$p2 drain$/m, 'state file: the drain');

($rc) = $t->ctl('reload');
is($rc, 0, 'reload');
my $s = servers();
ok(exists $s->{"127.0.0.1:$p3"} && !exists $s->{"127.0.0.1:$p1"},
    'after reload: the pool as changed');
is($s->{"127.0.0.1:$p2"}{admin}, 'drain', 'after reload: still drained');

$t->stop;
$t->start;
$s = servers();
ok(exists $s->{"127.0.0.1:$p3"}, 'after restart: the added server is there');
ok(!exists $s->{"127.0.0.1:$p1"}, 'after restart: the removed one is not');
is($s->{"127.0.0.1:$p2"}{admin}, 'drain', 'after restart: still drained');
is($s->{"127.0.0.1:$p3"}{weight}, 2, 'after restart: weight 2');
$seen = bodies(20);
is_deeply([sort keys %$seen], ['three'],
    'after restart: only the added server serves (the other is drained)');

$t->stop;
done_testing;
