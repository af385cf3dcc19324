#!/usr/bin/perl

# proxy_cache* configuration: every directive accepted with nginx's
# syntax (zones may be declared after their use), errors as FILE:LINE:
# reason with exit 1; proxy_cache_bypass and proxy_no_cache with nginx's
# semantics (any value other than "" and "0"); proxy_cache_methods; keys
# longer than the store takes bypass the cache.

use strict;
use warnings;

use Test::More;
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

# ---- errors ------------------------------------------------------------------

sub bad {
    my ($lines, $want, $name, $marker) = @_;
    my $path = $t->write_conf(<<"EOF", name => 'bad.conf');
http {
    access_log off;
    cache_zone one size=1m;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            $lines
        }
    }
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "$name: exit 1");
    my $line = line_of($t->conf_text($path), $marker // (split /\s+/, $lines)[0]);
    like($err, qr/bad\.conf:$line: .*\Q$want\E/, "$name: file:line and reason")
        or diag($err);
}

bad('proxy_cache nope;', 'unknown cache zone "nope"', 'unknown zone');
bad('proxy_cache one; proxy_cache one;', 'duplicate', 'proxy_cache twice');
bad('proxy_cache_valid 99 10m;', 'invalid status code "99"', 'status code below 100');
bad('proxy_cache_valid abc 10m;', 'invalid status code "abc"', 'status code not a number');
bad('proxy_cache_valid 200 10x;', 'invalid time "10x"', 'bad time');
bad('proxy_cache_use_stale error sometimes;', 'invalid value "sometimes"', 'bad use_stale word');
bad('proxy_cache_use_stale off error;', 'cannot be combined', 'use_stale off with others');
bad('proxy_cache_methods GET PUT;', 'invalid method "PUT"', 'uncacheable method');
bad('proxy_cache_lock maybe;', 'maybe', 'lock not on/off');
bad('proxy_cache_lock_timeout 0;', 'must be greater than 0', 'lock timeout 0');
bad('proxy_cache_lock_timeout forever;', 'forever', 'lock timeout not a time');
bad('proxy_cache_key $nosuchvariable;', 'nosuchvariable', 'unknown variable in the key');
bad('proxy_cache_key a; proxy_cache_key b;', 'duplicate', 'key twice');
bad('proxy_cache_bypass $nosuchvariable;', 'nosuchvariable', 'unknown variable in bypass');
bad('proxy_no_cache $nosuchvariable;', 'nosuchvariable', 'unknown variable in no_cache');
bad('proxy_cache_purge yes;', 'yes', 'purge not on/off');
bad('proxy_cache_convert_head yes;', 'yes', 'convert_head not on/off');

{
    # an unknown zone inherited from server level: reported where it was set
    my $path = $t->write_conf(<<'EOF', name => 'bad.conf');
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        proxy_cache missing;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
    }
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    my $line = line_of($t->conf_text($path), 'proxy_cache missing');
    is($rc, 1, 'unknown zone at server level: exit 1');
    like($err, qr/bad\.conf:$line: unknown cache zone "missing"/, 'reported at its line');
}

# ---- a configuration using everything --------------------------------------------

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 1;
http {
    log_format c '$request_uri $status $upstream_cache_status';
    access_log %%TESTDIR%%/access.log c;
    proxy_cache_valid 10m;
    proxy_cache_valid 404 1m;
    proxy_cache_valid any 5s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache two;        # declared below
            proxy_cache_key $scheme$host$request_uri;
            proxy_cache_use_stale error timeout updating http_500 http_502
                                  http_503 http_504;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 2s;
            proxy_cache_methods GET HEAD;
            proxy_cache_bypass $arg_nocache $http_x_bypass;
            proxy_no_cache $http_x_nostore;
            proxy_cache_purge off;
            proxy_cache_convert_head on;
        }
        location /post/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache two;
            proxy_cache_methods POST;
        }
    }
    cache_zone two size=2m max_object=64k inactive=1h;
}
EOF

{
    my ($rc, $out, $err) = $t->run_t;
    is($rc, 0, 'every directive accepted, zone declared after its use')
        or diag($err);
}

my $u = start_cache($t);
my $p0 = $t->port(0);

my $q = 'h=Cache-Control:max-age=60&date=now';

{
    get("/b?$q");
    $u->clear;
    my (undef, $h) = get("/b?$q&nocache=1");
    is($u->nrequests, 1, 'proxy_cache_bypass $arg_nocache=1: to the origin');
    like($h->{'cache-status'}, qr/fwd=bypass/, 'Cache-Status fwd=bypass');
    get("/b?$q&nocache=0");
    is($u->nrequests, 2, 'another key (the query changed): a miss');
    get("/b?$q&nocache=0");
    is($u->nrequests, 2, '"0" does not bypass');
    get("/b?$q", 'X-Bypass' => 'yes');
    is($u->nrequests, 3, 'proxy_cache_bypass $http_x_bypass: to the origin');
    get("/b?$q", 'X-Bypass' => '');
    is($u->nrequests, 3, 'an empty value does not bypass');

    # bypass still stores (nginx): a new body replaces the stored one
    $u->clear;
    my (undef, undef, $b1) = get("/b2?$q");
    my (undef, undef, $b2) = get("/b2?$q", 'X-Bypass' => '1');
    my (undef, undef, $b3) = get("/b2?$q");
    isnt($b2, $b1, 'a bypassed request got a new answer');
    is($b3, $b2, 'which was stored');
}

{
    $u->clear;
    get("/ns?$q", 'X-Nostore' => '1');
    get("/ns?$q");
    is($u->nrequests, 2, 'proxy_no_cache: the answer was not stored');
    get("/ns?$q");
    is($u->nrequests, 2, 'without it, stored');
}

{
    $u->clear;
    get('/v?date=now');
    get('/v?date=now');
    is($u->nrequests, 1, 'proxy_cache_valid TIME inherited from http: 200 stored 10m');
    get('/v404?status=404&date=now');
    get('/v404?status=404&date=now');
    is($u->nrequests, 2, 'proxy_cache_valid 404');
    get('/v500?status=500&date=now');
    get('/v500?status=500&date=now');
    is($u->nrequests, 3, 'proxy_cache_valid any');
}

{
    $u->clear;
    my $long = 'x' x 4200;
    my ($s1) = get("/long?$q&pad=$long");
    my ($s2, $h2) = get("/long?$q&pad=$long");
    is($s2, 200, 'a key over the store limit: answered');
    is($u->nrequests, 2, 'and never cached');
    like($h2->{'cache-status'}, qr/fwd=bypass; detail=key-too-long/, 'Cache-Status says why');
}

{
    $u->clear;
    my $raw = "POST /post/x?$q HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Length: 2\r\n\r\nhi";
    my ($s) = parse_response(http($raw, port => $p0));
    ($s) = parse_response(http($raw, port => $p0));
    is($s, 200, 'proxy_cache_methods POST: accepted');
    is($u->nrequests, 2, 'POST answers are not stored (no Content-Location rules here)');
}

done_testing;
