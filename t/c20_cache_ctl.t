#!/usr/bin/perl

# cache_zone and the cache control commands.
#
# The directive's errors (`sluice -t`: "FILE:LINE: reason", exit 1): no
# size, a bad size, a zone below the store's minimum, max_object larger
# than the zone, a zone declared twice, a bad inactive, an unknown
# parameter, a bad name.  Then, on a running sluice with two zones:
# `sluicectl cache stats` on empty zones (text, -j, --zone, errors), the
# zones in /metrics; the zones filled through HTTP (the upstream counts
# what reaches it, so a hit is a request that did not), and
# `cache purge` by literal key, by URL (made into the default key
# $scheme$host$request_uri), by --prefix, restricted with --zone, with
# nothing to purge (exit 0, says so), and with -j -- each purge checked by
# a miss at the upstream afterwards.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ---- cache_zone errors -------------------------------------------------------

sub conf_with {
    my ($zones) = @_;
    return <<"EOF";
%%MAIN%%
events {
    worker_connections 128;
}
http {
    access_log %%TESTDIR%%/access.log;
$zones
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF
}

my @bad = (
    [ "    cache_zone a;  # BAD\n",
      'cache zone "a" must have "size" parameter' ],
    [ "    cache_zone a size=12q;  # BAD\n", 'invalid size "size=12q"' ],
    [ "    cache_zone a size=0;  # BAD\n", 'invalid size "size=0"' ],
    [ "    cache_zone a size=100k;  # BAD\n",
      'cache zone "a" is too small (size must be at least 256k)' ],
    [ "    cache_zone a size=1m max_object=2m;  # BAD\n",
      'max_object of cache zone "a" is larger than its size' ],
    [ "    cache_zone a size=1m max_object=x;  # BAD\n",
      'invalid max_object "max_object=x"' ],
    [ "    cache_zone a size=1m;\n    cache_zone a size=1m;  # BAD\n",
      'cache zone "a" is already declared' ],
    [ "    cache_zone a size=1m;\n    cache_zone a size=2m;  # BAD\n",
      'cache zone "a" is already declared' ],
    [ "    cache_zone a size=1m inactive=soon;  # BAD\n",
      'invalid inactive "inactive=soon"' ],
    [ "    cache_zone a size=1m inactive=0;  # BAD\n",
      'invalid inactive "inactive=0"' ],
    [ "    cache_zone a size=1m colour=red;  # BAD\n",
      'invalid parameter "colour=red"' ],
    [ "    cache_zone a/b size=1m;  # BAD\n",
      'invalid cache zone name "a/b" (1 to 64 of A-Z a-z 0-9 _ - .)' ],
    [ "    limit_conn_zone \$binary_remote_addr zone=a:1m;\n"
      . "    cache_zone a size=1m;  # BAD\n",
      'shared memory zone "a" is already used by another module' ],
);

for my $b (@bad) {
    my ($zones, $reason) = @$b;
    my $path = $t->write_conf(conf_with($zones));
    my $line = line_of($t->conf_text, '# BAD');
    my ($rc, $out, $err) = $t->run_t;
    is($rc, 1, "bad cache_zone ($reason): exit 1");
    is($err, "sluice: $path:$line: $reason\n", "... message: $reason");
}

{
    $t->write_conf(conf_with("    cache_zone a size=256k;\n"
        . "    cache_zone b.2_x-y size=2m max_object=2m inactive=1h;\n"));
    my ($rc, $out, $err) = $t->run_t;
    is($rc, 0, 'good cache_zones: -t exits 0') or diag($err);
    is($out, "configuration OK\n", 'good cache_zones: configuration OK');
}

# ---- a running sluice ----------------------------------------------------------

# ports: 0 sluice; 1 the upstream.
$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
events {
    worker_connections 256;
}
http {
    access_log %%TESTDIR%%/access.log;
    cache_zone one size=4m;
    cache_zone two size=1m max_object=64k inactive=30s;
    cache_zone brief size=256k inactive=1s;
    upstream app { server 127.0.0.1:%%PORT_1%%; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /one/ { proxy_pass http://app; proxy_cache one; }
        location /two/ { proxy_pass http://app; proxy_cache two; }
        location /brief/ { proxy_pass http://app; proxy_cache brief; }
        location = /metrics { metrics; }
    }
}
EOF

my $up = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'o',
    params => { date => 'now' })->start;
$t->start;
my $p0 = $t->port(0);

# "zone NAME" blocks of `cache stats` as { NAME => { field => value } }.
sub stats_text {
    my ($out) = @_;
    my (%z, $cur);
    for my $l (split /\n/, $out) {
        if ($l =~ /^zone (\S+)$/) { $cur = $z{$1} = {}; next; }
        next if $l eq '';
        if (defined $cur && $l =~ /^  (\w+): (.*)$/) { $cur->{$1} = $2; next; }
        $z{_junk} .= "$l\n";
    }
    return \%z;
}

sub stats {
    my ($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
    my $j = eval { JSON::PP->new->decode($out) };
    return { map { $_->{name} => $_ } @{ $j->{zones} || [] } };
}

my @counters = qw(hit miss expired revalidated stale bypass stored
    not_stored purged evicted inactive collapsed);

{
    my ($rc, $out, $err) = $t->ctl('cache', 'stats');
    is($rc, 0, 'cache stats: exit 0') or diag($err);
    is($err, '', 'cache stats: nothing on stderr');
    my $z = stats_text($out);
    is_deeply([sort grep { !/^_/ } keys %$z], ['brief', 'one', 'two'],
        'cache stats: every zone, in blocks') or diag($out);
    ok(!exists $z->{_junk}, 'cache stats: every line parsed') or diag($out);
    is($z->{one}{size}, 4 * 1048576, 'one: size');
    is($z->{one}{max_object}, 4 * 1048576 / 8, 'one: max_object defaults '
        . 'to size/8');
    is($z->{one}{inactive_timeout}, '600s', 'one: inactive defaults to 10m');
    is($z->{two}{max_object}, 65536, 'two: max_object as configured');
    is($z->{two}{inactive_timeout}, '30s', 'two: inactive as configured');
    for my $n (qw(one two)) {
        is($z->{$n}{entries}, 0, "$n: no entries");
        is($z->{$n}{used}, 0, "$n: nothing used");
        cmp_ok($z->{$n}{free}, '>', $z->{$n}{size} * 0.75,
            "$n: most of the zone is free");
        cmp_ok($z->{$n}{free}, '<=', $z->{$n}{size}, "$n: free <= size");
        is(scalar(grep { ($z->{$n}{$_} // '') eq '0' } @counters),
            scalar(@counters), "$n: every counter there and 0");
        is($z->{$n}{check}, 'ok', "$n: consistent");
    }

    ($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
    is($rc, 0, 'cache stats -j: exit 0');
    my $j = eval { JSON::PP->new->decode($out) };
    ok($j, 'cache stats -j: valid JSON') or diag("$@: $out");
    is(scalar @{ $j->{zones} || [] }, 3, 'cache stats -j: three zones');
    my ($one) = grep { $_->{name} eq 'one' } @{ $j->{zones} || [] };
    is($one->{size}, 4 * 1048576, 'cache stats -j: size');
    is($one->{entries}, 0, 'cache stats -j: entries');
    ok(JSON::PP::is_bool($one->{consistent}) && $one->{consistent},
        'cache stats -j: consistent is true');
    is($one->{check}, 'ok', 'cache stats -j: check ok');
    is(scalar(grep { defined $one->{$_} } @counters), scalar(@counters),
        'cache stats -j: every counter');

    ($rc, $out, $err) = $t->ctl('cache', 'stats', '--zone', 'two');
    is($rc, 0, 'cache stats --zone two: exit 0');
    is_deeply([keys %{ stats_text($out) }], ['two'],
        'cache stats --zone two: only two');

    ($rc, $out, $err) = $t->ctl('cache', 'stats', '--zone', 'nope');
    is($rc, 1, 'cache stats --zone nope: exit 1');
    is($err, "sluicectl: unknown cache zone \"nope\"\n",
        'cache stats --zone nope: says why');
    is($out, '', 'cache stats --zone nope: no output');

    for my $args (['cache'], ['cache', 'wipe'], ['cache', 'stats', '--zone'],
        ['cache', 'stats', 'x'], ['cache', 'purge'],
        ['cache', 'purge', 'a', 'b'], ['cache', 'purge', '--force', 'a'],
        ['cache', 'purge', '--prefix'])
    {
        ($rc, $out, $err) = $t->ctl(@$args);
        is($rc, 1, "@$args: exit 1");
        like($err, qr/^sluicectl: usage: cache purge \[--prefix\] \[--zone NAME\] KEY\|URL \| cache stats \[--zone NAME\]\n\z/,
            "@$args: usage");
    }
}

{
    my ($st, $h, $body) = parse_response(http_get($p0, '/metrics'));
    is($st, 200, 'metrics: 200');
    like($body, qr/^sluice_cache_entries\{zone="one"\} 0$/m,
        'metrics: entries of one');
    like($body, qr/^sluice_cache_size_bytes\{zone="two"\} 1048576$/m,
        'metrics: size of two');
    like($body, qr/^sluice_cache_lookups_total\{zone="one",result="hit"\} 0$/m,
        'metrics: hits of one');
    like($body, qr/^# TYPE sluice_cache_removals_total counter$/m,
        'metrics: removals are a counter');
}

# ---- filling and purging -----------------------------------------------------

# Cacheable for 10 minutes, content known by (len, seed).
sub path_of {
    my ($zone, $name, $len, $seed) = @_;
    return "/$zone/$name?len=$len&seed=$seed&h=Cache-Control:max-age=600";
}

sub get_ok {
    my ($path, $len, $seed, $what) = @_;
    my ($st, $h, $body) = parse_response(http_get($p0, $path));
    my $ok = ($st // 0) == 200 && defined $body && length($body) == $len
        && SluiceTest::Upstream::sha($body)
           eq SluiceTest::Upstream::body_sha($len, $seed);
    ok($ok, "$what: 200 and the right body")
        or diag("status " . ($st // 'none') . ", "
                . length($body // '') . " bytes");
    return $ok;
}

my %obj = map { $_ => path_of('one', $_, 1000 + $_, $_) } 1 .. 6;
$obj{t1} = path_of('two', 't1', 500, 7);
$obj{t2} = path_of('two', 't2', 500, 8);
my %len = ((map { $_ => 1000 + $_ } 1 .. 6), t1 => 500, t2 => 500);
my %seed = ((map { $_ => $_ } 1 .. 6), t1 => 7, t2 => 8);

sub get_obj { get_ok($obj{$_[0]}, $len{$_[0]}, $seed{$_[0]}, $_[1]) }

for my $k (sort keys %obj) { get_obj($k, "fill $k") }
is($up->nrequests, scalar keys %obj, 'fill: every object fetched once');
for my $k (sort keys %obj) { get_obj($k, "again $k") }
is($up->nrequests, scalar keys %obj,
    'fill: the second round is served from the cache');
{
    my $s = stats();
    is($s->{one}{entries}, 6, 'one holds 6 objects');
    is($s->{two}{entries}, 2, 'two holds 2 objects');
    cmp_ok($s->{one}{hit}, '>=', 6, 'one: hits counted');
    cmp_ok($s->{one}{miss}, '>=', 6, 'one: misses counted');
    is($s->{one}{stored}, 6, 'one: 6 stored');
    cmp_ok($s->{one}{used}, '>', 6 * 1000, 'one: bytes used');
    my ($st, $h, $body) = parse_response(http_get($p0, '/metrics'));
    like($body, qr/^sluice_cache_entries\{zone="one"\} 6$/m,
        'metrics: 6 entries in one');
    my ($hits) = $body =~
        /^sluice_cache_lookups_total\{zone="one",result="hit"\} (\d+)$/m;
    cmp_ok($hits // 0, '>=', 6, 'metrics: hits of one');
}

my $n = $up->nrequests;

# A literal key: the default key is $scheme$host$request_uri.
{
    my ($rc, $out, $err) = $t->ctl('cache', 'purge', "httplocalhost$obj{1}");
    is($rc, 0, 'purge by key: exit 0') or diag($err);
    is($out, "zone one: 1 purged\nzone two: 0 purged\nzone brief: 0 "
        . "purged\n", 'purge by key: one object in one');
    get_obj(1, 'after purge by key');
    is($up->nrequests, ++$n, 'after purge by key: fetched again');
    get_obj(1, 'and then');
    is($up->nrequests, $n, '... and cached again');
}

# A URL, with upper case in scheme and host and the port: made into the
# default key.
{
    my ($rc, $out, $err) = $t->ctl('cache', 'purge',
        "HTTP://LocalHost:$p0$obj{2}");
    is($rc, 0, 'purge by URL: exit 0') or diag($err);
    is($out, "zone one: 1 purged\nzone two: 0 purged\nzone brief: 0 "
        . "purged\n", 'purge by URL: one object');
    get_obj(3, 'an object not purged');
    is($up->nrequests, $n, '... is still a hit');
    get_obj(2, 'after purge by URL');
    is($up->nrequests, ++$n, 'after purge by URL: fetched again');
}

# Nothing to purge: exit 0, and it says so.
{
    my ($rc, $out, $err) = $t->ctl('cache', 'purge',
        "http://localhost/one/none");
    is($rc, 0, 'purge of nothing: exit 0');
    is($out, "zone one: 0 purged\nzone two: 0 purged\nzone brief: 0 "
        . "purged\nnothing purged: no object has the key \"http://localhost/one/none\" or "
        . "\"httplocalhost/one/none\"\n", 'purge of nothing: says so');
    ($rc, $out, $err) = $t->ctl('cache', 'purge', '--zone', 'nope', 'x');
    is($rc, 1, 'purge --zone nope: exit 1');
    is($err, "sluicectl: unknown cache zone \"nope\"\n",
        'purge --zone nope: says why');
}

# --zone: the same prefix in the other zone is not touched.
{
    my ($rc, $out, $err) = $t->ctl('cache', 'purge', '--zone', 'two',
        '--prefix', 'httplocalhost/');
    is($rc, 0, 'purge --zone two --prefix: exit 0') or diag($err);
    is($out, "zone two: 2 purged\n", 'purge --zone two --prefix: both of two');
    get_obj(4, 'one still has its objects');
    is($up->nrequests, $n, '... a hit');
    get_obj('t1', 'two lost t1');
    is($up->nrequests, ++$n, '... fetched again');
}

# --prefix with a URL, and -j.
{
    my ($rc, $out, $err) = $t->ctl('-j', 'cache', 'purge', '--prefix',
        "http://localhost:$p0/one/");
    is($rc, 0, 'purge -j --prefix URL: exit 0') or diag($err);
    my $j = eval { JSON::PP->new->decode($out) };
    ok($j, 'purge -j: valid JSON') or diag("$@: $out");
    is_deeply($j->{keys}, ["http://localhost:$p0/one/", 'httplocalhost/one/'],
        'purge -j: the keys tried');
    ok(JSON::PP::is_bool($j->{prefix}) && $j->{prefix}, 'purge -j: prefix');
    is($j->{purged}, 6, 'purge -j: all 6 objects of one');
    my %z = map { $_->{name} => $_->{purged} } @{ $j->{zones} || [] };
    is_deeply(\%z, { one => 6, two => 0, brief => 0 },
        'purge -j: per zone');
    for my $k (1 .. 6) { get_obj($k, "after purge --prefix: $k") }
    is($up->nrequests, $n + 6, 'after purge --prefix: all fetched again');
    $n += 6;
}

{
    my $s = stats();
    is($s->{one}{purged}, 1 + 1 + 6, 'one: purges counted');
    is($s->{two}{purged}, 2, 'two: purges counted');
    is($s->{one}{entries}, 6, 'one: 6 objects again');
    is($s->{one}{check}, 'ok', 'one: consistent after purges');
    is($s->{two}{check}, 'ok', 'two: consistent after purges');
}

# ---- inactive ------------------------------------------------------------------

# brief forgets an object nobody asked for within a second: the workers'
# expiry timer removes it (and counts it), fresh as it is.
{
    my $path = path_of('brief', 'x', 700, 9);
    get_ok($path, 700, 9, 'brief: fetched');
    is(stats()->{brief}{stored}, 1, 'brief: stored');
    my $n = $up->nrequests;
    ok(wait_for(sub { (stats()->{brief}{entries} // -1) == 0 }, 10),
        'brief: the object went inactive and was removed');
    my $s = stats();
    is($s->{brief}{inactive}, 1, 'brief: counted as inactive');
    is($s->{brief}{evicted}, 0, 'brief: not as evicted');
    get_ok($path, 700, 9, 'brief: asked again');
    is($up->nrequests, $n + 1, 'brief: fetched again');
}

$t->stop;
done_testing;
