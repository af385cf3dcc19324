#!/usr/bin/perl

# The `status_page;` handler: ?format=json (parsed with JSON::PP) shows
# every upstream server with the health and admin state it has (one up,
# one drained with `sluicectl drain`, one down by a failing health check,
# one `down` in the configuration) and agrees with `sluicectl -j servers`;
# the HTML page is self-contained (no external scripts, styles, images or
# links; it fetches a relative URL), well formed, no-store, and 405 to
# POST.  When /usr/bin/chromium is there, headless Chromium loads the
# page: the rendered DOM has data-loaded="1" on <body> and one row per
# server with the right data-health and data-admin, and a phone-sized
# screenshot (412x915) is taken into the test dir.  Last, an upstream
# whose name holds a quote, a backslash and markup still gives valid JSON.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# ports: 0 sluice; 1 up, 2 drained (fake upstreams); 3 nobody (down by
# its health check); 4 nobody (down in the configuration).
my $conf = <<'EOF';
worker_processes 2;
events {
    worker_connections 256;
}
http {
    access_log %%TESTDIR%%/access.log;
    upstream app {
        server 127.0.0.1:%%PORT_1%%;
        server 127.0.0.1:%%PORT_2%% weight=3;
        server 127.0.0.1:%%PORT_3%%;
        server 127.0.0.1:%%PORT_4%% down;
        health_check uri=/health interval=200ms timeout=200ms fall=1 rise=1;
    }
    # EXTRA
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { proxy_pass http://app; }
        location = /status { status_page; }
    }
}
EOF
$t->write_conf($conf);

my $u1 = SluiceTest::Upstream->new($t, port => $t->port(1), name => 'one')->start;
my $u2 = SluiceTest::Upstream->new($t, port => $t->port(2), name => 'two')->start;
$t->start;
my $p0 = $t->port(0);
my %addr = map { $_ => '127.0.0.1:' . $t->port($_) } 1 .. 4;
my ($A_UP, $A_DRAIN, $A_DOWN, $A_CONF) = @addr{1 .. 4};

# The expected state of each server: [health, admin].
my %want = (
    $A_UP    => ['up', 'ready'],
    $A_DRAIN => ['up', 'drain'],
    $A_DOWN  => ['down', 'ready'],
);

sub status_json {
    my ($st, $h, $body) = parse_response(http_get($p0, '/status?format=json'));
    return (undef, $st, $h, $body) unless defined $st && $st == 200;
    my $j = eval { JSON::PP->new->decode($body) };
    return ($j, $st, $h, $body, $@);
}

sub servers_of {
    my ($j, $name) = @_;
    for my $u (@{ ($j && $j->{upstreams}) || [] }) {
        return @{ $u->{servers} || [] } if $u->{name} eq $name;
    }
    return ();
}

# ---- the states ---------------------------------------------------------------------

{
    my ($rc, $out, $err) = $t->ctl('drain', "app/$A_DRAIN");
    is($rc, 0, "sluicectl drain app/$A_DRAIN") or diag($err);
}
# Some traffic, so that the counters are not all zero.
my $n200 = grep {
    my ($st) = parse_response(http_get($p0, "/page/$_"));
    defined $st && $st == 200;
} 1 .. 6;
is($n200, 6, 'six requests through the proxy: 200');

my $j;
ok(wait_for(sub {
    ($j) = status_json();
    my %s = map { $_->{addr} => $_ } servers_of($j, 'app');
    return ($s{$A_DOWN}{health} // '') eq 'down' && ($s{$A_UP}{health} // '') eq 'up'
        && ($s{$A_DRAIN}{admin} // '') eq 'drain';
}, 5), 'JSON: the states settle (health checks ran, drain applied)');

{
    my ($j2, $st, $h, $body, $err) = status_json();
    is($st, 200, 'GET /status?format=json: 200');
    ok($j2, 'the JSON parses') or diag($err // '', substr($body // '', 0, 500));
    like($h->{'content-type'} // '', qr{^application/json\b}, 'Content-Type: application/json');
    is($h->{'cache-control'}, 'no-store', 'JSON: Cache-Control: no-store');
    $j = $j2 if $j2;

    ok(defined $j->{version} && !ref $j->{version} && length $j->{version}, 'JSON: version');
    for my $k (qw(time started requests connections generation_reloads)) {
        like($j->{$k} // '', qr/^\d+$/, "JSON: $k is a number");
    }
    ok($j->{time} >= $j->{started}, 'JSON: time >= started');
    ok($j->{requests} >= 6, "JSON: requests counted ($j->{requests})");
    is_deeply([sort keys %{ $j->{status} || {} }], [qw(1xx 2xx 3xx 4xx 5xx)],
        'JSON: status classes');
    ok($j->{status}{'2xx'} >= 6, 'JSON: 2xx counted');
    is_deeply([map { $_->{name} } @{ $j->{upstreams} || [] }], ['app'], 'JSON: one upstream, app');

    my @s = servers_of($j, 'app');
    is_deeply([map { $_->{addr} } @s], [$A_UP, $A_DRAIN, $A_DOWN, $A_CONF],
        'JSON: the servers in configuration order');
    my %s = map { $_->{addr} => $_ } @s;
    for my $a (sort keys %want) {
        is("$s{$a}{health}/$s{$a}{admin}", join('/', @{ $want{$a} }),
            "JSON: $a health/admin $want{$a}[0]/$want{$a}[1]");
    }
    is($s{$A_CONF}{admin}, 'down', "JSON: $A_CONF (down in the configuration): admin down");
    is($s{$A_DRAIN}{weight}, 3, 'JSON: weight=3');
    is($s{$A_UP}{weight}, 1, 'JSON: weight 1 by default');
    ok(JSON::PP::is_bool($s{$A_UP}{backup}) && !$s{$A_UP}{backup}, 'JSON: backup false');
    ok($s{$A_UP}{requests} >= 1, 'JSON: requests to the up server');
    # The fake upstreams record a request after answering it: give the
    # last record a moment (a sanitized build is slow).
    my $received = sub {
        $u1->nrequests + $u2->nrequests
            - scalar(grep { $_->{target} eq '/health' } $u1->requests, $u2->requests);
    };
    wait_for(sub { $received->() >= $s{$A_DRAIN}{requests} + $s{$A_UP}{requests} }, 3);
    # "requests" counts tries; a try whose connection failed before the
    # upstream read anything (seen once under the sanitizers) counts too.
    my ($tries, $got) = ($s{$A_DRAIN}{requests} + $s{$A_UP}{requests}, $received->());
    ok($tries >= $got && $tries <= $got + 1,
        "JSON: requests per server add up to what the upstreams received ($tries tries, $got received)");
    ok($s{$A_DOWN}{check_failures} >= 1, 'JSON: check failures of the down server');
    for my $f (qw(active requests failures check_failures latency_ms)) {
        my @bad = grep { !defined $_->{$f} || $_->{$f} !~ /^\d+(?:\.\d+)?$/ } @s;
        is(scalar @bad, 0, "JSON: $f a number for every server");
    }

    # sluicectl agrees.
    my ($rc, $out) = $t->ctl('-j', 'servers', 'app');
    my $c = $rc == 0 ? eval { JSON::PP::decode_json($out) } : undef;
    my %c;
    for my $u (@{ ($c && $c->{upstreams}) || [] }) {
        $c{ $_->{addr} } = $_ for @{ $u->{servers} || [] };
    }
    for my $a ($A_UP, $A_DRAIN, $A_DOWN) {
        is(($c{$a}{health} // '?') . '/' . ($c{$a}{admin} // '?'),
            "$s{$a}{health}/$s{$a}{admin}", "sluicectl servers agrees on $a");
    }

    # format=json among other arguments.
    my ($st2, undef, $b2) = parse_response(http_get($p0, '/status?x=1&format=json'));
    ok($st2 == 200 && eval { JSON::PP::decode_json($b2); 1 },
        '?x=1&format=json: JSON too');
}

# ---- the HTML page ---------------------------------------------------------------------

my $html;
{
    my ($st, $h, $body) = parse_response(http_get($p0, '/status'));
    is($st, 200, 'GET /status: 200');
    like($h->{'content-type'} // '', qr{^text/html\b}, 'Content-Type: text/html');
    is($h->{'cache-control'}, 'no-store', 'HTML: Cache-Control: no-store');
    $html = $body // '';

    # Self-contained: nothing loaded from elsewhere.
    my @ext;
    while ($html =~ /\b(src|href|action|poster|data)\s*=\s*(["']?)([^"'\s>]*)\2/gi) {
        push @ext, "$1=$3" if $3 =~ m{^(?:[a-z][a-z0-9+.-]*:)?//}i;
    }
    is("@ext", '', 'no src/href to another host');
    unlike($html, qr{https?://}i, 'no http:// or https:// anywhere in the page');
    unlike($html, qr{<link\b[^>]*\bstylesheet}i, 'no <link rel=stylesheet>');
    unlike($html, qr{<script\b[^>]*\bsrc\s*=}i, 'no <script src=>');
    unlike($html, qr{\@import|url\(}i, 'no CSS @import or url()');
    my @fetch = $html =~ /fetch\(\s*(['"][^'"]*['"])/g;
    ok(@fetch && !grep({ m{^['"](?:[a-z]+:)?//}i } @fetch),
        "fetch() of a relative URL only (@fetch)");

    # Well formed.
    like($html, qr/\A<!DOCTYPE html>\s*<html\b[^>]*\blang=/i, 'doctype and <html lang>');
    like($html, qr/<meta charset="utf-8">/i, 'meta charset utf-8');
    like($html, qr/<meta name="viewport" content="[^"]*width=device-width/i,
        'meta viewport width=device-width');
    like($html, qr{<title>[^<]+</title>}, 'a title');
    like($html, qr{</body>\s*</html>\s*\z}i, 'ends with </body></html>');
    my @problems = html_check($html);
    is("@problems", '', 'elements nest and close properly; ids unique');
    is(scalar(() = $html =~ /<head\b/gi), 1, 'one <head>');
    is(scalar(() = $html =~ /<body\b/gi), 1, 'one <body>');

    my $raw = http("POST /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Length: 1\r\n\r\nx", port => $p0);
    ($st) = parse_response($raw);
    is($st, 405, 'POST /status: 405');
}

# A light HTML structure check: outside <script> and <style>, every
# non-void element is closed in order; ids are unique.
sub html_check {
    my ($h) = @_;
    my @p;
    (my $x = $h) =~ s{(<(script|style)\b[^>]*>).*?(</\2>)}{$1$3}gis;
    $x =~ s/<!--.*?-->//gs;
    $x =~ s/<!DOCTYPE[^>]*>//i;
    my %void = map { $_ => 1 } qw(area base br col embed hr img input link meta
        source track wbr);
    my @stack;
    my %ids;
    while ($x =~ m{<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>"']|"[^"]*"|'[^']*')*)>}g) {
        my ($close, $tag, $attrs) = ($1, lc $2, $3);
        if ($close) {
            if (!@stack || $stack[-1] ne $tag) {
                push @p, "</$tag> closes " . (@stack ? "<$stack[-1]>" : 'nothing');
                last;
            }
            pop @stack;
            next;
        }
        while ($attrs =~ /\bid\s*=\s*["']?([^"'\s>]+)/g) {
            push @p, "duplicate id $1" if $ids{$1}++;
        }
        next if $void{$tag} || $attrs =~ m{/\s*$};
        push @stack, $tag;
    }
    push @p, 'unclosed: ' . join(',', @stack) if @stack;
    return @p;
}

# ---- headless Chromium ------------------------------------------------------------------

# Runs argv in its own process group with stdout and stderr in files,
# bounded by timeout; on timeout the whole group is killed (by its pid).
# Returns (exit code or -1, stdout, stderr).
sub run_bounded {
    my ($argv, $timeout, $tag) = @_;
    my $dir = $t->testdir;
    my ($out, $err) = ("$dir/$tag.out", "$dir/$tag.err");
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        $ENV{HOME} = "$dir/home";
        $SIG{PIPE} = 'DEFAULT';
        { exec { $argv->[0] } @$argv; }
        POSIX::_exit(127);
    }
    my $rc;
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8; last; }
        if (time > $deadline) {
            diag("$tag: still running after ${timeout}s; killing process group $pid");
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.05;
    }
    # Helpers it left behind in its group go too.
    kill 'KILL', -$pid;
    return ($rc, $t->read_file($out) // '', $t->read_file($err) // '');
}

SKIP: {
    my $chromium = '/usr/bin/chromium';
    skip "$chromium not installed (apt-get install chromium): no browser test", 12
        unless -x $chromium;

    my $dir = $t->testdir;
    mkdir "$dir/home";
    my $url = "http://127.0.0.1:$p0/status";
    my @common = ($chromium, '--headless', '--no-sandbox', '--disable-gpu',
        '--disable-quic', '--no-first-run', '--no-default-browser-check',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--disable-extensions', '--disable-default-apps',
        "--user-data-dir=$dir/chrome", '--virtual-time-budget=5000');

    my $t0 = time;
    my ($rc, $dom, $err) = run_bounded([@common, '--dump-dom', $url], 30, 'dump-dom');
    is($rc, 0, sprintf('chromium --dump-dom: exit 0 (%.1fs)', time - $t0))
        or diag(substr($err, -1500));
    like($dom, qr/<body\b[^>]*\bdata-loaded="1"/, 'DOM: <body data-loaded="1"> after the first render')
        or diag(substr($dom, 0, 1500));

    # What the script would write is not what it wrote.
    $dom =~ s{<script\b[^>]*>.*?</script>}{}gis;
    my %row;
    while ($dom =~ /<tr\b([^>]*)>/g) {
        my $a = $1;
        my %at;
        $at{$1} = $2 while $a =~ /\b(data-[a-z]+)="([^"]*)"/g;
        next unless defined $at{'data-server'};
        $row{ $at{'data-server'} } = \%at;
    }
    is(scalar keys %row, 4, 'DOM: one row per server')
        or diag(join ' ', sort keys %row);
    for my $a (sort keys %want) {
        my $r = $row{$a} || {};
        is(($r->{'data-health'} // '?') . '/' . ($r->{'data-admin'} // '?'),
            join('/', @{ $want{$a} }), "DOM: row $a data-health/data-admin "
            . join('/', @{ $want{$a} }));
    }
    is(($row{$A_CONF} || {})->{'data-admin'}, 'down', "DOM: row $A_CONF data-admin down");
    like($dom, qr{<h2>upstream app</h2>}, 'DOM: the upstream heading');
    like($dom, qr{<p id="err"></p>}, 'DOM: no fetch error shown');

    my $png = "$dir/status.png";
    $t0 = time;
    ($rc, undef, $err) = run_bounded([@common, "--screenshot=$png",
        '--window-size=412,915', '--hide-scrollbars', $url], 30, 'screenshot');
    is($rc, 0, sprintf('chromium --screenshot: exit 0 (%.1fs)', time - $t0))
        or diag(substr($err, -1500));
    ok(-s $png, 'the screenshot exists and is not empty (' . ((-s $png) // 0) . ' bytes)');
    my $head = $t->read_file($png) // '';
    my ($w, $h) = length $head >= 24 && substr($head, 0, 8) eq "\x89PNG\r\n\x1a\n"
        && substr($head, 12, 4) eq 'IHDR' ? unpack('NN', substr($head, 16, 8)) : (0, 0);
    ok($w == 412 && $h == 915, "a 412x915 PNG (${w}x$h)");
    diag("screenshot: $png") if $ENV{SLUICE_TEST_KEEP};
}

# ---- names that need escaping --------------------------------------------------------------

# An upstream name may hold a quote, a backslash and markup (the config
# accepts it); the JSON must escape them (the page escapes for HTML).
{
    (my $weird = $conf) =~ s{# EXTRA}{upstream 'q"u\\\\o<b>' { server 127.0.0.1:%%PORT_1%%; }};
    $t->write_conf($weird);
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload with an upstream named q"u\\o<b>') or diag($err);
    my ($j2, $st, $h, $body, $perr);
    wait_for(sub {
        ($j2, $st, $h, $body, $perr) = status_json();
        return !defined $j2 || grep { $_->{name} =~ /^q/ } @{ $j2->{upstreams} || [] };
    }, 5);
    ok($j2, 'JSON still parses with a quote and a backslash in a name')
        or diag(($perr // '') . (($body // '') =~ /(.{0,40}q"u.{0,20})/s ? $1 : ''));
    ok(scalar(grep { $_->{name} eq 'q"u\\o<b>' } @{ ($j2 && $j2->{upstreams}) || [] }),
        'the name round-trips');
}

$t->stop;
$_->stop for $u1, $u2;

done_testing;
