#!/usr/bin/perl

# Processes: titles and counts, pid file, respawn of crashed children,
# TERM and QUIT.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new(need_ctl => 0);

$t->write_conf(<<'EOF');
%%MAIN%%
worker_processes 2;
worker_shutdown_timeout 10s;
events {
    worker_connections 128;
}
http {
    access_log off;
    keepalive_timeout 3s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF

# A crash of a child is logged at alert; expected here.
$t->allow_log(qr/process \d+ exited on signal 9/);

my $conf = $t->conf_path;
my $p0 = $t->port(0);

sub ok_200 {
    my ($st, $h, $body) = parse_response(http_get($p0, '/'));
    return defined $st && $st == 200 && $body eq 'ok';
}

# ---- titles, counts, pid file ----------------------------------------------------

$t->start;
my $master = $t->pid;

is(SluiceTest::proc_title($master), "sluice: master process $conf",
    'master title names the config');
ok(wait_for(sub { $t->worker_pids == 2 && $t->checker_pid }, 5),
    'two workers and a checker');
my @kids = $t->children;
is(scalar @kids, 3, 'exactly three children')
    or diag(join "\n", map { "$_->{pid} $_->{title}" } @kids);
is(scalar(grep { $_->{title} eq 'sluice: worker process' } @kids), 2,
    'worker title "sluice: worker process"');
is(scalar(grep { $_->{title} eq 'sluice: checker process' } @kids), 1,
    'checker title "sluice: checker process"');

ok(wait_for(sub { defined $t->pid_from_file }, 5), 'pid file written');
is($t->pid_from_file, $master, 'pid file holds the master pid');
like($t->read_file('sluice.pid') // '', qr/^\d+\n$/, 'pid file is "PID\n"');

like($t->error_log, qr/\[notice\] \d+#\d+: sluice\/\d+\.\d+\.\d+ started, generation 1/,
    'start logged at notice');

if ($> == 0) {
    my @uids = map { (stat "/proc/$_")[4] } $t->worker_pids, $t->checker_pid;
    is_deeply([sort { $a <=> $b } @uids],
        [map { scalar getpwnam('nobody') } 1 .. scalar @uids],
        'children run as nobody when the master is root');
}

ok(ok_200(), 'serves requests');

# ---- a killed worker is re-forked --------------------------------------------------

{
    my @before = $t->worker_pids;
    my $victim = $before[0];
    kill 'KILL', $victim;
    my $t0 = time;
    my $ok = wait_for(sub {
        my @w = $t->worker_pids;
        @w == 2 && !grep { $_ == $victim } @w;
    }, 3);
    my $dt = time - $t0;
    ok($ok, sprintf('killed worker replaced (%.2fs)', $dt));
    ok(wait_for(sub { $t->error_log =~ /\[alert\] .*worker process $victim exited on signal 9/ }, 3),
        'worker crash logged at alert with the signal');
    ok(!SluiceTest::proc_alive($victim), 'killed worker is reaped');
    is(scalar(() = $t->children), 3, 'still three children');
    ok(ok_200(), 'serves requests after a worker crash');
}

# ---- the same for the checker ----------------------------------------------------------

{
    my $victim = $t->checker_pid;
    ok($victim, 'checker present');
    kill 'KILL', $victim if $victim;
    my $t0 = time;
    my $ok = wait_for(sub {
        my @c = $t->checker_pid;
        @c == 1 && $c[0] != ($victim // 0);
    }, 3);
    ok($ok, sprintf('killed checker replaced (%.2fs)', time - $t0));
    ok(wait_for(sub { $t->error_log =~ /\[alert\] .*process $victim exited on signal 9/ }, 3),
        'checker crash logged at alert with the signal');
    is(scalar(() = $t->worker_pids), 2, 'workers untouched');
}

# ---- several crashes at once -------------------------------------------------------------

{
    my @victims = ($t->worker_pids, $t->checker_pid);
    kill 'KILL', @victims;
    ok(wait_for(sub {
        my @w = $t->worker_pids;
        my @c = $t->checker_pid;
        my %old = map { $_ => 1 } @victims;
        @w == 2 && @c == 1 && !grep { $old{$_} } @w, @c;
    }, 3), 'all children killed at once: all replaced');
    ok(ok_200(), 'serves requests after that');
}

# ---- TERM --------------------------------------------------------------------------

{
    my @pids = ($t->worker_pids, $t->checker_pid);
    my $t0 = time;
    my $rc = $t->stop;
    ok(!$t->stop_timed_out, sprintf('TERM: master exits (%.2fs)', time - $t0));
    is($rc, 0, 'TERM: exit status 0');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @pids }, 5),
        'TERM: no children left');
    ok(!-e $t->testdir . '/sluice.pid', 'TERM: pid file removed');
    ok(!-e $t->testdir . '/ctl.sock', 'TERM: control socket removed');
    ok(!SluiceTest::_port_open($p0), 'TERM: port closed');
}

# ---- QUIT ----------------------------------------------------------------------------

{
    $t->start;
    ok(wait_for(sub { $t->worker_pids == 2 && $t->checker_pid }, 5),
        'restarted: three children');
    my @pids = ($t->worker_pids, $t->checker_pid);
    ok(ok_200(), 'restarted: serves');

    # an idle keepalive connection must not hold up the graceful stop
    # longer than keepalive_timeout / worker_shutdown_timeout
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st) = $c->read_response;
    is($st, 200, 'keepalive request before QUIT');

    my $t0 = time;
    my $rc = $t->stop(signal => 'QUIT', timeout => 40);
    ok(!$t->stop_timed_out, sprintf('QUIT: master exits (%.2fs)', time - $t0));
    is($rc, 0, 'QUIT: exit status 0');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @pids }, 5),
        'QUIT: no children left');
    ok(!-e $t->testdir . '/sluice.pid', 'QUIT: pid file removed');
    ok($c->wait_closed(1), 'QUIT: idle keepalive connection closed');
    $c->close;
}

# ---- QUIT with a request in flight on a keepalive connection -------------------------

{
    $t->start;
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st) = $c->read_response;
    # Half a request is in flight when QUIT arrives; it must be answered
    # (with Connection: close), then the worker exits.
    $c->send("GET / HTTP/1.1\r\n");
    sleep 0.2;
    $t->signal('QUIT');
    sleep 0.3;
    $c->send("Host: localhost\r\n\r\n");
    my ($st2, $h2, $b2) = $c->read_response(timeout => 10);
    is($st2, 200, 'QUIT: request in flight answered');
    like($h2->{connection} // '', qr/close/i,
        'QUIT: in-flight request answered with Connection: close');
    ok($t->wait_exit(15), 'QUIT: master exits after the in-flight request');
    $t->stop;
}

# ---- INT is a fast stop too --------------------------------------------------------

{
    $t->start;
    wait_for(sub { $t->worker_pids == 2 && $t->checker_pid }, 5);
    my @pids = ($t->worker_pids, $t->checker_pid);
    my $rc = $t->stop(signal => 'INT');
    ok(!$t->stop_timed_out, 'INT: master exits');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @pids }, 5),
        'INT: no children left');
}

# ---- worker_processes auto, relative paths ------------------------------------------

{
    my $ncpu = `getconf _NPROCESSORS_ONLN 2>/dev/null`;
    chomp $ncpu if defined $ncpu;
    $ncpu = 0 unless defined $ncpu && $ncpu =~ /^\d+$/;
    $t->write_conf(<<'EOF', raw => 1);
# every path relative to this file's directory
pid rel.pid;
error_log rel-error.log info;
control_socket rel.sock;
state_dir rel-state;
worker_processes auto;
http {
    access_log rel-access.log;
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "rel"; }
    }
}
EOF
    $t->start;
    my $d = $t->testdir;
    SKIP: {
        skip 'cannot tell the number of CPUs', 1 unless $ncpu;
        ok(wait_for(sub { $t->worker_pids == $ncpu }, 5),
            "worker_processes auto: $ncpu workers (one per CPU)")
            or diag(scalar(() = $t->worker_pids) . ' workers');
    }
    my ($st, undef, $body) = parse_response(http_get($t->port(1), '/'));
    is("$st $body", '200 rel', 'relative paths: serves');
    ok(wait_for(sub { -e "$d/rel.pid" }, 5), 'relative pid path: in the config dir');
    ok(-S "$d/rel.sock", 'relative control_socket path: in the config dir');
    ok(-d "$d/rel-state", 'relative state_dir: created in the config dir');
    like(_slurp_dir($d, 'rel-error.log'), qr/started, generation 1/,
        'relative error_log path: in the config dir');
    $t->stop;
    like(_slurp_dir($d, 'rel-access.log'), qr{"GET / HTTP/1\.1" 200},
        'relative access_log path: in the config dir');
}

# ---- worker_shutdown_timeout bounds a graceful stop ---------------------------------

{
    $t->write_conf(<<'EOF');
worker_processes 1;
worker_shutdown_timeout 2s;
http {
    access_log off;
    client_body_timeout 10s;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / { return 200 "wst"; }
    }
}
EOF
    $t->start;
    # one idle keepalive connection and one upload that keeps trickling
    my $idle = SluiceTest::Client->new(port => $t->port(3));
    $idle->get('/');
    my ($st) = $idle->read_response;
    is($st, 200, 'worker_shutdown_timeout: keepalive request');
    my $up = SluiceTest::Client->new(port => $t->port(3));
    $up->send("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n");
    sleep 0.2;
    my $t0 = time;
    $t->signal('QUIT');
    my $exited = 0;
    while (time - $t0 < 10) {
        $up->send('x') unless $up->eof;
        $up->wait_closed(0.3);
        if (!$t->running) { $exited = 1; last; }
    }
    my $dt = time - $t0;
    ok($exited, sprintf('QUIT with a never-ending upload: master exits (%.2fs)', $dt));
    cmp_ok($dt, '<', 6, 'within worker_shutdown_timeout 2s and a margin');
    ok($up->wait_closed(1), 'the upload connection was closed');
    ok($idle->wait_closed(1), 'the idle keepalive connection was closed');
    $idle->close;
    $up->close;
    $t->stop;
}

# ---- worker_rlimit_nofile, pid off ----------------------------------------------------

{
    $t->write_conf(<<'EOF');
pid off;
worker_processes 1;
worker_rlimit_nofile 1234;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location / { return 200 "rlimit"; }
    }
}
EOF
    $t->start;
    ok(wait_for(sub { scalar $t->worker_pids }, 5), 'worker running');
    my ($w) = $t->worker_pids;
    my $limits = SluiceTest::_slurp("/proc/$w/limits") // '';
    like($limits, qr/^Max open files\s+1234\s/m,
        'worker_rlimit_nofile 1234 applied to the worker');
    ok(!-e $t->testdir . '/sluice.pid', 'pid off: no pid file');
    $t->stop;
}

# ---- -c with a relative path ------------------------------------------------------------

{
    $t->write_conf(<<'EOF');
worker_processes 1;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / { return 200 "relc"; }
    }
}
EOF
    my $d = $t->testdir;
    my ($rc, $out, $err) = $t->run_sluice('-t', '-c', 'sluice.conf', { cwd => $d });
    is($rc, 0, '-t -c relative path: exit 0') or diag($err);
    $t->start(cwd => $d, conf_arg => 'sluice.conf');
    is(SluiceTest::proc_title($t->pid), "sluice: master process $d/sluice.conf",
        '-c relative path: title names the absolute path');
    my ($st, undef, $body) = parse_response(http_get($t->port(4), '/'));
    is("$st $body", '200 relc', '-c relative path: serves');
    $t->stop;
}

# ---- error_log stderr -------------------------------------------------------------------

{
    $t->write_conf(<<'EOF');
error_log stderr info;
worker_processes 1;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location / { return 200 "stderr"; }
    }
}
EOF
    my $before = length($t->read_file('stderr.log') // '');
    $t->start;
    ok(wait_for(sub {
        substr($t->read_file('stderr.log') // '', $before)
            =~ /\[notice\] \d+#\d+: sluice\/\S+ started, generation 1/
    }, 5), 'error_log stderr: log lines on stderr in the foreground');
    $t->stop;
}

done_testing;

sub _slurp_dir {
    my ($d, $f) = @_;
    open my $fh, '<', "$d/$f" or return '';
    local $/;
    return <$fh> // '';
}
