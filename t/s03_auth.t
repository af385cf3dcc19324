#!/usr/bin/perl

# auth_basic: every htpasswd hash type accepted (bcrypt, $6$, $5$, $apr1$,
# {SHA}), wrong password, unknown user, missing or malformed credentials
# get 401 with the challenge; $remote_user in the access log; the
# Authorization header is not forwarded upstream unless proxy_set_header
# says so; auth_basic off in a nested level; the password file is re-read
# at reload; a missing file is a configuration error.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use SluiceTest;
use SluiceTest::Upstream;

my $t = SluiceTest->new;

# Vectors made with htpasswd -B and openssl passwd -6/-5/-apr1, htpasswd -s.
my %users = (
    alice => ['secret',
        '$2y$05$3px91LOPEeFjLZ91AhUuYuVman57HVBHMovLQjBzGdLj94Sf3Miii'],
    dave  => ['secret', '$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1'
        . 'E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1'],
    erin  => ['secret', '$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPd'
        . 'S5sA'],
    carol => ['p@ss:word', '$apr1$bvuhq697$/9bQHIX7b.khGnImDQAGv0'],
    bob   => ['secret', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='],
);
$t->write_file('htpasswd', "# users\n\n"
    . join('', map { "$_:$users{$_}[1]\n" } sort keys %users));

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
http {
    log_format u '$remote_user $request_uri $status';
    access_log %%TESTDIR%%/access.log u;

    server {
        listen 127.0.0.1:%%PORT_0%%;
        auth_basic "Staff \"only\"";
        auth_basic_user_file htpasswd;

        location / { proxy_pass http://127.0.0.1:%%PORT_5%%; }
        location /pass {
            proxy_set_header Authorization $http_authorization;
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
        location /public {
            auth_basic off;
            proxy_pass http://127.0.0.1:%%PORT_5%%;
        }
    }
}
EOF

my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'echo');
$u->start;
$t->start;
my $p0 = $t->port(0);

sub basic { 'Basic ' . encode_base64($_[0], '') }
sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }

for my $user (sort keys %users) {
    my ($st, $h, $b) = parse_response(http_get($p0, "/u/$user",
        Authorization => basic("$user:$users{$user}[0]")));
    my ($type) = $users{$user}[1] =~ /^(\$\w+\$|\{SHA\})/;
    is($st, 200, "$type hash ($user): accepted");
    my $rec = echo($b);
    is(SluiceTest::Upstream::header($rec, 'Authorization'), undef,
        "$type: Authorization not forwarded upstream");
}

for my $case (
    [ 'wrong password', Authorization => basic('alice:wrong') ],
    [ 'wrong password ({SHA})', Authorization => basic('bob:secreT') ],
    [ 'unknown user', Authorization => basic('mallory:secret') ],
    [ 'no credentials' ],
    [ 'not Basic', Authorization => 'Bearer abc' ],
    [ 'bad base64', Authorization => 'Basic !!!!' ],
    [ 'no colon', Authorization => basic('alice') ],
    [ 'empty user', Authorization => basic(':secret') ],
) {
    my ($name, @h) = @$case;
    my ($st, $h) = parse_response(http_get($p0, '/x', @h));
    is($st, 401, "$name: 401");
    is($h->{'www-authenticate'}, 'Basic realm="Staff \"only\""',
        "$name: WWW-Authenticate with the realm");
}

{
    my ($st, $h, $b) = parse_response(http_get($p0, '/pass/x',
        Authorization => basic('alice:secret')));
    is($st, 200, 'proxy_set_header Authorization: accepted');
    is(SluiceTest::Upstream::header(echo($b), 'Authorization'),
        basic('alice:secret'),
        'proxy_set_header Authorization $http_authorization: forwarded');

    ($st, $h, $b) = parse_response(http_get($p0, '/public/x'));
    is($st, 200, 'auth_basic off in a location: no credentials needed');
    ($st, $h, $b) = parse_response(http_get($p0, '/public/y',
        Authorization => 'Basic Zm9vOmJhcg=='));
    is(SluiceTest::Upstream::header(echo($b), 'Authorization'),
        'Basic Zm9vOmJhcg==', 'auth_basic off: Authorization left alone');
}

ok(wait_for(sub {
    my $l = $t->read_file('access.log') // '';
    $l =~ m{^alice /u/alice 200$}m && $l =~ m{^carol /u/carol 200$}m
        && $l =~ m{^- /x 401$}m;
}, 5), '$remote_user in the access log (and "-" without a user)')
    or diag($t->read_file('access.log'));

# ---- the password file is re-read at reload ------------------------------------

$t->write_file('htpasswd', "frank:$users{bob}[1]\n");
$t->signal('HUP');
ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 10),
    'reloaded');
ok(wait_for(sub {
    my ($st) = parse_response(http_get($p0, '/r',
        Authorization => basic('frank:secret')));
    ($st // '') eq '200';
}, 5), 'after reload: the new user is accepted');
my ($st) = parse_response(http_get($p0, '/r',
    Authorization => basic('alice:secret')));
is($st, 401, 'after reload: the removed user is refused');

# A reload with a missing password file keeps the old configuration.
rename $t->testdir . '/htpasswd', $t->testdir . '/htpasswd.gone';
$t->signal('HUP');
ok(wait_for(sub { $t->error_log =~ /htpasswd/ && $t->error_log =~ /open\(\)/ }, 10),
    'reload with a missing password file: error logged');
($st) = parse_response(http_get($p0, '/r',
    Authorization => basic('frank:secret')));
is($st, 200, '... and the old configuration still runs');
rename $t->testdir . '/htpasswd.gone', $t->testdir . '/htpasswd';

$t->stop;
$u->stop;

# ---- configuration errors --------------------------------------------------------

sub bad {
    my ($lines, $want, $name) = @_;
    my $path = $t->write_conf(<<"EOF", name => 'bad.conf');
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        $lines
        return 200;
    }
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "$name: exit 1");
    like($err, qr/bad\.conf:\d+: .*\Q$want\E/, "$name: file:line and reason")
        or diag($err);
}

bad('auth_basic_user_file nosuchfile;', 'nosuchfile', 'missing file');
$t->write_file('plain', "joe:plaintext\n");
bad('auth_basic_user_file plain;', 'unsupported password hash', 'plain password');
$t->write_file('garbage', "no-colon-here\n");
bad('auth_basic_user_file garbage;', 'invalid line', 'malformed line');

done_testing;
