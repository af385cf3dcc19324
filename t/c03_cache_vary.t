#!/usr/bin/perl

# Vary (RFC 9111 4.1): several variants of one URL live side by side,
# each request gets the variant its header values select (normalised
# whitespace, absent distinct from empty, several Vary fields), a new
# answer for one variant replaces only that variant, and Vary: * is
# never stored.

use strict;
use warnings;

use Test::More;
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

write_cache_conf($t, {}, <<'EOF');
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache one;
        }
        location /k/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache one;
            proxy_cache_key $scheme$host$uri;
        }
    }
EOF

my $u = start_cache($t);

sub seen { echo($_[0])->{headers} || [] }

# the request header value the origin saw for the variant's answer
sub saw {
    my ($body, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ seen($body) };
    return @v ? join(', ', @v) : '(none)';
}

my $q = '/v?h=Cache-Control:max-age=60&h=Vary:Accept-Encoding&date=now';

# Three variants, each fetched once, then each a hit with its own body.
my %first;
for my $ae ('gzip', 'br', undef) {
    my %h = defined $ae ? ('Accept-Encoding' => $ae) : ();
    my ($s, $h, $b) = get($q, %h);
    $first{$ae // ''} = $b;
    like($h->{'cache-status'}, qr/fwd=(?:miss|vary-miss)/, 'variant ' . ($ae // 'absent') . ': miss');
}
is($u->nrequests, 3, 'three variants fetched');
{
    my (undef, $h) = get($q, 'Accept-Encoding' => 'deflate');
    like($h->{'cache-status'}, qr/fwd=vary-miss/, 'a fourth value: Cache-Status fwd=vary-miss');
}
$u->clear;
for my $round (1 .. 2) {
    for my $ae ('gzip', 'br', undef) {
        my %h = defined $ae ? ('Accept-Encoding' => $ae) : ();
        my ($s, $h, $b) = get($q, %h);
        is($b, $first{$ae // ''}, "round $round, variant " . ($ae // 'absent') . ': its own stored body');
        is(saw($b, 'Accept-Encoding'), $ae // '(none)', 'the body is the answer to that value');
    }
}
is($u->nrequests, 0, 'all variants hit');

# Whitespace is normalised; empty is not absent.
{
    $u->clear;
    get($q, 'Accept-Encoding' => '  gzip  ');
    is($u->nrequests, 0, 'leading and trailing whitespace ignored');
    get($q, 'Accept-Encoding' => '');
    is($u->nrequests, 1, 'an empty value is not an absent field');
}

# Several fields named in Vary.
{
    my $q2 = '/v2?h=Cache-Control:max-age=60&h=Vary:Accept-Language,%20X-Dev&date=now';
    $u->clear;
    get($q2, 'Accept-Language' => 'en', 'X-Dev' => 'a');
    get($q2, 'Accept-Language' => 'en', 'X-Dev' => 'b');
    get($q2, 'Accept-Language' => 'fr', 'X-Dev' => 'a');
    is($u->nrequests, 3, 'Vary on two fields: three variants');
    get($q2, 'Accept-Language' => 'en', 'X-Dev' => 'a');
    get($q2, 'Accept-Language' => 'fr', 'X-Dev' => 'a');
    get($q2, 'X-Dev' => 'b', 'Accept-Language' => 'en');
    is($u->nrequests, 3, 'each combination hits');
}

# A fresh answer for one variant replaces that variant only.
{
    my $k = '/k/repl?h=Cache-Control:max-age=60&h=Vary:Accept-Encoding&date=now';
    my (undef, undef, $g1) = get($k, 'Accept-Encoding' => 'gzip');
    my (undef, undef, $b1) = get($k, 'Accept-Encoding' => 'br');
    $u->clear;
    my (undef, undef, $g2) = get($k, 'Accept-Encoding' => 'gzip', 'Cache-Control' => 'no-cache');
    isnt($g2, $g1, 'no-cache fetched gzip again');
    my (undef, undef, $g3) = get($k, 'Accept-Encoding' => 'gzip');
    my (undef, undef, $b3) = get($k, 'Accept-Encoding' => 'br');
    is($g3, $g2, 'the new gzip variant replaced the old one');
    is($b3, $b1, 'the br variant is untouched');
    is($u->nrequests, 1, 'one origin request');
}

# Vary: * is never stored.
{
    my $qs = '/star?h=Cache-Control:max-age=60&h=Vary:*&date=now';
    $u->clear;
    my (undef, $h1) = get($qs);
    my (undef, $h2) = get($qs);
    is($u->nrequests, 2, 'Vary: * is never stored');
    like($h1->{'cache-status'}, qr/detail=vary/, 'Vary: * Cache-Status says why');
    $u->clear;
    get('/star2?h=Cache-Control:max-age=60&h=Vary:Accept,%20*&date=now');
    get('/star2?h=Cache-Control:max-age=60&h=Vary:Accept,%20*&date=now');
    is($u->nrequests, 2, 'a "*" in a list counts too');
}

done_testing;
