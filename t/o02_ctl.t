#!/usr/bin/perl

# sluicectl: status (text and JSON), reopen, errors, permissions, stop and
# quit.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use SluiceTest;

my $t = SluiceTest->new;

my $tpl = <<'EOF';
%%MAIN%%
worker_processes 2;
worker_shutdown_timeout 5s;
http {
    log_format withpid '$pid "$request" $status';
    access_log %%TESTDIR%%/access.log withpid;
    keepalive_timeout 2s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "ok"; }
    }
}
EOF

$t->write_conf($tpl);
$t->start;

my $dir = $t->testdir;
my $conf = $t->conf_path;
my $p0 = $t->port(0);
my $master = $t->pid;
my $sock = $t->ctl_socket;

ok(wait_for(sub { $t->worker_pids == 2 && $t->checker_pid }, 5),
    'two workers and a checker running');
my @workers = sort { $a <=> $b } $t->worker_pids;
my $checker = $t->checker_pid;

# ---- status --------------------------------------------------------------------------

{
    my ($rc, $out, $err) = $t->ctl('status');
    is($rc, 0, 'status: exit 0') or diag($err);
    is($err, '', 'status: nothing on stderr');
    like($out, qr/\Asluice \d+\.\d+\.\d+\n/, 'status: first line "sluice VERSION"');
    like($out, qr/^pid: $master$/m, 'status: master pid');
    like($out, qr/^uptime: \S/m, 'status: uptime');
    like($out, qr/^config: \Q$conf\E$/m, 'status: config path');
    like($out, qr/^generation: 1$/m, 'status: generation 1');
    like($out, qr/^reloads: 0 \(failed: 0\)$/m, 'status: reloads');
    my @w = $out =~ /^worker \d+ pid (\d+) generation 1$/mg;
    is_deeply([sort { $a <=> $b } @w], \@workers, 'status: worker pids match /proc');
    my @slots = sort { $a <=> $b } $out =~ /^worker (\d+) pid/mg;
    is_deeply(\@slots, [0, 1], 'status: worker slots 0 and 1');
    like($out, qr/^checker pid $checker generation 1$/m, 'status: checker pid');
}

# ---- status -j -----------------------------------------------------------------------

{
    my ($rc, $out, $err) = $t->ctl('-j', 'status');
    is($rc, 0, 'status -j: exit 0') or diag($err);
    my $j = eval { decode_json($out) };
    ok($j && ref $j eq 'HASH', 'status -j: one JSON object') or diag("$@: $out");
    $j ||= {};
    like($j->{version} // '', qr/^\d+\.\d+\.\d+$/, 'status -j: version');
    is($j->{pid}, $master, 'status -j: pid');
    ok(defined $j->{uptime} && $j->{uptime} =~ /^\d+(?:\.\d+)?$/,
        'status -j: uptime is a number');
    is($j->{config}, $conf, 'status -j: config');
    is($j->{generation}, 1, 'status -j: generation');
    is($j->{reloads}, 0, 'status -j: reloads');
    is($j->{reload_failures}, 0, 'status -j: reload_failures');
    my @w = @{ $j->{workers} // [] };
    is(scalar @w, 2, 'status -j: two workers');
    is_deeply([sort { $a <=> $b } map { $_->{pid} } @w], \@workers,
        'status -j: worker pids match /proc');
    is_deeply([sort { $a <=> $b } map { $_->{slot} } @w], [0, 1],
        'status -j: slots');
    is(scalar(grep { ($_->{generation} // 0) == 1 } @w), 2,
        'status -j: worker generations');
    is($j->{checker}{pid}, $checker, 'status -j: checker pid');
}

# ---- socket from the environment ------------------------------------------------------

{
    my ($rc, $out) = $t->ctl('status',
        { socket => undef, env => { SLUICE_CONTROL_SOCKET => $sock } });
    is($rc, 0, 'SLUICE_CONTROL_SOCKET used when no -s');
    like($out, qr/\b$master\b/, 'SLUICE_CONTROL_SOCKET: status output');
}

# ---- reopen ------------------------------------------------------------------------------

{
    my ($st) = parse_response(http_get($p0, '/before-reopen'));
    is($st, 200, 'request before reopen');
    ok(wait_for(sub { -e "$dir/access.log" }, 5), 'access log exists');
    rename "$dir/access.log", "$dir/access.log.1";
    my ($rc, $out, $err) = $t->ctl('reopen');
    is($rc, 0, 'reopen: exit 0') or diag($err);
    ok(wait_for(sub { -e "$dir/access.log" }, 5), 'reopen: new access log created');
    ok(all_workers_reopened(), 'reopen: every worker writes to the new log');
    ($st) = parse_response(http_get($p0, '/after-reopen'));
    is($st, 200, 'request after reopen');

    # USR1 does the same
    ok(wait_for(sub { -e "$dir/access.log" }, 5), 'access log there before USR1');
    rename "$dir/access.log", "$dir/access.log.2";
    $t->signal('USR1');
    ok(wait_for(sub { -e "$dir/access.log" }, 5), 'USR1: new access log created');
    ok(all_workers_reopened(), 'USR1: every worker writes to the new log');
    ($st) = parse_response(http_get($p0, '/after-usr1'));
    is($st, 200, 'request after USR1');
}

# Workers reopen asynchronously after the master: probe with requests
# (new connections land on either worker) until the new file has lines
# from every worker (the format logs $pid).
sub all_workers_reopened {
    my %want = map { $_ => 1 } $t->worker_pids;
    my $n = 0;
    return wait_for(sub {
        http_get($p0, '/probe' . $n++);
        my $log = $t->read_file('access.log') // '';
        my %seen = map { $_ => 1 } $log =~ /^(\d+) /mg;
        !grep { !$seen{$_} } keys %want;
    }, 5, 0.02);
}

# ---- errors --------------------------------------------------------------------------------

{
    my ($rc, $out, $err) = $t->ctl('frobnicate');
    is($rc, 1, 'unknown command: exit 1');
    is(scalar(grep { length } split /\n/, $err), 1, 'unknown command: one line on stderr')
        or diag($err);
    like($err, qr/^sluicectl: .*frobnicate/, 'unknown command: named');
    is($out, '', 'unknown command: nothing on stdout');

    ($rc, $out, $err) = $t->ctl();
    is($rc, 1, 'no command: exit 1');
    like($err, qr/\S/, 'no command: message on stderr');

    ($rc, $out, $err) = $t->ctl('status', { socket => "$dir/nope.sock" });
    is($rc, 1, 'missing socket: exit 1');
    is(scalar(grep { length } split /\n/, $err), 1, 'missing socket: one line on stderr');
    like($err, qr/^sluicectl: .*(?:nope\.sock|No such file)/,
        'missing socket: names the socket or the reason');

    ($rc, $out, $err) = $t->ctl('-V', { socket => undef });
    is($rc, 0, 'sluicectl -V: exit 0');
    like($out . $err, qr/\d+\.\d+\.\d+/, 'sluicectl -V: version');
}

# ---- permissions -----------------------------------------------------------------------------

SKIP: {
    skip 'not root: cannot run sluicectl as another user', 5 if $> != 0;
    my $mode = (stat $sock)[2] & 07777;
    is(sprintf('%04o', $mode), '0600', 'control socket mode 0600 by default');
    my @as_nobody = ('setpriv', '--reuid=65534', '--regid=65534', '--clear-groups');
    my ($rc, $out, $err) = $t->ctl('status', { prefix => \@as_nobody });
    skip "cannot run sluicectl as nobody (exit $rc: $err)", 4 if $rc >= 126;
    is($rc, 1, 'as another user: exit 1');
    like($err, qr/^sluicectl: .*(?:permission denied|not permitted)/i,
        'as another user: permission denied') or diag($err);
    is(scalar(grep { length } split /\n/, $err), 1, 'as another user: one line');
    ($rc) = $t->ctl('stop', { prefix => \@as_nobody });
    ok($t->running && $rc == 1, 'as another user: stop refused, master still running');
}

# ---- stop ------------------------------------------------------------------------------------

{
    my @pids = ($t->worker_pids, $t->checker_pid);
    my ($rc, $out, $err) = $t->ctl('stop');
    is($rc, 0, 'sluicectl stop: exit 0') or diag($err);
    ok($t->wait_exit(10), 'sluicectl stop: master exits');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @pids }, 5),
        'sluicectl stop: children gone');
    ok(!-e $sock, 'sluicectl stop: control socket removed');
    $t->stop;

    ($rc, $out, $err) = $t->ctl('status');
    is($rc, 1, 'status without a running master: exit 1');
    like($err, qr/^sluicectl: /, 'status without a running master: message');

    my $log1 = $t->read_file('access.log.1') // '';
    my $log2 = $t->read_file('access.log.2') // '';
    my $log3 = $t->read_file('access.log') // '';
    like($log1, qr{/before-reopen}, 'reopen: earlier requests in the renamed log');
    unlike($log1, qr{/after-reopen}, 'reopen: later requests not in the renamed log');
    like($log2, qr{/after-reopen}, 'reopen: later requests in the new log');
    unlike($log2, qr{/after-usr1}, 'USR1: later requests not in the renamed log');
    like($log3, qr{/after-usr1}, 'USR1: later requests in the new log');
}

# ---- SO_PEERCRED check with a world-writable socket ---------------------------------------

SKIP: {
    skip 'not root: cannot run sluicectl as another user', 4 if $> != 0;
    my $main = "pid %%TESTDIR%%/sluice.pid;\n"
        . "error_log %%TESTDIR%%/error.log info;\n"
        . "control_socket %%TESTDIR%%/ctl.sock mode=0666;\n"
        . "state_dir %%TESTDIR%%/state;\n";
    $t->write_conf($tpl =~ s/%%MAIN%%\n/$main/r);
    $t->start;
    my $mode = (stat $sock)[2] & 07777;
    is(sprintf('%04o', $mode), '0666', 'control_socket mode=0666 applied');
    my @as_nobody = ('setpriv', '--reuid=65534', '--regid=65534', '--clear-groups');
    my ($rc, $out, $err) = $t->ctl('status', { prefix => \@as_nobody });
    skip "cannot run sluicectl as nobody (exit $rc: $err)", 3 if $rc >= 126;
    is($rc, 1, 'peer credentials checked: other user refused');
    like($err, qr/^sluicectl: .*(?:permission denied|not permitted)/i,
        'peer credentials: permission denied') or diag($err);
    ($rc) = $t->ctl('status');
    is($rc, 0, 'peer credentials: root still allowed');
    $t->stop;
}

# ---- control_socket off ------------------------------------------------------------------

{
    my $main = "pid %%TESTDIR%%/sluice.pid;\n"
        . "error_log %%TESTDIR%%/error.log info;\n"
        . "control_socket off;\n"
        . "state_dir %%TESTDIR%%/state;\n";
    $t->write_conf($tpl =~ s/%%MAIN%%\n/$main/r);
    $t->start;
    ok(!-e $sock, 'control_socket off: no socket');
    my ($st) = parse_response(http_get($p0, '/'));
    is($st, 200, 'control_socket off: serves');
    my ($rc, $out, $err) = $t->ctl('status', { socket => $sock });
    is($rc, 1, 'control_socket off: sluicectl fails');
    $t->stop;
}

# ---- a stale socket file is replaced; a live one is not taken over ----------------------

{
    use IO::Socket::UNIX;
    unlink $sock;
    my $stale = IO::Socket::UNIX->new(Local => $sock, Listen => 1);
    ok($stale && -S $sock, 'stale socket file created');
    close $stale if $stale;    # the file stays, nobody listens
    $t->write_conf($tpl);
    $t->start;
    my ($rc) = $t->ctl('status');
    is($rc, 0, 'stale control socket replaced at start');

    # a second master on the same control socket must refuse to start
    my $other = $t->write_conf(<<'EOF', name => 'other.conf');
pid %%TESTDIR%%/other.pid;
error_log %%TESTDIR%%/other-error.log info;
control_socket %%TESTDIR%%/ctl.sock;
state_dir %%TESTDIR%%/other-state;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location / { return 200 "other"; }
    }
}
EOF
    my ($rc2, $out2, $err2) = $t->run_sluice('-f', '-c', $other,
        { timeout => 10 });
    is($rc2, 1, 'second master on a live control socket: exit 1');
    like($err2, qr/^sluice: .*\S/m, 'second master: reason on stderr')
        or diag($err2);
    ($rc) = $t->ctl('status');
    is($rc, 0, 'first master still answers on its socket');
    my ($st) = parse_response(http_get($p0, '/'));
    is($st, 200, 'first master still serves');
    $t->stop;
}

# ---- quit ------------------------------------------------------------------------------------

{
    $t->write_conf($tpl);
    $t->start;
    wait_for(sub { $t->worker_pids == 2 && $t->checker_pid }, 5);
    my @pids = ($t->worker_pids, $t->checker_pid);
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st) = $c->read_response;
    is($st, 200, 'keepalive request before quit');
    my ($rc, $out, $err) = $t->ctl('quit');
    is($rc, 0, 'sluicectl quit: exit 0') or diag($err);
    my $t0 = time;
    ok($t->wait_exit(15), sprintf('sluicectl quit: master exits (%.2fs)', time - $t0));
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @pids }, 5),
        'sluicectl quit: children gone');
    ok($c->wait_closed(1), 'sluicectl quit: idle keepalive connection closed');
    $c->close;
    $t->stop;
}

done_testing;
