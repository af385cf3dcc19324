#!/usr/bin/perl

# Proxy configuration and operations: sluice -t on good and bad upstream{}
# and proxy_* configs (exact FILE:LINE, exit 1); a host name as upstream
# server; a reload while a proxied request is in flight (it completes, the
# new upstreams take over, the old worker exits although it holds pooled
# upstream connections); a graceful stop (QUIT) finishes a proxied request.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new(need_ctl => 0);

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }

# ---- sluice -t ------------------------------------------------------------------------------

my $good = <<'EOF';
%%MAIN%%
worker_processes 1;
events {
    worker_connections 128;
}
http {
    access_log off;
    proxy_connect_timeout 5s;
    proxy_read_timeout 30s;
    proxy_send_timeout 30s;
    upstream app {
        server 127.0.0.1:%%PORT_5%% weight=3 max_fails=2 fail_timeout=5s max_conns=100;
        server 127.0.0.1:%%PORT_6%% backup;
        server 127.0.0.1:%%PORT_7%% down;
        server localhost:%%PORT_8%%;
        keepalive 16;
        keepalive_timeout 30s;
        keepalive_requests 500;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        proxy_set_header X-From server;
        location / {
            proxy_pass http://app;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_hide_header X-Powered-By;
            proxy_request_buffering on;
            proxy_buffer_size 16k;
            proxy_next_upstream error timeout invalid_header http_500 http_502 http_503 http_504 http_403 http_404 http_429 non_idempotent;
            proxy_next_upstream_tries 3;
        }
        location /api/ { proxy_pass http://127.0.0.1:%%PORT_5%%/v2/; }
        location /off/ {
            proxy_next_upstream off;
            proxy_request_buffering off;
            proxy_pass http://app;
        }
        location ~ \.php$ { proxy_pass http://app; }
    }
}
EOF

$t->write_conf($good);
my ($rc, $out, $err) = $t->run_t;
is($rc, 0, 'full proxy config: -t exits 0') or diag($err);
is($out, "configuration OK\n", 'full proxy config: configuration OK');

my $path = $t->conf_path;
my @bad = (
    ['location / { proxy_ssl_verify on; proxy_pass https://127.0.0.1:%%PORT_5%%; }',
        'https://', qr/proxy_ssl_trusted_certificate/,
        'proxy_pass https:// verified without a CA'],
    ['location ~ \.php$ { proxy_pass http://127.0.0.1:%%PORT_5%%/x/; }', 'proxy_pass',
        qr/\S/, 'URI part in a regex location'],
    ['location / { proxy_pass http://127.0.0.1:%%PORT_5%%; proxy_pass http://127.0.0.1:%%PORT_6%%; }',
        '%%PORT_6%%', qr/duplicate|\S/, 'two proxy_pass in a location'],
    ['proxy_pass http://127.0.0.1:%%PORT_5%%;', 'proxy_pass', qr/not allowed|\S/,
        'proxy_pass in server context'],
    ['location / { proxy_next_upstream error bogus; }', 'bogus', qr/bogus|invalid/,
        'proxy_next_upstream with an unknown value'],
    ['location / { proxy_set_header X-Only; }', 'X-Only', qr/number of arguments|\S/,
        'proxy_set_header with one argument'],
    ['location / { proxy_buffer_size abc; }', 'abc', qr/\S/, 'proxy_buffer_size abc'],
    ['location / { proxy_read_timeout forever; }', 'forever', qr/\S/,
        'proxy_read_timeout forever'],
    ['location / { proxy_next_upstream_tries -1; }', 'tries', qr/\S/,
        'proxy_next_upstream_tries -1'],
);
my @bad_up = (
    ['upstream u { server 127.0.0.1:%%PORT_5%% weight=0; }', 'weight=0', 'weight=0'],
    ['upstream u { server 127.0.0.1:%%PORT_5%% bogus=1; }', 'bogus=1', 'unknown server parameter'],
    ['upstream u { server 127.0.0.1:%%PORT_5%% max_fails=x; }', 'max_fails=x', 'max_fails=x'],
    ['upstream u { server 127.0.0.1:99999; }', '99999', 'port 99999'],
    ['upstream u { keepalive 0; server 127.0.0.1:%%PORT_5%%; }', 'keepalive 0', 'keepalive 0'],
    ['upstream u { server 127.0.0.1:%%PORT_5%%; } upstream u { server 127.0.0.1:%%PORT_6%%; }',
        '%%PORT_6%%', 'duplicate upstream'],
    ['upstream u { }', 'upstream u', 'upstream without servers'],
    ['keepalive 4;', 'keepalive 4', 'keepalive outside upstream'],
    ['upstream u { server 127.0.0.1:%%PORT_5%%; server 127.0.0.1:%%PORT_6%% backup max_conns=x; }',
        'max_conns=x', 'max_conns=x'],
);

for my $b (@bad) {
    my ($snippet, $marker, $re, $name) = @$b;
    my $conf = <<"EOF";
%%MAIN%%
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        $snippet
    }
}
EOF
    my $p = $t->write_conf($conf, name => 'bad.conf');
    my $text = $t->conf_text($p);
    my $m = $t->subst($marker);
    my $line = line_of($text, $m);
    my ($rc, $out, $err) = $t->run_t({ conf => $p });
    is($rc, 1, "-t $name: exit 1");
    like($err, qr/^sluice: \Q$p\E:$line: /, "-t $name: \"sluice: FILE:$line: reason\"")
        or diag($err);
    like($err, $re, "-t $name: reason");
}

for my $b (@bad_up) {
    my ($snippet, $marker, $name) = @$b;
    my $conf = <<"EOF";
%%MAIN%%
http {
    access_log off;
    $snippet
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200; }
    }
}
EOF
    my $p = $t->write_conf($conf, name => 'badup.conf');
    my $line = line_of($t->conf_text($p), $t->subst($marker));
    my ($rc, $out, $err) = $t->run_t({ conf => $p });
    is($rc, 1, "-t $name: exit 1");
    like($err, qr/^sluice: \Q$p\E:$line: \S/, "-t $name: \"sluice: FILE:$line: reason\"")
        or diag($err);
}

{
    my $p = $t->write_conf(<<'EOF', name => 'undef.conf');
%%MAIN%%
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://nosuchgroup; }
    }
}
EOF
    my $line = line_of($t->conf_text($p), 'nosuchgroup');
    my ($rc, $out, $err) = $t->run_t({ conf => $p, timeout => 20 });
    is($rc, 1, '-t proxy_pass to a name that is neither an upstream nor a host: exit 1');
    like($err, qr/^sluice: \Q$p\E:$line: .*nosuchgroup/, '-t unknown upstream: FILE:LINE and the name')
        or diag($err);
}

# ---- running: host name, reload, graceful stop ----------------------------------------------------

sub conf {
    my ($port) = @_;
    $t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 1;
worker_shutdown_timeout 20s;
events {
    worker_connections 128;
}
http {
    access_log off;
    upstream app {
        server 127.0.0.1:%%PORT_$port%%;
        keepalive 4;
    }
    upstream named { server localhost:%%PORT_5%%; }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; }
        location /named/ { proxy_pass http://named; }
        location /hostpass/ { proxy_pass http://localhost:%%PORT_5%%; }
    }
}
EOF
}

my $ua = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'a');
my $ub = SluiceTest::Upstream->new($t, port => $t->port(6), name => 'b');
$ua->start;
$ub->start;
conf(5);
$t->start;
my $p0 = $t->port(0);

sub get {
    my ($path) = @_;
    my ($st, $h, $b) = parse_response(http_get($p0, $path));
    return ($st // 'none') . ' ' . (echo($b)->{server} // '-');
}

is(get('/x'), '200 a', 'before reload: upstream a');
is(get('/named/x'), '200 a', 'upstream server given by host name (localhost)');
is(get('/hostpass/x'), '200 a', 'proxy_pass to a host name (localhost)');

{
    # pooled connections in the old worker, and one request in flight
    get("/warm$_") for 1 .. 3;
    my @old = $t->worker_pids;
    my $n = $ua->nrequests;
    my $c = SluiceTest::Client->new(port => $p0, timeout => 6);
    $c->get('/inflight?delay=1.5', Connection => 'close');
    ok($ua->wait_requests($n + 1, 2), 'reload: a request in flight at the upstream');
    conf(6);
    my $start = time;
    $t->signal('HUP');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 10),
        'reload: complete');
    ok(wait_for(sub { get('/new') eq '200 b' }, 5), 'after reload: upstream b');
    my ($st, $h, $b) = $c->read_response;
    is(($st // '-') . ' ' . (echo($b)->{target} // '-'), '200 /inflight?delay=1.5',
        'reload: the request in flight completes');
    my $gone = wait_for(sub { !grep { SluiceTest::proc_alive($_) } @old }, 8);
    ok($gone, sprintf('reload: the old worker exits soon after its last request '
        . '(pooled upstream connections do not keep it; %.1fs)', time - $start));
}

{
    my $n = $ub->nrequests;
    my $c = SluiceTest::Client->new(port => $p0, timeout => 6);
    $c->get('/last?delay=1', Connection => 'close');
    ok($ub->wait_requests($n + 1, 2), 'graceful stop: a request in flight at the upstream');
    $t->signal('QUIT');
    my ($st, $h, $b) = $c->read_response;
    is(($st // '-') . ' ' . (echo($b)->{target} // '-'), '200 /last?delay=1',
        'graceful stop: the proxied request in flight completes');
    ok($t->wait_exit(10), 'graceful stop: master exits');
}

$t->stop;
$ua->stop;
$ub->stop;

done_testing;
