#!/usr/bin/perl

# metrics: limit_req and limit_conn refusals are counted, across workers,
# and dry runs apart.

use strict;
use warnings;

use Test::More;
use SluiceTest;

my $t = SluiceTest->new;
$t->write_conf(<<'EOF2');
worker_processes 2;
http {
    access_log off;
    limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { limit_req zone=one; return 200 "ok"; }
        location /dry/ { limit_req zone=one; limit_req_dry_run on;
                         return 200 "dry"; }
        location = /metrics { metrics; }
    }
}
EOF2
$t->allow_log(qr/limiting requests/);
$t->start;
my $p0 = $t->port(0);

my %st;
for (1 .. 10) {
    my ($s) = parse_response(http_get($p0, '/'));
    $st{$s // 'none'}++;
}
is($st{200}, 1, 'rate 1r/m: one request through');
is($st{503}, 9, 'the other nine refused with 503');
for (1 .. 4) {
    my ($s) = parse_response(http_get($p0, '/dry/x'));
    is($s, 200, 'dry run: served');
}

my ($s, undef, $body) = parse_response(http_get($p0, '/metrics'));
is($s, 200, '/metrics');
my %m;
while ($body =~ /^sluice_limit_rejections_total\{limit="(\w+)",dry_run="(\w+)"\} (\d+)$/mg) {
    $m{"$1/$2"} = $3;
}
is($m{'req/false'}, 9, 'sluice_limit_rejections_total req: 9 refused');
is($m{'req/true'}, 4, 'sluice_limit_rejections_total req dry run: 4');
is($m{'conn/false'}, 0, 'limit_conn: none');
like($body, qr/^# TYPE sluice_limit_rejections_total counter$/m, 'typed as a counter');

$t->stop;
done_testing;
