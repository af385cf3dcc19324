#!/usr/bin/perl

# Configuration: sluice -t, -V, and one config per kind of error with the
# exact "sluice: FILE:LINE: reason" on stderr and exit status 1.

use strict;
use warnings;

use Test::More;
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);
my $d = $t->testdir;

my $good = <<'EOF';
%%MAIN%%
worker_processes 1;
events {
    worker_connections 128;
}
http {
    access_log %%TESTDIR%%/access.log;
    client_max_body_size 1m;
    keepalive_timeout 75s;
    server_tokens on;
    # a comment
    server {
        listen 127.0.0.1:%%PORT_0%% default_server backlog=128;
        client_header_buffer_size 2k;
        large_client_header_buffers 4 16k;
        server_name localhost "quoted.example" 'single.example';
        location = /x { return 200 "x"; }
        location ~ \.php$ { return 404; }
        location / { return 200 'ok'; }
    }
}
EOF

# ---- good configuration ----------------------------------------------------

$t->write_conf($good);
my ($rc, $out, $err) = $t->run_t;
is($rc, 0, 'good config: -t exits 0');
is($out, "configuration OK\n", 'good config: "configuration OK" on stdout');
is($err, '', 'good config: nothing on stderr');

# relative include resolved against the directory of the main config
$t->write_file('inc-good.conf', "worker_connections 64;\n");
$t->write_conf(<<'EOF');
%%MAIN%%
events {
    include inc-good.conf;
}
http {
    server { listen 127.0.0.1:%%PORT_0%%; }
}
EOF
($rc, $out, $err) = $t->run_t;
is($rc, 0, 'relative include: -t exits 0') or diag($err);
like($out, qr/^configuration OK$/m, 'relative include: configuration OK');

# glob include matching several files
$t->write_file('glob-a.conf', "server { listen 127.0.0.1:%%PORT_1%%; }\n"
    =~ s/%%PORT_1%%/$t->port(1)/er);
$t->write_file('glob-b.conf', "server { listen 127.0.0.1:%%PORT_2%%; }\n"
    =~ s/%%PORT_2%%/$t->port(2)/er);
$t->write_conf(<<'EOF');
%%MAIN%%
http {
    include %%TESTDIR%%/glob-*.conf;
}
EOF
($rc, $out, $err) = $t->run_t;
is($rc, 0, 'glob include: -t exits 0') or diag($err);

# ---- -V ----------------------------------------------------------------------

($rc, $out, $err) = $t->run_sluice('-V');
is($rc, 0, '-V exits 0');
like($out . $err, qr/^sluice version \d+\.\d+\.\d+/m, '-V prints version');
like($out . $err, qr/^configure arguments:/m, '-V prints configure arguments');

# ---- errors --------------------------------------------------------------------

# Each case: name, config template, marker (the error's line is the first
# line containing it, or a list of acceptable markers), reason regex, and
# optionally the file the error names (default the main config).
my @cases = (
    ['unknown directive', <<'EOF', 'frobnicate', qr/unknown directive "?frobnicate"?/],
%%MAIN%%
http {
    frobnicate on;
}
EOF
    ['directive in wrong context', <<'EOF', 'listen 1', qr/"?listen"? directive is not allowed here|not allowed/],
%%MAIN%%
http {
    listen 127.0.0.1:%%PORT_0%%;
    server { listen 127.0.0.1:%%PORT_0%%; }
}
EOF
    ['location outside server', <<'EOF', 'location', qr/not allowed/],
%%MAIN%%
http {
    location / { }
}
EOF
    ['wrong argument count', <<'EOF', 'worker_processes', qr/invalid number of arguments|argument/],
%%MAIN%%
worker_processes 1 2;
EOF
    ['no arguments', <<'EOF', 'client_max_body_size', qr/invalid number of arguments|argument/],
%%MAIN%%
http {
    client_max_body_size;
}
EOF
    ['invalid size', <<'EOF', 'client_max_body_size', qr/invalid|"10x"/],
%%MAIN%%
http {
    client_max_body_size 10x;
}
EOF
    ['invalid time', <<'EOF', 'keepalive_timeout', qr/invalid|"5q"/],
%%MAIN%%
http {
    keepalive_timeout 5q;
}
EOF
    ['invalid number', <<'EOF', 'worker_processes', qr/invalid|"abc"/],
%%MAIN%%
worker_processes abc;
EOF
    ['negative number', <<'EOF', 'worker_connections', qr/invalid|"-5"/],
%%MAIN%%
events {
    worker_connections -5;
}
EOF
    ['invalid flag', <<'EOF', 'server_tokens', qr/invalid|"maybe"|"on" or "off"/],
%%MAIN%%
http {
    server_tokens maybe;
}
EOF
    ['invalid return code', <<'EOF', 'return', qr/invalid|code|"abc"/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
            return abc;
        }
    }
}
EOF
    ['invalid error_log level', <<'EOF', 'error_log', qr/invalid|level|"loud"/],
pid %%TESTDIR%%/sluice.pid;
control_socket %%TESTDIR%%/ctl.sock;
state_dir %%TESTDIR%%/state;
error_log %%TESTDIR%%/error.log loud;
EOF
    ['too few worker_connections', <<'EOF', 'worker_connections', qr/at least|invalid|too/],
%%MAIN%%
events {
    worker_connections 5;
}
EOF
    ['invalid location modifier', <<'EOF', 'location', qr/modifier|invalid/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location !~ /x { }
    }
}
EOF
    ['unknown variable', <<'EOF', 'return', qr/unknown "?\$?no_such_variable"? variable|unknown/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$no_such_variable"; }
    }
}
EOF
    ['unknown log_format', <<'EOF', 'access_log', qr/unknown log format|nosuchformat/],
%%MAIN%%
http {
    access_log %%TESTDIR%%/a.log nosuchformat;
}
EOF
    ['duplicate worker_processes', <<'EOF', 'worker_processes 2', qr/duplicate/],
%%MAIN%%
worker_processes 1;
worker_processes 2;
EOF
    ['duplicate events block', <<'EOF', 'events { # 2', qr/duplicate/],
%%MAIN%%
events { }
events { # 2
}
EOF
    ['missing ";" before "}"', <<'EOF', ['worker_connections', '}'], qr/unexpected "}"|expecting ";"|";"/],
%%MAIN%%
events {
    worker_connections 512
}
EOF
    ['missing ";" at end of file', "%%MAIN%%worker_processes 1", 'worker_processes', qr/end of file|expecting|";"/],
    ['missing "}"', "%%MAIN%%http {\n    server {\n        listen 127.0.0.1:%%PORT_0%%;\n    }", ['http {', '    }'], qr/end of file|expecting "}"|"}"/],
    ['unexpected "}"', <<'EOF', '} # extra', qr/unexpected "}"/],
%%MAIN%%
events {
}
} # extra
EOF
    ['unterminated quote', "%%MAIN%%http {\n    server_tokens \"on;", 'server_tokens', qr/quote|end of file|unterminated/],
    ['unexpected "{"', <<'EOF', 'worker_processes', qr/unexpected "\{"|"\{"|block|no opening|not terminated|";"/],
%%MAIN%%
worker_processes 1 { }
EOF
    ['block directive without block', <<'EOF', 'events;', qr/no opening "\{"|"\{"|block/],
%%MAIN%%
events;
EOF
    ['missing include', <<'EOF', 'include', qr/\Q$d\E\/missing\.conf|missing\.conf/],
%%MAIN%%
http {
    include %%TESTDIR%%/missing.conf;
}
EOF
    ['bad regex', <<'EOF', 'location ~', qr/pcre2|regex|parenthesis/i],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location ~ "^/(unclosed" { return 200; }
    }
}
EOF
    ['bad server_name regex', <<'EOF', 'server_name', qr/pcre2|regex|parenthesis|bracket/i],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        server_name "~^[a-z";
    }
}
EOF
    ['bad listen port', <<'EOF', 'listen', qr/port|invalid|70000/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:70000;
    }
}
EOF
    ['bad listen address', <<'EOF', 'listen', qr/invalid|address|host|port/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:abc;
    }
}
EOF
    ['unknown listen parameter', <<'EOF', 'listen', qr/invalid|parameter|"bogus"/],
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%% bogus;
    }
}
EOF
);

for my $c (@cases) {
    my ($name, $tpl, $marker, $reason) = @$c;
    my $path = $t->write_conf($tpl, name => 'err.conf');
    my $text = $t->conf_text($path);
    my @lines = map { line_of($text, $_) } ref $marker ? @$marker : ($marker);
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "$name: exit 1");
    check_error($err, $path, \@lines, $reason, $name);
    is($out, '', "$name: nothing on stdout") or diag($out);
}

# ---- user (only meaningful, and only checked, when started as root) -------------

SKIP: {
    skip 'not root: the user directive is ignored', 5 if $> != 0;
    my $path = $t->write_conf(<<'EOF', name => 'err.conf');
%%MAIN%%
user nosuchuser_sluicetest;
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, 'unknown user: exit 1');
    check_error($err, $path, [line_of($t->conf_text($path), 'user nosuch')],
        qr/getpwnam|no such user|nosuchuser/, 'unknown user');
    is($out, '', 'unknown user: nothing on stdout');
}

# ---- errors in included files ----------------------------------------------------

{
    my $inc = $t->write_file('inc-bad.conf',
        "# included\nkeepalive_timeout 10s;\nbogus_directive 1;\n");
    my $path = $t->write_conf(<<'EOF', name => 'err.conf');
%%MAIN%%
http {
    include %%TESTDIR%%/inc-bad.conf;
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, 'error in include: exit 1');
    check_error($err, $inc, [3], qr/unknown directive "?bogus_directive"?/,
        'error in include names the included file and its line');
}

{
    # error in a file included by an included file, relative path
    $t->write_file('inc-outer.conf', "\n\ninclude inc-inner.conf;\n");
    my $inner = $t->write_file('inc-inner.conf',
        "worker_connections 100;\nworker_connections nope;\n");
    my $path = $t->write_conf(<<'EOF', name => 'err.conf');
%%MAIN%%
events {
    include inc-outer.conf;
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, 'error in nested include: exit 1');
    check_error($err, "$d/inc-inner.conf", [2], qr/duplicate|invalid|nope/,
        'error in nested relative include names the inner file');
}

SKIP: {
    skip 'running as root: cannot make a file unreadable', 2 if $> == 0;
    my $inc = $t->write_file('unreadable.conf', "worker_connections 10;\n");
    chmod 0000, $inc;
    my $path = $t->write_conf(<<'EOF', name => 'err.conf');
%%MAIN%%
events {
    include %%TESTDIR%%/unreadable.conf;
}
EOF
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, 'unreadable include: exit 1');
    like($err, qr/unreadable\.conf.*(?:Permission denied|permission)/i,
        'unreadable include: names the file and the reason');
    chmod 0644, $inc;
}

{
    # the main file itself missing
    my ($rc, $out, $err) = $t->run_t({ conf => "$d/nonexistent.conf" });
    is($rc, 1, 'missing main config: exit 1');
    like($err, qr/^sluice: .*nonexistent\.conf/m,
        'missing main config: message names the file');
}

{
    # unknown command-line option
    my ($rc, $out, $err) = $t->run_sluice('-Z');
    is($rc, 1, 'unknown option: exit 1');
    like($err, qr/\S/, 'unknown option: message on stderr');
}

# ---- starting (not -t) with a bad configuration ----------------------------------

{
    my $path = $t->write_conf(<<'EOF', name => 'err.conf');
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        no_such_directive;
    }
}
EOF
    my $line = line_of($t->conf_text($path), 'no_such_directive');
    my ($rc, $out, $err) = $t->run_sluice('-f', '-c', $path,
        { timeout => 10 });
    is($rc, 1, 'start with bad config: exit 1');
    like($err, qr/^sluice: \Q$path\E:$line: .*no_such_directive/m,
        'start with bad config: FILE:LINE: reason on stderr');
    ok(!-e "$d/sluice.pid", 'start with bad config: no pid file');
    ok(!-e "$d/ctl.sock", 'start with bad config: no control socket');
}

{
    # Listen port already in use: start fails with a message, exit 1.
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $t->port(3), Listen => 5, ReuseAddr => 1);
    ok($busy, 'bound a port to collide with');
    my $path = $t->write_conf(<<'EOF', name => 'busy.conf');
%%MAIN%%
http {
    server {
        listen 127.0.0.1:%%PORT_3%%;
    }
}
EOF
    my ($rc, $out, $err) = $t->run_sluice('-f', '-c', $path,
        { timeout => 10 });
    is($rc, 1, 'start with a busy port: exit 1');
    like($err . ($t->read_file('error.log') // ''),
        qr/127\.0\.0\.1:\d+.*(?:in use|bind)|bind.*in use/i,
        'start with a busy port: bind() failure reported');
    close $busy if $busy;
}

# The failures provoked above may be logged at emerg; nothing else may.
$t->allow_log(qr/no_such_directive|bind\(\)|in use/);
$t->check_log('no unexpected alert or emerg lines in the error log');

done_testing;

# ---- helpers -----------------------------------------------------------------------

# The message must be exactly one line "sluice: FILE:LINE: reason" with
# LINE one of lines and reason matching re.
sub check_error {
    my ($err, $file, $lines, $re, $name) = @_;
    my @l = grep { length } split /\n/, $err;
    my $alt = join '|', @$lines;
    my $ok = like($err, qr/^sluice: \Q$file\E:(?:$alt): /m,
        "$name: \"sluice: FILE:LINE:\" prefix (line " . join(' or ', @$lines)
        . ')');
    like($err, qr/^sluice: \Q$file\E:\d+: .*$re/m, "$name: reason");
    is(scalar @l, 1, "$name: one line on stderr") or diag($err);
}
