#!/usr/bin/perl

# Cache zones across reloads.  Objects stored before a `sluicectl reload`
# and before a SIGHUP are still hits afterwards (the upstream sees no new
# request, the bodies are intact, and the zone's counters carried on);
# changing max_object and inactive keeps the objects too; a zone whose
# size changes starts empty, and a zone that is new at a reload works at
# once.  `cache stats` says the zones are consistent throughout.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ports: 0 sluice; 1 the upstream.
my $conf = <<'EOF';
%%MAIN%%
worker_processes 2;
events {
    worker_connections 256;
}
http {
    access_log %%TESTDIR%%/access.log;
    cache_zone keep size=2m;    # KEEP
    cache_zone grow size=1m;    # GROW
    # NEW
    upstream app { server 127.0.0.1:%%PORT_1%%; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /keep/ { proxy_pass http://app; proxy_cache keep; }
        location /grow/ { proxy_pass http://app; proxy_cache grow; }
        # NEWLOC
        location = /v { return 200 "VERSION"; }
    }
}
EOF

sub write_version {
    my ($v, %o) = @_;
    my $c = $conf;
    $c =~ s/VERSION/$v/;
    $c =~ s/cache_zone keep size=2m;/$o{keep}/ if $o{keep};
    $c =~ s/cache_zone grow size=1m;/$o{grow}/ if $o{grow};
    $c =~ s/# NEW\n/$o{new}\n/ if $o{new};
    $c =~ s/# NEWLOC\n/$o{newloc}\n/ if $o{newloc};
    $t->write_conf($c);
}

write_version('v1');
my $up = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'o',
    params => { date => 'now' })->start;
$t->start;
my $p0 = $t->port(0);

sub version {
    my ($st, $h, $body) = parse_response(http_get($p0, '/v'));
    return ($st // 0) == 200 ? $body : '';
}

sub stats {
    my ($rc, $out, $err) = $t->ctl('-j', 'cache', 'stats');
    my $j = eval { JSON::PP->new->decode($out) } or return {};
    return { map { $_->{name} => $_ } @{ $j->{zones} || [] } };
}

sub path_of {
    my ($zone, $i) = @_;
    return "/$zone/o$i?len=" . (3000 + 7 * $i) . "&seed=$zone$i"
        . '&h=Cache-Control:max-age=3600';
}

# GETs every object of zone; returns how many came back 200 and intact.
sub get_all {
    my ($zone) = @_;
    my $good = 0;
    for my $i (1 .. 8) {
        my ($st, $h, $body) = parse_response(http_get($p0, path_of($zone, $i)));
        $good++ if ($st // 0) == 200 && defined $body
            && SluiceTest::Upstream::sha($body)
               eq SluiceTest::Upstream::body_sha(3000 + 7 * $i, "$zone$i");
    }
    return $good;
}

is(version(), 'v1', 'v1 running');
is(get_all('keep'), 8, 'keep: 8 objects fetched');
is(get_all('grow'), 8, 'grow: 8 objects fetched');
is($up->nrequests, 16, 'the upstream saw each once');
is(get_all('keep') + get_all('grow'), 16, 'all again');
is($up->nrequests, 16, '... from the cache');
my $s0 = stats();
is($s0->{keep}{entries}, 8, 'keep holds 8');
is($s0->{grow}{entries}, 8, 'grow holds 8');
my $hits0 = $s0->{keep}{hit};
cmp_ok($hits0, '>=', 8, 'keep: hits counted');

# ---- sluicectl reload ----------------------------------------------------------

{
    write_version('v2');
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'sluicectl reload: exit 0') or diag($err);
    ok(wait_for(sub { version() eq 'v2' }, 10), 'sluicectl reload: applied');
    my $s = stats();
    is($s->{keep}{entries}, 8, 'after reload: keep still holds 8');
    is($s->{grow}{entries}, 8, 'after reload: grow still holds 8');
    cmp_ok($s->{keep}{hit}, '>=', $hits0, 'after reload: counters carried on');
    is(get_all('keep') + get_all('grow'), 16, 'after reload: all 16 intact');
    is($up->nrequests, 16, 'after reload: all 16 were hits');
    $s = stats();
    cmp_ok($s->{keep}{hit}, '>=', $hits0 + 8, 'after reload: hits counted');
    is($s->{keep}{check}, 'ok', 'after reload: keep consistent');
}

# ---- SIGHUP ------------------------------------------------------------------

{
    my %old = map { $_ => 1 } $t->worker_pids;
    write_version('v3');
    $t->signal('HUP');
    ok(wait_for(sub { version() eq 'v3' }, 10), 'HUP: applied');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } keys %old }, 10),
        'HUP: the old workers are gone');
    is(get_all('keep') + get_all('grow'), 16, 'after HUP: all 16 intact');
    is($up->nrequests, 16, 'after HUP: all 16 were hits');
    my $s = stats();
    is($s->{keep}{entries}, 8, 'after HUP: keep holds 8');
    is($s->{grow}{check}, 'ok', 'after HUP: grow consistent');
}

# ---- max_object and inactive change, size too; a new zone ----------------------

{
    write_version('v4', keep => 'cache_zone keep size=2m max_object=64k '
            . 'inactive=1h;',
        grow => 'cache_zone grow size=2m;',
        new => 'cache_zone fresh size=512k;',
        newloc => 'location /fresh/ { proxy_pass http://app; '
            . 'proxy_cache fresh; }');
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload with changed zones: exit 0') or diag($err);
    ok(wait_for(sub { version() eq 'v4' }, 10), 'changed zones: applied');
    my $s = stats();
    is($s->{keep}{entries}, 8, 'keep (max_object, inactive changed) holds 8');
    is($s->{keep}{max_object}, 65536, 'keep: the new max_object');
    is($s->{keep}{inactive_timeout}, 3600, 'keep: the new inactive');
    is($s->{grow}{entries}, 0, 'grow (size changed) is empty');
    is($s->{grow}{size}, 2 * 1048576, 'grow: the new size');
    is($s->{grow}{hit}, 0, 'grow: counters start over');
    is($s->{fresh}{entries}, 0, 'fresh: there, empty');
    is(get_all('keep'), 8, 'keep: 8 intact');
    is($up->nrequests, 16, 'keep: hits');
    is(get_all('grow'), 8, 'grow: 8 intact');
    is($up->nrequests, 24, 'grow: fetched again');
    is(get_all('grow'), 8, 'grow: 8 intact again');
    is($up->nrequests, 24, 'grow: now hits');
    is(get_all('fresh'), 8, 'fresh: 8 fetched');
    is(get_all('fresh'), 8, 'fresh: 8 again');
    is($up->nrequests, 32, 'fresh: stored at once');
    $s = stats();
    is($s->{$_}{check}, 'ok', "$_ consistent") for qw(keep grow fresh);
}

$t->stop;
done_testing;
