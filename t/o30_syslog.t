#!/usr/bin/perl

# Syslog targets: error_log and access_log to syslog:server=...  The test
# is the syslog daemon: a UDP socket on 127.0.0.1 for the error log and a
# UNIX datagram socket in the test dir for the access log.  It checks the
# RFC 3164 datagrams (PRI, time, host name, tag, message), escape=json,
# reload and reopen, -t errors, and that sluice serves on when nobody
# listens any more.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_DGRAM);
use Sys::Hostname ();
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new;
my $dir = $t->testdir;
my $p0 = $t->port(0);
my $dead = $t->port(1);      # nothing listens there: a 502 and an [error]

my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'udp') or die "udp socket: $!\n";
my $uport = $udp->sockport;
my $upath = "$dir/log.sock";
my $unix = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $upath)
    or die "unix socket: $!\n";
# The workers run as another user when the test runs as root.
chmod 0666, $upath;

(my $host = Sys::Hostname::hostname()) =~ s/\..*//;
my $ts = qr/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d \d\d:\d\d:\d\d/;

# local3 = 19, local7 = 23; PRI = facility * 8 + severity.
my %pri = (err_error => 19 * 8 + 3, err_notice => 19 * 8 + 5,
    err_info => 19 * 8 + 6, acc_notice => 23 * 8 + 5);

my $err_target = "syslog:server=127.0.0.1:$uport,facility=local3,tag=sltest";
my $acc_target = "syslog:server=unix:$upath,severity=notice";

sub conf {
    my ($error_log) = @_;
    $t->write_conf(<<"EOF");
pid $dir/sluice.pid;
error_log $error_log;
control_socket $dir/ctl.sock;
state_dir $dir/state;
worker_processes 1;
worker_shutdown_timeout 2s;
http {
    log_format js escape=json
        '{"uri":"\$request_uri","status":\$status,"ua":"\$http_user_agent"}';
    proxy_connect_timeout 2s;
    server {
        listen 127.0.0.1:$p0;
        access_log $acc_target upstream;
        location /json {
            access_log $acc_target,tag=sljson,nohostname js;
            return 200 "json";
        }
        location /bad { proxy_pass http://127.0.0.1:$dead; }
        location / { return 200 "hi"; }
    }
}
EOF
}

# Datagrams received so far, per socket, oldest first.
my %got = (udp => [], unix => []);

sub drain {
    my $sel = IO::Select->new($udp, $unix);
    while (my @r = $sel->can_read(0)) {
        for my $s (@r) {
            my $buf;
            next unless defined $s->recv($buf, 65536);
            push @{ $got{ $s == $udp ? 'udp' : 'unix' } }, $buf;
        }
    }
}

# Waits (bounded) for a datagram on which matching re; returns it and
# removes it and everything before it from the queue.
sub want {
    my ($which, $re, $timeout) = @_;
    my $found;
    wait_for(sub {
        drain();
        my $q = $got{$which};
        for my $i (0 .. $#$q) {
            next unless $q->[$i] =~ $re;
            $found = $q->[$i];
            splice @$q, 0, $i + 1;
            return 1;
        }
        return 0;
    }, $timeout // 5);
    return $found;
}

sub get {
    my ($path, %h) = @_;
    my ($st, undef, $b) = parse_response(http_get($p0, $path, %h));
    return defined $st ? "$st $b" : 'none';
}

# ---- -t: syntax and addresses --------------------------------------------

my @bad = (
    ['error_log syslog:server=127.0.0.1,colour=red;',
     qr/unknown syslog parameter "colour=red"/, 'bad parameter'],
    ['error_log syslog:server=127.0.0.1,facility=local9 info;',
     qr/unknown syslog facility "local9"/, 'bad facility'],
    ['error_log syslog:server=syslog.example.com;',
     qr/invalid syslog server address "syslog\.example\.com"/,
     'bad address'],
    ['error_log syslog:facility=local1;',
     qr/no syslog server specified/, 'no server'],
    ['error_log syslog:server=127.0.0.1,tag=no-dash;',
     qr/invalid syslog tag/, 'bad tag'],
    ["http { access_log $acc_target combined buffer=32k; }",
     qr/logs to syslog cannot be buffered/, 'buffer= with syslog'],
    ["http { access_log $acc_target,severity=loud; }",
     qr/unknown syslog severity "loud"/, 'bad severity'],
);
for my $b (@bad) {
    my ($line, $re, $name) = @$b;
    my $path = $t->write_conf("# bad\n$line\n", name => 'bad.conf',
        raw => 1);
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    is($rc, 1, "-t fails: $name");
    like($err, qr/\Q$path\E:2: /, "-t names file and line: $name");
    like($err, $re, "-t says why: $name");
}

conf("$err_target info");
my ($rc, $out, $err) = $t->run_t;
is($rc, 0, '-t accepts the syslog targets') or diag($err);
like($out . $err, qr/configuration OK/, '-t says configuration OK');

# ---- startup: errors before the target is set up go to stderr ------------

{
    my $hold = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $p0, Proto => 'tcp', Listen => 1, ReuseAddr => 0)
        or die "cannot hold port $p0: $!\n";
    my ($rc, $out, $err) = $t->run_sluice('-f', '-c', $t->conf_path,
        { timeout => 10 });
    is($rc, 1, 'start fails when the port is taken');
    like($err, qr/bind\(\) to 127\.0\.0\.1:$p0 failed/,
        'the startup error is on stderr, not lost to syslog');
    close $hold;
}

# ---- error log ---------------------------------------------------------------

$t->start;

my $m = want('udp', qr/started, generation 1/);
ok($m, 'error log: "started" notice arrives by UDP') or diag(explain(\%got));
like($m // '', qr/^<$pri{err_notice}>$ts \Q$host\E sltest: \[notice\] \d+#\d+: sluice\/\S+ started, generation 1$/,
    'error log: RFC 3164 form, local3.notice, tag, no time of its own');
unlike($m // '', qr{\d{4}/\d\d/\d\d}, 'error log: no "YYYY/MM/DD" time');
unlike($m // '', qr/\n/, 'error log: no newline');
ok(want('udp', qr/sltest: \[notice\] \d+#\d+: start worker process \d+$/),
    'error log: "start worker process" notice');

# An [error] from a worker: severity 3.
my ($st) = parse_response(http_get($p0, '/bad'));
is($st, 502, 'a dead upstream gives 502');
$m = want('udp', qr/\[error\] .*connect\(\).*127\.0\.0\.1:$dead/);
like($m // '', qr/^<$pri{err_error}>$ts \Q$host\E sltest: \[error\] \d+#0: /,
    'error log: a worker\'s [error] is local3.err (PRI 155) with pid#slot')
    or diag($m // explain(\%got));

# ---- access log ----------------------------------------------------------------

is(get('/hello?x=1', 'User-Agent' => 'ua-test'), '200 hi', 'request served');
$m = want('unix', qr{"GET /hello\?x=1 HTTP/1\.1"});
ok($m, 'access log: a datagram on the UNIX socket') or diag(explain(\%got));
like($m // '', qr{^<$pri{acc_notice}>$ts \Q$host\E sluice: 127\.0\.0\.1 - - \[[^\]]+\] "GET /hello\?x=1 HTTP/1\.1" 200 2 "-" "ua-test" upstream=- status=- upstream_time=- time=[\d.]+$},
    'access log: local7.notice, default tag, the upstream format, no '
    . 'newline');

my $ua = "q\"uo\\te\tx";
is(get('/json?a=%22b', 'User-Agent' => $ua), '200 json', 'json request');
$m = want('unix', qr/sljson: /);
ok($m, 'access log: the json location logs with its own tag');
my ($json) = ($m // '') =~ /^<$pri{acc_notice}>$ts sljson: (\{.*\})$/;
ok(defined $json, 'access log: nohostname leaves the host out')
    or diag($m);
my $j = eval { JSON::PP->new->decode($json // '') };
ok($j, 'access log: escape=json gives valid JSON') or diag($@);
is($j->{uri}, '/json?a=%22b', 'json: uri');
is($j->{status}, 200, 'json: status');
is($j->{ua}, $ua, 'json: a quote, a backslash and a control byte survive');

# One datagram per request, nothing buffered.
for my $i (1 .. 5) {
    get("/n$i");
}
my $n = 0;
wait_for(sub {
    drain();
    $n = grep { m{"GET /n\d HTTP/1\.1"} } @{ $got{unix} };
    return $n >= 5;
}, 5);
is($n, 5, 'access log: one datagram per request');
@{ $got{unix} } = ();

# ---- reload and reopen -----------------------------------------------------

my @w1 = $t->worker_pids;
ok($t->signal('HUP'), 'SIGHUP sent');
ok(want('udp', qr/sltest: \[notice\] \d+#\d+: reconfiguring$/),
    'reload: "reconfiguring" by syslog');
ok(want('udp', qr/sltest: \[notice\] \d+#\d+: reload complete, generation 2$/),
    'reload: "reload complete" by syslog');
wait_for(sub {
    my @w = $t->worker_pids;
    return @w && !grep { my $o = $_; grep { $_ == $o } @w1 } @w;
}, 10);
is(get('/after-reload'), '200 hi', 'served after reload');
ok(want('unix', qr{"GET /after-reload HTTP/1\.1"}),
    'access log: the new generation logs to syslog');

ok($t->signal('USR1'), 'SIGUSR1 sent');
ok(want('udp', qr/\[notice\] \d+#\d+: reopening logs$/),
    'reopen: notice by syslog');
is(get('/after-reopen'), '200 hi', 'served after reopen');
ok(want('unix', qr{"GET /after-reopen HTTP/1\.1"}),
    'access log: reopen leaves the syslog target working');
ok(!-e "$dir/syslog:server=127.0.0.1:$uport,facility=local3,tag=sltest",
    'no file named after the target');

# ---- nobody listens ------------------------------------------------------------

my $master = $t->pid;
my @w2 = $t->worker_pids;
close $udp;
close $unix;
unlink $upath;
my $ok = 0;
for my $i (1 .. 30) {
    $ok++ if get("/gone$i") eq '200 hi';
    ($st) = parse_response(http_get($p0, '/bad')) if $i % 10 == 0;
}
is($ok, 30, 'no receiver: every request served');
ok($t->running, 'no receiver: the master runs');
is_deeply([$t->worker_pids], \@w2, 'no receiver: the worker did not die');

# Drops are reported, at most once a minute, to a file error log.
conf("$dir/error.log info");
ok($t->signal('HUP'), 'reload to a file error log');
ok(wait_for(sub { $t->error_log =~ /reload complete, generation 3/ }, 10),
    'reload complete (in the file)');
wait_for(sub {
    my @w = $t->worker_pids;
    return @w && !grep { my $o = $_; grep { $_ == $o } @w2 } @w;
}, 10);
$ok = 0;
for my $i (1 .. 10) {
    $ok++ if get("/file$i") eq '200 hi';
}
is($ok, 10, 'served with a dead access-log target');
my @warn;
wait_for(sub {
    @warn = grep { /\[warn\].*syslog server "unix:\Q$upath\E": \d+ messages? dropped/ }
        split /\n/, $t->error_log;
    return scalar @warn;
}, 5);
is(scalar @warn, 1, 'drops: one [warn] line, not one per message')
    or diag(join "\n", @warn);
like($warn[0] // '', qr/\(\d+ in all\), the last because (?:sendmsg|connect)\(\) failed \(\d+: /,
    'drops: the warning counts and names the failing call');

is($t->stop, 0, 'sluice exits 0');

done_testing;
