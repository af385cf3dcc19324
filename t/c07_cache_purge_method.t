#!/usr/bin/perl

# The PURGE method: where proxy_cache_purge is on, PURGE removes every
# variant stored under the request's key (200 naming the count, 404 when
# nothing was there); access control applies first (allow/deny, auth);
# where it is off PURGE is 405 and purges nothing; in a location without
# proxy_cache it goes to the origin like any other method.

use strict;
use warnings;

use Test::More;
use SluiceTest;
use SluiceTest::Upstream;
use SluiceTest::Cache;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_file('htpasswd',
    "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n");    # secret

write_cache_conf($t, {
    log => '$request_method $request_uri $status $upstream_cache_status',
}, <<'EOF');
    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_cache one;
        location / {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache_purge on;
            allow 127.0.0.1;
            deny all;
        }
        location /denied/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache_purge on;
            allow 10.255.255.0/24;
            deny all;
        }
        location /auth/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache_purge on;
            auth_basic staff;
            auth_basic_user_file htpasswd;
        }
        location /off/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
        location /nocache/ {
            proxy_pass http://127.0.0.1:%%PORT_5%%;
            proxy_cache off;
            proxy_cache_purge on;
        }
    }
EOF

my $u = start_cache($t);
my $p0 = $t->port(0);

sub purge {
    my ($path, %h) = @_;
    my $req = "PURGE $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return parse_response(http("$req\r\n", port => $p0));
}

my $q = 'h=Cache-Control:max-age=60&h=Vary:Accept-Encoding&date=now';

{
    get("/a?$q", 'Accept-Encoding' => 'gzip');
    get("/a?$q", 'Accept-Encoding' => 'br');
    get("/a?$q");
    $u->clear;
    get("/a?$q", 'Accept-Encoding' => 'gzip');
    is($u->nrequests, 0, 'stored');
    my ($s, $h, $b) = purge("/a?$q");
    is($s, 200, 'PURGE allowed: 200');
    is($b, "purged 3\n", 'every variant of the key removed, the count in the body');
    get("/a?$q", 'Accept-Encoding' => 'gzip');
    get("/a?$q", 'Accept-Encoding' => 'br');
    is($u->nrequests, 2, 'after PURGE the origin is asked again');
    ($s, $h, $b) = purge("/never-stored");
    is($s, 404, 'PURGE of a key with nothing stored: 404');
    ($s) = purge("/a?other");
    is($s, 404, 'the key is exact: another query is another key');
}

{
    get("/denied/x?$q");
    my ($s) = purge("/denied/x?$q");
    is($s, 403, 'PURGE denied by allow/deny: 403');
}

{
    get("/auth/x?$q", Authorization => 'Basic Ym9iOnNlY3JldA==');
    $u->clear;
    my ($s, $h) = purge("/auth/x?$q");
    is($s, 401, 'PURGE without credentials: 401');
    ($s) = purge("/auth/x?$q", Authorization => 'Basic Ym9iOndyb25n');
    is($s, 401, 'PURGE with wrong credentials: 401');
    get("/auth/x?$q", Authorization => 'Basic Ym9iOnNlY3JldA==');
    is($u->nrequests, 0, 'still stored');
    ($s) = purge("/auth/x?$q", Authorization => 'Basic Ym9iOnNlY3JldA==');
    is($s, 200, 'PURGE with credentials: 200');
}

{
    get("/off/x?$q");
    $u->clear;
    my ($s, $h) = purge("/off/x?$q");
    is($s, 405, 'proxy_cache_purge off: 405');
    like($h->{allow} // '', qr/GET/, '405 with Allow');
    get("/off/x?$q");
    is($u->nrequests, 0, 'nothing purged, the origin not asked');
    $u->clear;
    ($s) = purge("/nocache/x");
    isnt($s, 405, 'no proxy_cache: PURGE is not ours');
    is($u->nrequests, 1, 'no proxy_cache: PURGE goes to the origin');
}

$t->stop;
like($t->read_file('access.log') // '', qr{^PURGE /a\S* 200 PURGED$}m, 'access log: PURGE 200 PURGED');

done_testing;
