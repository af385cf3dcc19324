#!/usr/bin/perl

# Access control: allow/deny (IPv4 from 127.0.0.1 and 127.0.0.2, IPv6 on
# [::1] when the host has it, IPv4-mapped rules, inheritance), deny_match
# on the URI, method, a header and a cookie, and `satisfy any | all` with
# auth_basic; configuration errors name file and line.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

my $have_v6 = eval {
    require IO::Socket::IP;
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
        Listen => 1) or die;
    close $s;
    1;
};
my $v6listen = $have_v6 ? "listen [::1]:%%PORT_1%%;" : '';

# {SHA} of "secret"
$t->write_file('htpasswd', "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n");

$t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 2;
http {
    access_log %%TESTDIR%%/access.log;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        $v6listen

        location /open { return 200 "open"; }
        location /local { allow 127.0.0.1; deny all; return 200 "local"; }
        location /deny2 { deny 127.0.0.2; allow all; return 200 "deny2"; }
        location /net { allow 127.0.0.0/24; deny all; return 200 "net"; }
        location /v6 { allow ::1; deny all; return 200 "v6"; }
        location /v4 { allow 127.0.0.0/8; deny all; return 200 "v4"; }
        location /mapped { allow ::ffff:127.0.0.1; deny all; return 200 "m"; }

        location /dm/ {
            deny_match \$request_uri ~ "\\.\\./|/etc/passwd";
            deny_match \$http_user_agent ~* "badbot" status=429;
            deny_match \$cookie_session ~ "^evil" status=451;
            deny_match \$request_method ~ "^(DELETE|PUT)\$" status=405;
            return 200 "dm";
        }

        location /any {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_basic "any";
            auth_basic_user_file htpasswd;
            return 200 "any";
        }
        location /all {
            allow 127.0.0.1;
            deny all;
            auth_basic "all";
            auth_basic_user_file htpasswd;
            return 200 "all";
        }
        location /anynoauth {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            return 200 "anynoauth";
        }
    }

    # Rules at server level are inherited by a location without rules and
    # replaced by a location with rules of its own.
    server {
        listen 127.0.0.1:%%PORT_2%%;
        deny 127.0.0.2;
        deny_match \$http_x_block ~ "yes";
        location /inherit { return 200 "inherit"; }
        location /own { allow all; return 200 "own"; }
    }
}
EOF

# GET from a given local address (127.0.0.1 or 127.0.0.2, or ::1 for v6).
sub req {
    my ($from, $port, $path, %h) = @_;
    my $method = delete $h{_method} // 'GET';
    my $s;
    if ($from =~ /:/) {
        $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
            Timeout => 5);
    } else {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port, LocalAddr => $from, Proto => 'tcp',
            Timeout => 5);
    }
    return ('connect failed') unless $s;
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    syswrite $s, "$req\r\n";
    my ($raw, $buf) = ('', '');
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread $s, $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    return parse_response($raw);
}

sub st { my @r = req(@_); return $r[0] // 'none' }

sub basic { 'Basic ' . encode_base64($_[0], '') }

my $started = eval {
    $t->start(nowait => 1);
    wait_for(sub {
        return 0 unless $t->running;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port(0), Timeout => 1) or return 0;
        return 1;
    }, 10) or die "not up\n" . $t->error_log;
    wait_for(sub { scalar(() = $t->worker_pids) == 2 }, 5);
    1;
};
ok($started, 'sluice started') or diag($@);

my ($p0, $p1, $p2) = map { $t->port($_) } 0 .. 2;
my $loopback2 = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => $p0, LocalAddr => '127.0.0.2', Timeout => 2);
close $loopback2 if $loopback2;

# ---- allow / deny over IPv4 -------------------------------------------------------

is(st('127.0.0.1', $p0, '/open'), 200, 'no rules: allowed');
SKIP: {
    skip 'cannot bind 127.0.0.2', 9 unless $loopback2;
    is(st('127.0.0.2', $p0, '/open'), 200, 'no rules: .2 allowed');
    is(st('127.0.0.1', $p0, '/local'), 200, 'allow 127.0.0.1: .1 allowed');
    my ($st, $h, $b) = req('127.0.0.2', $p0, '/local');
    is($st, 403, 'deny all: .2 refused with 403');
    is(st('127.0.0.1', $p0, '/deny2'), 200, 'deny .2: .1 allowed');
    is(st('127.0.0.2', $p0, '/deny2'), 403, 'deny .2: .2 refused');
    is(st('127.0.0.2', $p0, '/net'), 200, 'allow 127.0.0.0/24: .2 allowed');
    is(st('127.0.0.2', $p0, '/mapped'), 403,
        'allow ::ffff:127.0.0.1: .2 refused');
    is(st('127.0.0.2', $p2, '/inherit'), 403,
        'server-level deny inherited by a location');
    is(st('127.0.0.2', $p2, '/own'), 200,
        'a location with rules replaces the server list');
}
is(st('127.0.0.1', $p0, '/v6'), 403, 'allow ::1 only: IPv4 client refused');
is(st('127.0.0.1', $p0, '/v4'), 200, 'allow 127/8: .1 allowed');
is(st('127.0.0.1', $p0, '/mapped'), 200,
    'a rule written ::ffff:127.0.0.1 matches IPv4 127.0.0.1');
is(st('127.0.0.1', $p2, '/inherit'), 200, 'server-level rules: .1 allowed');

SKIP: {
    skip 'no IPv6 loopback', 3 unless $have_v6;
    is(st('::1', $p1, '/v6'), 200, 'allow ::1: [::1] client allowed');
    is(st('::1', $p1, '/v4'), 403, 'allow 127/8 only: [::1] refused');
    is(st('::1', $p1, '/local'), 403, 'allow 127.0.0.1: [::1] refused');
}

# ---- deny_match --------------------------------------------------------------------

is(st('127.0.0.1', $p0, '/dm/a'), 200, 'deny_match: clean request passes');
is(st('127.0.0.1', $p0, '/dm/x/../y'), 403, 'deny_match on $request_uri: 403');
is(st('127.0.0.1', $p0, '/dm/a?f=/etc/passwd'), 403,
    'deny_match on $request_uri (query): 403');
is(st('127.0.0.1', $p0, '/dm/a', 'User-Agent' => 'Mozilla BadBot/1.0'), 429,
    'deny_match ~* on $http_user_agent: status=429');
is(st('127.0.0.1', $p0, '/dm/a', 'User-Agent' => 'goodbot'), 200,
    'deny_match: other user agent passes');
is(st('127.0.0.1', $p0, '/dm/a', Cookie => 'a=1; session=evil42'), 451,
    'deny_match on $cookie_session: status=451');
is(st('127.0.0.1', $p0, '/dm/a', Cookie => 'session=good'), 200,
    'deny_match: other cookie passes');
is(st('127.0.0.1', $p0, '/dm/a', _method => 'DELETE'), 405,
    'deny_match on $request_method: status=405');
is(st('127.0.0.1', $p0, '/dm/a', _method => 'POST', 'Content-Length' => 0),
    200, 'deny_match: POST passes');
is(st('127.0.0.1', $p2, '/own', 'X-Block' => 'yes'), 403,
    'deny_match at server level applies to locations');

# ---- satisfy -------------------------------------------------------------------------

my $good = basic('alice:secret');
my $bad = basic('alice:wrong');
is(st('127.0.0.1', $p0, '/any'), 200, 'satisfy any: allowed address, no credentials');
is(st('127.0.0.1', $p0, '/all'), 401, 'satisfy all: allowed address still needs credentials');
is(st('127.0.0.1', $p0, '/all', Authorization => $good), 200,
    'satisfy all: address and credentials');
is(st('127.0.0.1', $p0, '/anynoauth'), 200, 'satisfy any without auth: allowed');
SKIP: {
    skip 'cannot bind 127.0.0.2', 6 unless $loopback2;
    my ($st, $h) = req('127.0.0.2', $p0, '/any');
    is($st, 401, 'satisfy any: refused address, no credentials: 401');
    like($h->{'www-authenticate'} // '', qr/^Basic realm="any"$/,
        'satisfy any: challenge sent');
    is(st('127.0.0.2', $p0, '/any', Authorization => $good), 200,
        'satisfy any: refused address, good credentials');
    is(st('127.0.0.2', $p0, '/any', Authorization => $bad), 401,
        'satisfy any: refused address, bad credentials');
    is(st('127.0.0.2', $p0, '/all', Authorization => $good), 403,
        'satisfy all: refused address, good credentials: 403');
    is(st('127.0.0.2', $p0, '/anynoauth'), 403,
        'satisfy any without auth: refused address: 403');
}

$t->stop;

# ---- configuration errors ------------------------------------------------------------

sub conf_error {
    my ($line, $want, $name) = @_;
    my $text = <<"EOF";
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / {
            $line
            return 200;
        }
    }
}
EOF
    my $path = $t->write_conf($text, name => 'bad.conf');
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "$name: sluice -t exits 1");
    like($err, qr/bad\.conf:\d+: .*$want/, "$name: error names file and line")
        or diag($err);
    my $n = line_of($t->conf_text($path), $line);
    like($err, qr/bad\.conf:$n:/, "$name: the right line");
}

conf_error('deny_match $request_uri ~ "(unclosed";', 'pcre2_compile',
    'bad regex');
conf_error('deny_match $request_uri = "x";', 'invalid operator',
    'bad operator');
conf_error('deny_match $request_uri ~ x status=200;', 'invalid status',
    'bad status');
conf_error('deny_match $nosuchvar ~ x;', 'variable', 'unknown variable');
conf_error('allow 10.0.0.0/33;', 'invalid parameter', 'bad CIDR');
conf_error('deny example.com;', 'invalid parameter', 'host name');
conf_error('satisfy some;', 'invalid value', 'bad satisfy');

done_testing;
