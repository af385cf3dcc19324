#!/usr/bin/perl

# The `metrics;` handler: Prometheus text exposition 0.0.4, parsed here
# by a strict parser (HELP and TYPE lines, names, label sets with escapes,
# values including +Inf and NaN, one contiguous group per family, no
# duplicate series, histograms with cumulative buckets ending in
# le="+Inf" equal to _count).  A known traffic pattern (GET, POST and
# PATCH answered 200 by two fake upstreams, 404 from `return 404`, 502
# from an upstream nobody listens on) shows up exactly in
# sluice_http_requests_total by server, method and status class; the byte
# counters match what went over the wire; sluice_upstream_server_* has
# every server, up=0 for one whose health check fails; sluice_reloads_total
# counts good and failed reloads (and agrees with sluicectl status);
# counters never go backwards across a reload or a worker crash;
# sluice_worker_restarts_total counts a killed worker; POST is 405; label
# values with a quote and a backslash are escaped.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;
use SluiceTest::Upstream;

# ---- a Prometheus text-format (0.0.4) parser ------------------------------------

# parse_prom(TEXT) returns { families => { NAME => { name, type, help,
# samples => [ { name, labels => {..}, value, ts } ] } }, order => [NAMES],
# samples => [all samples in order] }, or dies with "line N: reason".
# Follows the exposition format spec and the reference parser (expfmt):
# a TYPE line must come before the family's first sample and appear once,
# HELP at most once, a family's lines must be contiguous, a series
# (name + label set) appears once; label values escape \\ \" \n only;
# histogram samples are NAME_bucket (with le), NAME_sum, NAME_count.
my $NAME_RE = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL_RE = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my %TYPES = map { $_ => 1 } qw(counter gauge histogram summary untyped);

sub prom_value {
    my ($s) = @_;
    return 9**9**9 if $s =~ /^\+?Inf$/;
    return -9**9**9 if $s eq '-Inf';
    return 'NaN' if $s eq 'NaN';
    die "bad value '$s'\n"
        unless $s =~ /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
    return 0 + $s;
}

sub parse_prom {
    my ($text) = @_;
    my (%fam, @order, @all, %seen_series, %closed);
    my $cur;    # family of the previous sample or metadata line
    die "line 0: exposition does not end with a newline\n"
        if length $text && $text !~ /\n\z/;
    my $n = 0;

    # The family a sample name belongs to (created as untyped if none).
    my $family_of = sub {
        my ($name) = @_;
        for my $sfx (qw(_bucket _sum _count)) {
            next unless $name =~ /^(.+)\Q$sfx\E$/;
            my $base = $1;
            my $f = $fam{$base} or next;
            next unless ($f->{type} // '') eq 'histogram'
                || (($f->{type} // '') eq 'summary' && $sfx ne '_bucket');
            return $f;
        }
        return $fam{$name} //= do {
            push @order, $name;
            { name => $name, type => undef, help => undef, samples => [] };
        };
    };
    my $enter = sub {
        my ($f) = @_;
        if (!defined $cur || $cur != $f) {
            die "family $f->{name} is not contiguous\n" if $closed{$f->{name}};
            $closed{$cur->{name}} = 1 if defined $cur;
            $cur = $f;
        }
    };

    for my $line (split /\n/, $text) {
        $n++;
        eval {
            if ($line =~ /^\s*$/) {
                return;
            }
            if ($line =~ /^#/) {
                if ($line =~ /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/) {
                    my ($kw, $name, $rest) = ($1, $2, $3 // '');
                    die "bad metric name '$name'\n" unless $name =~ /^$NAME_RE$/;
                    my $f = $fam{$name} //= do {
                        push @order, $name;
                        { name => $name, type => undef, help => undef,
                          samples => [] };
                    };
                    $enter->($f);
                    if ($kw eq 'HELP') {
                        die "second HELP for $name\n" if defined $f->{help};
                        (my $chk = $rest) =~ s/\\[\\n]//g;
                        die "bad escape in HELP\n" if $chk =~ /\\/;
                        (my $h = $rest) =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
                        $f->{help} = $h;
                    } else {
                        die "second TYPE for $name\n" if defined $f->{type};
                        die "TYPE for $name after its samples\n"
                            if @{ $f->{samples} };
                        die "unknown type '$rest'\n" unless $TYPES{$rest};
                        $f->{type} = $rest;
                    }
                }
                return;    # other comments are ignored
            }
            $line =~ /\G($NAME_RE)/gc or die "no metric name\n";
            my $name = $1;
            my %labels;
            if ($line =~ /\G\{/gc) {
                while (1) {
                    $line =~ /\G\s*/gc;
                    last if $line =~ /\G\}/gc;
                    $line =~ /\G($LABEL_RE)\s*=\s*"/gc
                        or die "bad label at offset " . pos($line) . "\n";
                    my $ln = $1;
                    my $v = '';
                    while (1) {
                        if ($line =~ /\G([^"\\]+)/gc) { $v .= $1; next; }
                        if ($line =~ /\G\\(["\\n])/gc) {
                            $v .= $1 eq 'n' ? "\n" : $1;
                            next;
                        }
                        last if $line =~ /\G"/gc;
                        die "bad escape or unterminated label value for $ln\n";
                    }
                    die "duplicate label $ln\n" if exists $labels{$ln};
                    die "reserved label name $ln\n" if $ln =~ /^__/;
                    $labels{$ln} = $v;
                    $line =~ /\G\s*/gc;
                    next if $line =~ /\G,/gc;
                    last if $line =~ /\G\}/gc;
                    die "expected , or } after label $ln\n";
                }
            }
            $line =~ /\G[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/gc
                or die "bad value or timestamp\n";
            my ($vs, $ts) = ($1, $2);
            my $value = prom_value($vs);
            my $f = $family_of->($name);
            $enter->($f);
            my $type = $f->{type} // 'untyped';
            if ($type eq 'histogram') {
                die "histogram sample $name has no le label\n"
                    if $name eq "$f->{name}_bucket" && !exists $labels{le};
                die "histogram sample $name: le outside _bucket\n"
                    if $name ne "$f->{name}_bucket" && exists $labels{le};
                die "bad le '$labels{le}'\n"
                    if exists $labels{le} && !eval { prom_value($labels{le}); 1 };
            } elsif ($name ne $f->{name}) {
                die "sample $name in family $f->{name}\n";
            }
            die "negative counter $name\n"
                if $type eq 'counter' && $value ne 'NaN' && $value < 0;
            my $key = $name . '{' . join(',', map { "$_=$labels{$_}" }
                sort keys %labels) . '}';
            die "duplicate series $key\n" if $seen_series{$key}++;
            my $s = { name => $name, labels => \%labels, value => $value,
                ts => $ts, family => $f->{name} };
            push @{ $f->{samples} }, $s;
            push @all, $s;
        };
        die "line $n: $@" if $@;
    }

    # Histograms: per label set (without le), buckets increasing in le and
    # cumulative, a +Inf bucket equal to _count, a _sum and a _count.
    for my $f (grep { ($_->{type} // '') eq 'histogram' } values %fam) {
        my %g;
        for my $s (@{ $f->{samples} }) {
            my %l = %{ $s->{labels} };
            my $le = delete $l{le};
            my $k = join ',', map { "$_=$l{$_}" } sort keys %l;
            if ($s->{name} eq "$f->{name}_bucket") {
                push @{ $g{$k}{b} }, [prom_value($le), $s->{value}];
            } elsif ($s->{name} eq "$f->{name}_sum") {
                $g{$k}{sum} = $s->{value};
            } else {
                $g{$k}{count} = $s->{value};
            }
        }
        for my $k (sort keys %g) {
            my $h = $g{$k};
            my $b = $h->{b} || [];
            die "histogram $f->{name}\{$k}: no buckets\n" unless @$b;
            for my $i (1 .. $#$b) {
                die "histogram $f->{name}\{$k}: le not increasing\n"
                    unless $b->[$i][0] > $b->[$i - 1][0];
                die "histogram $f->{name}\{$k}: buckets not cumulative\n"
                    unless $b->[$i][1] >= $b->[$i - 1][1];
            }
            die "histogram $f->{name}\{$k}: last bucket is not +Inf\n"
                unless $b->[-1][0] == 9**9**9;
            die "histogram $f->{name}\{$k}: no _count\n"
                unless defined $h->{count};
            die "histogram $f->{name}\{$k}: no _sum\n"
                unless defined $h->{sum};
            die "histogram $f->{name}\{$k}: +Inf bucket $b->[-1][1] != "
                . "_count $h->{count}\n" unless $b->[-1][1] == $h->{count};
            die "histogram $f->{name}\{$k}: negative _sum\n"
                if $h->{sum} < 0;
        }
    }
    return { families => \%fam, order => \@order, samples => \@all };
}

# The parser rejects what it must (checked on known input first, so that
# a pass below means something).
{
    my $good = <<'EOF';
# HELP x_total A counter with \\ and \n in its help.
# TYPE x_total counter
x_total{a="q\"uo\\te\n",b="2"} 3
x_total{a="other",} 1e3 1700000000000
# a comment
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="+Inf"} 2
h_sum 0.7
h_count 2
# TYPE g gauge
g NaN
g2 +Inf
EOF
    my $p = eval { parse_prom($good) };
    ok($p, 'parser: accepts a valid exposition') or diag($@);
    is($p && $p->{families}{x_total}{samples}[0]{labels}{a}, "q\"uo\\te\n",
        'parser: label value escapes decoded');
    is($p && $p->{families}{x_total}{help}, "A counter with \\ and \n in its help.",
        'parser: HELP escapes decoded');
    is($p && $p->{families}{x_total}{samples}[1]{value}, 1000,
        'parser: exponent and timestamp');
    ok($p && $p->{families}{g2}{samples}[0]{value} == 9**9**9, 'parser: +Inf');
    my %bad = (
        'unescaped quote'       => qq{m{a="x"y"} 1\n},
        'bad escape'            => qq{m{a="x\\ty"} 1\n},
        'unterminated'          => qq{m{a="x} 1\n},
        'no value'              => qq{m{a="x"}\n},
        'bad value'             => qq{m 1x\n},
        'duplicate series'      => qq{m{a="1"} 1\nm{a="1"} 2\n},
        'not contiguous'        => qq{m 1\nn 1\nm{a="2"} 1\n},
        'TYPE after samples'    => qq{m 1\n# TYPE m gauge\n},
        'two TYPE lines'        => qq{# TYPE m gauge\n# TYPE m gauge\nm 1\n},
        'bad name'              => qq{1m 1\n},
        'negative counter'      => qq{# TYPE m counter\nm -1\n},
        'bucket not cumulative' => qq{# TYPE h histogram\nh_bucket{le="1"} 2\n}
            . qq{h_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n},
        'no +Inf bucket'        => qq{# TYPE h histogram\nh_bucket{le="1"} 1\n}
            . qq{h_sum 1\nh_count 1\n},
        '+Inf != count'         => qq{# TYPE h histogram\nh_bucket{le="+Inf"} 2\n}
            . qq{h_sum 1\nh_count 3\n},
        'no trailing newline'   => qq{m 1},
    );
    for my $k (sort keys %bad) {
        ok(!eval { parse_prom($bad{$k}); 1 }, "parser: rejects $k");
    }
}

# ---- sluice ------------------------------------------------------------------------

my $t = SluiceTest->new;

# A killed worker is logged at alert; expected here.
$t->allow_log(qr/worker process \d+ exited on signal 9/);

# ports: 0 main server, 1 metrics server, 2 a, 3 b (fake upstreams),
# 4 nobody ("gone", no health check: every request tries and fails),
# 5 nobody ("dead", health-checked: down).
my $conf = <<'EOF';
worker_processes 2;
events {
    worker_connections 256;
}
http {
    access_log %%TESTDIR%%/access.log;
    upstream app {
        server 127.0.0.1:%%PORT_2%%;
        server 127.0.0.1:%%PORT_3%%;
    }
    upstream gone {
        server 127.0.0.1:%%PORT_4%%;
    }
    upstream dead {
        server 127.0.0.1:%%PORT_5%%;
        health_check uri=/health interval=200ms timeout=200ms fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name main.test;
        location / { proxy_pass http://app; }
        location /missing { return 404; }
        location /gone/ { proxy_pass http://gone; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        server_name metrics.test;
        location = /metrics { metrics; }
        location / { return 200 "ok"; }
    }
    # EXTRA
}
EOF
$t->write_conf($conf);

my $ua = SluiceTest::Upstream->new($t, port => $t->port(2), name => 'a')->start;
my $ub = SluiceTest::Upstream->new($t, port => $t->port(3), name => 'b')->start;
my $t_begin = time;
$t->start;
ok(wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 5), 'two workers');

my ($p0, $pm) = ($t->port(0), $t->port(1));
my %addr = (a => "127.0.0.1:" . $t->port(2), b => "127.0.0.1:" . $t->port(3),
    gone => "127.0.0.1:" . $t->port(4), dead => "127.0.0.1:" . $t->port(5));

# Fetches /metrics; returns (parsed or undef, raw body, status, headers,
# parse error).
sub scrape {
    my ($st, $h, $body) = parse_response(http_get($pm, '/metrics'));
    return (undef, $body, $st, $h, 'no response') unless defined $st;
    return (undef, $body, $st, $h, "status $st") unless $st == 200;
    my $p = eval { parse_prom($body) };
    return ($p, $body, $st, $h, $@);
}

# Value of the series name{labels} in parsed p; undef when absent.
sub val {
    my ($p, $name, %l) = @_;
    return undef unless $p;
    S: for my $s (@{ $p->{samples} }) {
        next unless $s->{name} eq $name;
        next unless keys %{ $s->{labels} } == keys %l;
        for my $k (keys %l) {
            next S unless ($s->{labels}{$k} // "\0") eq $l{$k};
        }
        return $s->{value};
    }
    return undef;
}

# Sum of name's series whose labels include %l.
sub vsum {
    my ($p, $name, %l) = @_;
    my $sum = 0;
    S: for my $s (@{ $p ? $p->{samples} : [] }) {
        next unless $s->{name} eq $name;
        for my $k (keys %l) {
            next S unless ($s->{labels}{$k} // "\0") eq $l{$k};
        }
        $sum += $s->{value};
    }
    return $sum;
}

sub req { val($_[0], 'sluice_http_requests_total', server => 'main.test',
    method => $_[1], status => $_[2]) }

sub ctl_status {
    my ($rc, $out) = $t->ctl('-j', 'status');
    return $rc == 0 ? eval { JSON::PP::decode_json($out) } : undef;
}

# Every counter series of a is in b with a value no lower.
sub no_backwards {
    my ($a, $b, $what) = @_;
    my @bad;
    for my $s (@{ $a->{samples} }) {
        my $type = $a->{families}{ $s->{family} }{type} // '';
        next unless $type eq 'counter' || ($type eq 'histogram'
            && $s->{name} =~ /_(?:bucket|count)$/);
        my $v = val($b, $s->{name}, %{ $s->{labels} });
        push @bad, "$s->{name}" . JSON::PP->new->canonical->encode($s->{labels})
            . ' ' . $s->{value} . ' -> ' . ($v // 'gone')
            if !defined $v || $v < $s->{value};
    }
    ok(!@bad, "no counter went backwards $what") or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
}

# ---- the exposition before traffic -----------------------------------------------

# The dead server is marked down by its health check (fall=1, 200ms).
ok(wait_for(sub {
    my ($p) = scrape();
    defined(my $v = val($p, 'sluice_upstream_server_up', upstream => 'dead',
        server => $addr{dead})) or return 0;
    return $v == 0;
}, 5), 'dead: sluice_upstream_server_up 0 once its health check fails');

my ($m0, $raw0, $st0, $h0, $err0) = scrape();
ok($m0, 'GET /metrics: 200 and parses as Prometheus text format')
    or diag("$err0\n" . substr($raw0 // '', 0, 2000));
like($h0->{'content-type'} // '', qr{^text/plain; version=0\.0\.4(?:;|$)},
    'Content-Type: text/plain; version=0.0.4');

{
    my %want = (
        sluice_http_requests_total                      => 'counter',
        sluice_http_received_bytes_total                => 'counter',
        sluice_http_sent_bytes_total                    => 'counter',
        sluice_http_request_duration_seconds            => 'histogram',
        sluice_connections_active                       => 'gauge',
        sluice_reloads_total                            => 'counter',
        sluice_worker_restarts_total                    => 'counter',
        sluice_start_time_seconds                       => 'gauge',
        sluice_upstream_server_up                       => 'gauge',
        sluice_upstream_server_active_connections       => 'gauge',
        sluice_upstream_server_requests_total           => 'counter',
        sluice_upstream_server_failures_total           => 'counter',
        sluice_upstream_server_checks_total             => 'counter',
        sluice_upstream_server_check_failures_total     => 'counter',
        sluice_upstream_server_check_latency_seconds    => 'gauge',
    );
    my $f = $m0 ? $m0->{families} : {};
    for my $name (sort keys %want) {
        is($f->{$name} && $f->{$name}{type}, $want{$name}, "TYPE $name $want{$name}");
    }
    my @nohelp = grep { !defined $f->{$_}{help} || $f->{$_}{help} eq '' } sort keys %$f;
    is("@nohelp", '', 'every family has a HELP line');
    my @notype = grep { !defined $f->{$_}{type} } sort keys %$f;
    is("@notype", '', 'every family has a TYPE line');
    my @noprefix = grep { !/^sluice_/ } sort keys %$f;
    is("@noprefix", '', 'every metric is named sluice_*');
    my @badctr = grep { ($f->{$_}{type} // '') eq 'counter' && !/_total$/ } sort keys %$f;
    is("@badctr", '', 'counters end in _total');

    my $st = val($m0, 'sluice_start_time_seconds');
    ok(defined $st && $st > $t_begin - 5 && $st < time + 1,
        'sluice_start_time_seconds is when sluice started');
    is(val($m0, 'sluice_reloads_total', result => 'ok'), 0, 'no reloads yet');
    is(val($m0, 'sluice_reloads_total', result => 'failed'), 0, 'no failed reloads yet');
    is(val($m0, 'sluice_worker_restarts_total'), 0, 'no restarts yet');
    is(vsum($m0, 'sluice_http_requests_total', server => 'main.test'), 0,
        'main.test: no requests yet');

    # Every configured upstream server has each per-server metric.
    for my $m (grep { /^sluice_upstream_server_/ } keys %want) {
        my @miss = grep {
            my ($u, $k) = @$_;
            !defined val($m0, $m, upstream => $u, server => $addr{$k});
        } [app => 'a'], [app => 'b'], [gone => 'gone'], [dead => 'dead'];
        is(scalar @miss, 0, "$m for every upstream server");
    }
    is(val($m0, 'sluice_upstream_server_up', upstream => 'app', server => $addr{a}), 1,
        'app a: up 1');
    is(val($m0, 'sluice_upstream_server_up', upstream => 'app', server => $addr{b}), 1,
        'app b: up 1');
    ok(val($m0, 'sluice_upstream_server_checks_total', upstream => 'dead',
        server => $addr{dead}) >= 1, 'dead: checks counted');
    ok(val($m0, 'sluice_upstream_server_check_failures_total', upstream => 'dead',
        server => $addr{dead}) >= 1, 'dead: check failures counted');
    is(val($m0, 'sluice_upstream_server_checks_total', upstream => 'app',
        server => $addr{a}), 0, 'app a: no health check, no checks');
}

# ---- a known traffic pattern --------------------------------------------------------

my (%status, $bytes_req, $bytes_resp, $heads_req);
sub send_req {
    my ($method, $path, $body) = @_;
    my $req = "$method $path HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n"
        . (defined $body ? 'Content-Length: ' . length($body) . "\r\n" : '') . "\r\n";
    $heads_req += length $req;
    $req .= $body // '';
    $bytes_req += length $req;
    my $raw = http($req, port => $p0, timeout => 5);
    $bytes_resp += length $raw;
    my ($st) = parse_response($raw);
    $status{"$method $path"}{$st // 'none'}++;
    return $st // 'none';
}

{
    my $n = 0;
    $n += send_req('GET', "/get/$_") eq '200' for 1 .. 17;
    $n += send_req('POST', "/post/$_", 'x' x (100 * $_)) eq '200' for 1 .. 5;
    $n += send_req('PATCH', "/patch/$_", 'p') eq '200' for 1 .. 2;
    is($n, 24, '17 GET, 5 POST and 2 PATCH proxied: 200');
    my $nf = grep { send_req('GET', "/missing/$_") eq '404' } 1 .. 3;
    is($nf, 3, '3 GET /missing: 404 from return 404');
    my %g;
    $g{ send_req('GET', "/gone/$_") }++ for 1 .. 4;
    is_deeply(\%g, { 502 => 4 }, '4 GET /gone/: 502 (nobody listens)');
}

# Requests are counted when they are logged, just after the response.
my $m1;
ok(wait_for(sub {
    ($m1) = scrape();
    return vsum($m1, 'sluice_http_requests_total', server => 'main.test') >= 31;
}, 5), 'main.test: 31 requests counted');
{
    my %want = (
        'GET 2xx' => 17, 'POST 2xx' => 5, 'other 2xx' => 2,
        'GET 4xx' => 3, 'GET 5xx' => 4,
    );
    my (@wrong, $total);
    for my $m (qw(GET HEAD POST PUT DELETE other)) {
        for my $c (qw(1xx 2xx 3xx 4xx 5xx)) {
            my $v = req($m1, $m, $c);
            my $w = $want{"$m $c"} // 0;
            push @wrong, "$m $c: " . ($v // 'missing') . " (want $w)"
                unless defined $v && $v == $w;
        }
    }
    is("@wrong", '', 'sluice_http_requests_total{server="main.test"} matches the '
        . 'traffic by method and status class');
    is(vsum($m1, 'sluice_http_requests_total', server => 'main.test'), 31,
        'main.test: 31 requests in all');
    ok(vsum($m1, 'sluice_http_requests_total', server => 'metrics.test',
        method => 'GET', status => '2xx') >= 1, 'metrics.test: the scrapes counted');

    my $rx = val($m1, 'sluice_http_received_bytes_total', server => 'main.test');
    my $tx = val($m1, 'sluice_http_sent_bytes_total', server => 'main.test');
    ok(defined $rx && $rx > 0, "received bytes > 0 ($rx)");
    ok(defined $tx && $tx > 0, "sent bytes > 0 ($tx)");
    ok(defined $rx && $rx >= $heads_req && $rx <= $bytes_req,
        "received bytes ($rx) between the request heads ($heads_req) and "
        . "heads and bodies ($bytes_req)");
    ok(defined $tx && $tx == $bytes_resp,
        "sent bytes ($tx) are what the client received ($bytes_resp)");

    my $ra = val($m1, 'sluice_upstream_server_requests_total', upstream => 'app',
        server => $addr{a}) // 0;
    my $rb = val($m1, 'sluice_upstream_server_requests_total', upstream => 'app',
        server => $addr{b}) // 0;
    is($ra + $rb, 24, "app: 24 requests to its servers ($ra + $rb)");
    is($ra, $ua->nrequests, 'app a: as many as a received');
    is($rb, $ub->nrequests, 'app b: as many as b received');
    ok($ra > 0 && $rb > 0, 'app: both servers got requests');
    is(val($m1, 'sluice_upstream_server_failures_total', upstream => 'app',
        server => $addr{a}), 0, 'app a: no failures');
    my $gf = val($m1, 'sluice_upstream_server_failures_total', upstream => 'gone',
        server => $addr{gone});
    is($gf, 4, 'gone: 4 failures (connection refused)');
    is(val($m1, 'sluice_upstream_server_up', upstream => 'dead', server => $addr{dead}), 0,
        'dead: still up 0');
    ok(val($m1, 'sluice_upstream_server_check_latency_seconds', upstream => 'dead',
        server => $addr{dead}) >= 0, 'dead: check latency a number');

    my $cnt = val($m1, 'sluice_http_request_duration_seconds_count');
    ok(defined $cnt && $cnt >= 31, "duration histogram counts every request ($cnt)");
    is($cnt, vsum($m1, 'sluice_http_requests_total'),
        'duration _count equals the sum of sluice_http_requests_total');
    my $sum = val($m1, 'sluice_http_request_duration_seconds_sum');
    ok(defined $sum && $sum >= 0 && $sum < 30, "duration _sum plausible ($sum)");
    my $inf = val($m1, 'sluice_http_request_duration_seconds_bucket', le => '+Inf');
    is($inf, $cnt, 'le="+Inf" bucket equals _count');
    ok(defined val($m1, 'sluice_connections_active')
        && val($m1, 'sluice_connections_active') >= 0, 'connections_active >= 0');
    no_backwards($m0, $m1, 'under traffic');
}

# HEAD and POST.
{
    my ($st, $h, $body) = parse_response(http_head($pm, '/metrics'), head => 1);
    is($st, 200, 'HEAD /metrics: 200');
    my $raw = http("POST /metrics HTTP/1.1\r\nHost: metrics.test\r\nConnection: close\r\n"
        . "Content-Length: 3\r\n\r\nabc", port => $pm);
    ($st, $h) = parse_response($raw);
    is($st, 405, 'POST /metrics: 405');
    $raw = http("PUT /metrics HTTP/1.1\r\nHost: metrics.test\r\nConnection: close\r\n"
        . "Content-Length: 0\r\n\r\n", port => $pm);
    ($st) = parse_response($raw);
    is($st, 405, 'PUT /metrics: 405');
}

# ---- reloads ------------------------------------------------------------------------

my $m2;
{
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'sluicectl reload: exit 0') or diag($err);
    ok(wait_for(sub {
        ($m2) = scrape();
        return (val($m2, 'sluice_reloads_total', result => 'ok') // 0) == 1;
    }, 5), 'sluice_reloads_total{result="ok"} 1 after a reload');
    is(val($m2, 'sluice_reloads_total', result => 'failed'), 0, 'no failed reload');
    no_backwards($m1, $m2, 'across a reload');
    is(vsum($m2, 'sluice_http_requests_total', server => 'main.test'), 31,
        'main.test: still 31 requests after the reload');

    # The new generation counts into the same series.
    is(send_req('GET', '/get/after-reload'), '200', 'GET after the reload: 200');
    my $m;
    ok(wait_for(sub {
        ($m) = scrape();
        return (req($m, 'GET', '2xx') // 0) == 18;
    }, 5), 'GET 2xx 18: the new workers count into the same series');
    $m2 = $m if $m;

    # A bad configuration: refused, counted as failed.
    (my $bad = $conf) =~ s/# EXTRA/no_such_directive on;/;
    $t->write_conf($bad);
    ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 1, 'bad reload: sluicectl exits 1');
    my $m3;
    ok(wait_for(sub {
        ($m3) = scrape();
        return (val($m3, 'sluice_reloads_total', result => 'failed') // 0) == 1;
    }, 5), 'sluice_reloads_total{result="failed"} 1 after a bad reload');
    is(val($m3, 'sluice_reloads_total', result => 'ok'), 1, 'ok reloads still 1');
    no_backwards($m2, $m3, 'across a failed reload');
    my $s = ctl_status();
    is($s && $s->{reloads}, 1, 'sluicectl status agrees: 1 reload')
        or diag(JSON::PP->new->canonical->encode($s // {}));
    is($s && $s->{reload_failures}, 1, 'sluicectl status agrees: 1 failed reload');
    $t->write_conf($conf);
    $m2 = $m3 if $m3;
}

# ---- a worker killed -------------------------------------------------------------------

{
    my @before = $t->worker_pids;
    my $victim = $before[0];
    kill 'KILL', $victim;
    ok(wait_for(sub {
        my @w = $t->worker_pids;
        @w == 2 && !grep { $_ == $victim } @w;
    }, 5), 'killed worker replaced');
    my $m4;
    ok(wait_for(sub {
        ($m4) = scrape();
        return (val($m4, 'sluice_worker_restarts_total') // 0) >= 1;
    }, 5), 'sluice_worker_restarts_total counts the killed worker');
    is(val($m4, 'sluice_worker_restarts_total'), 1, 'exactly one restart');
    no_backwards($m2, $m4, 'across a worker crash');
    is(send_req('GET', '/get/after-crash'), '200', 'serves after the crash');
    ok(wait_for(sub {
        my ($m) = scrape();
        return (req($m, 'GET', '2xx') // 0) == 19;
    }, 5), 'GET 2xx 19: counted after the crash');
}

# ---- sluice_connections_active when workers go away ----------------------------------------

# The gauge sums the current workers' counts; a worker slot that a reload
# removes must not keep its last count.  Idle keepalive connections are
# spread over both workers, the reload leaves one worker, the clients go.
{
    my $active = sub {
        my ($st, $h, $body) = parse_response(http_get($pm, '/metrics'));
        return ($body // '') =~ /^sluice_connections_active (\d+)$/m ? $1 : -1;
    };
    my @cl = grep { $_ && $_->get('/', Host => 'metrics.test') && $_->read_response }
        map { SluiceTest::Client->new(port => $pm) } 1 .. 10;
    is(scalar @cl, 10, 'ten idle keepalive clients');
    ok(wait_for(sub { $active->() >= 10 }, 5),
        'sluice_connections_active counts them (' . $active->() . ')');
    (my $one = $conf) =~ s/worker_processes 2;/worker_processes 1;/;
    $t->write_conf($one);
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload to worker_processes 1') or diag($err);
    $_->close for @cl;
    ok(wait_for(sub { scalar(() = $t->all_worker_pids) == 1 }, 5),
        'the old workers exit once their clients are gone');
    my $v;
    ok(wait_for(sub { ($v = $active->()) >= 0 && $v <= 1 }, 3),
        "sluice_connections_active back to the scrape alone (1) after the "
        . "reload (got $v)");
    $t->write_conf($conf);
    ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload back to two workers') or diag($err);
}

# ---- label values are escaped ---------------------------------------------------------------

# A server name may hold a quote and a backslash (the config accepts it);
# the exposition must escape them.
{
    (my $weird = $conf) =~ s{# EXTRA}{server {
        listen 127.0.0.1:%%PORT_6%%;
        server_name 'we"ird\\\\name';
        location / { return 200 "w"; }
    }};
    $t->write_conf($weird);
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload with a server named we"ird\\name') or diag($err);
    ok(wait_for(sub { SluiceTest::_port_open($t->port(6)) }, 5), 'its port is open');
    my ($st) = parse_response(http_get($t->port(6), '/'));
    is($st, 200, 'it answers');
    my ($m, $raw, undef, undef, $perr);
    wait_for(sub {
        ($m, $raw, undef, undef, $perr) = scrape();
        return !$m || vsum($m, 'sluice_http_requests_total', server => 'we"ird\\name') >= 1;
    }, 5);
    ok($m, 'the exposition still parses with a quote and a backslash in a label value')
        or diag($perr . join("\n", (grep { /we.ird/ } split /\n/, $raw // '')[0 .. 1]));
    is(vsum($m, 'sluice_http_requests_total', server => 'we"ird\\name'), 1,
        'the escaped label value round-trips');
}

$t->stop;
$_->stop for $ua, $ub;

done_testing;
