#!/usr/bin/perl

# Proxy with several workers: every worker proxies and pools; a server's
# passive failures (max_fails, fail_timeout) live in the shared health
# table, so that once one worker has seen it fail the others skip it too
# (DESIGN.md, "Shared memory").

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 4;
events {
    worker_connections 256;
}
http {
    log_format w '$pid $request_uri $status "$upstream_addr"';
    access_log %%TESTDIR%%/access.log w;

    upstream mf {
        server 127.0.0.1:%%PORT_1%% max_fails=1 fail_timeout=30s;
        server 127.0.0.1:%%PORT_5%%;
    }
    upstream ka {
        server 127.0.0.1:%%PORT_5%%;
        keepalive 2;
    }

    server {
        listen 127.0.0.1:%%PORT_0%%;
        location /mf/ { proxy_pass http://mf; }
        location /ka/ { proxy_pass http://ka; }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'good');
$u->start;
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 4 }, 5), 'four workers');

my $p0 = $t->port(0);
my $dead = $t->port(1);

sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }

{
    my $ok = 0;
    for my $i (1 .. 40) {
        my ($st, $h, $b) = parse_response(http_get($p0, "/mf/$i"));
        $ok++ if ($st // '') eq '200' && (echo($b)->{target} // '') eq "/mf/$i";
    }
    is($ok, 40, 'dead and live server, 40 requests over four workers: all answered');
}

{
    my $ok = 0;
    my @c = map { SluiceTest::Client->new(port => $p0) } 1 .. 8;
    for my $round (1 .. 5) {
        $c[$_]->get("/ka/$_-$round?len=1000&seed=$_") for 0 .. $#c;
        for my $i (0 .. $#c) {
            my ($st, $h, $b) = $c[$i]->read_response;
            $ok++ if ($st // '') eq '200' && ($b // '') eq SluiceTest::Upstream::body_bytes(1000, $i);
        }
    }
    $_->close for @c;
    is($ok, 40, 'keepalive pool in every worker: 8 clients x 5 requests answered');
}

$t->stop;
$u->stop;

{
    my @lines = grep { m{ /mf/} } split /\n/, $t->read_file('access.log') // '';
    my %pids = map { (split / /)[0] => 1 } @lines;
    my $fails = () = $t->error_log =~ /connect\(\) failed[^\n]*127\.0\.0\.1:$dead/g;
    SKIP: {
        skip 'the kernel sent every connection to one worker', 1 if keys %pids < 2;
        is($fails, 1, 'max_fails=1 shared by the workers: the dead server tried once in all '
            . '(requests served by ' . scalar(keys %pids) . ' workers)');
    }
    my $tried = grep { /"127\.0\.0\.1:$dead/ } @lines;
    ok($fails >= 1 && $fails <= 4, "the dead server tried at most once per worker ($fails)");
    is($tried, $fails, 'access log: $upstream_addr names the dead server once per failure');
}

done_testing;
