#!/usr/bin/perl

# Reload: SIGHUP and `sluicectl reload` apply a changed config; a bad
# config keeps the old one; generations and worker pids change; a reload
# under load loses no request.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();
use SluiceTest;

my $t = SluiceTest->new;

sub conf {
    my ($text, $extra) = @_;
    $extra //= '';
    $t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 2;
worker_shutdown_timeout 5s;
events {
    worker_connections 512;
}
http {
    access_log off;
    keepalive_timeout 10s;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$text"; }
        $extra
    }
}
EOF
}

my $p0 = $t->port(0);

sub body {
    my ($st, undef, $b) = parse_response(http_get($p0, '/'));
    return defined $st ? "$st $b" : 'none';
}

# The machine-readable status (the text form is tested in o02_ctl.t).
sub status {
    my ($rc, $out) = $t->ctl('-j', 'status');
    my $j = eval { JSON::PP::decode_json($out) } || {};
    return { generation => $j->{generation}, reloads => $j->{reloads},
        failed => $j->{reload_failures}, workers => $j->{workers} // [] };
}

conf('v1');
$t->start;

is(body(), '200 v1', 'v1 served');
is(status()->{generation}, 1, 'generation 1');

# ---- SIGHUP ------------------------------------------------------------------------

{
    my @old = $t->worker_pids;
    my $oldchk = $t->checker_pid;
    conf('v2');
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 v2' }, 10), 'HUP: new config applied');
    ok(wait_for(sub { $t->error_log =~ /reload complete, generation 2/ }, 5),
        'HUP: "reload complete, generation 2" logged');
    like($t->error_log, qr/\[notice\] .*reconfiguring/, 'HUP: "reconfiguring" logged');
    is(status()->{generation}, 2, 'HUP: generation 2');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @old, $oldchk }, 10),
        'HUP: old workers and checker gone');
    my @new = $t->worker_pids;
    is(scalar @new, 2, 'HUP: two new workers');
    my %old = map { $_ => 1 } @old;
    ok(!grep({ $old{$_} } @new), 'HUP: new worker pids');
    ok($t->checker_pid && $t->checker_pid != $oldchk, 'HUP: new checker');
}

# ---- sluicectl reload --------------------------------------------------------------

{
    my @old = $t->worker_pids;
    conf('v3');
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'sluicectl reload: exit 0') or diag($err);
    is($out, "reloaded, generation 3\n", 'sluicectl reload: output');
    ok(wait_for(sub { body() eq '200 v3' }, 10), 'sluicectl reload: new config applied');
    my $s = status();
    is($s->{generation}, 3, 'sluicectl reload: generation 3');
    is($s->{failed}, 0, 'no failed reloads yet');
    ok(wait_for(sub { !grep { SluiceTest::proc_alive($_) } @old }, 10),
        'sluicectl reload: old workers gone');
    is(scalar(() = $t->all_worker_pids), 2, 'sluicectl reload: two workers');
    my %gen = map { $_->{pid} => $_->{generation} } @{ status()->{workers} };
    for my $w ($t->worker_pids) {
        is($gen{$w}, 3, "status lists new worker $w with generation 3");
    }
}

# ---- a bad config keeps the old one ----------------------------------------------------

{
    my @old = $t->worker_pids;
    my $path = $t->conf_path;
    conf('v4', 'bogus_directive on;');
    my $line = line_of($t->conf_text, 'bogus_directive');
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 1, 'bad reload: sluicectl exits 1');
    like($err, qr/^sluicectl: \Q$path\E:$line: .*bogus_directive/m,
        'bad reload: "sluicectl: FILE:LINE: reason" on stderr');
    is(scalar(grep { length } split /\n/, $err), 1, 'bad reload: one line on stderr');
    is(body(), '200 v3', 'bad reload: old config still serves');
    like($t->error_log, qr/\[error\] .*reload failed: \Q$path\E:$line: /,
        'bad reload: "reload failed: FILE:LINE:" logged at error');
    my $s = status();
    is($s->{generation}, 3, 'bad reload: generation unchanged');
    is($s->{failed}, 1, 'bad reload: failed count 1');
    is_deeply([sort $t->worker_pids], [sort @old], 'bad reload: workers untouched');

    # the same through SIGHUP
    my $n = () = $t->error_log =~ /reload failed/g;
    $t->signal('HUP');
    ok(wait_for(sub { (() = $t->error_log =~ /reload failed/g) > $n }, 10),
        'bad reload by HUP: logged');
    is(body(), '200 v3', 'bad reload by HUP: old config still serves');
    is(status()->{failed}, 2, 'bad reload by HUP: failed count 2');

    # a config that parses but cannot be applied (port in use)
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $t->port(5), Listen => 5, ReuseAddr => 1);
    conf('v4', '}
    server {
        listen 127.0.0.1:' . $t->port(5) . ';
        location / { return 200 "busy"; }');
    ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 1, 'reload with a busy port: sluicectl exits 1');
    like($err, qr/^sluicectl: .*\S/, 'reload with a busy port: reason') or diag($err);
    is(body(), '200 v3', 'reload with a busy port: old config still serves');
    close $busy if $busy;
}

$t->allow_log(qr/bind\(\).*in use|in use.*bind/i);

# ---- reload under load ------------------------------------------------------------------

conf('w0');
{
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'good config again') or diag($err);
    ok(wait_for(sub { body() eq '200 w0' }, 10), 'w0 served');
}

my $dir = $t->testdir;
my $stop = "$dir/stop-clients";

sub report {
    my ($file, $ok, $err, @errs) = @_;
    open my $f, '>', $file or die;
    print $f "$ok $err\n", map { "$_\n" } @errs[0 .. ($#errs > 9 ? 9 : $#errs)];
    close $f;
}

# keepalive client: reconnects when the server says Connection: close
my $ka = $t->spawn(sub {
    my ($ok, $err, @errs) = (0, 0);
    my $c;
    my $t0 = time;
    while (!-e $stop && time - $t0 < 30) {
        $c ||= SluiceTest::Client->new(port => $p0, timeout => 5);
        if (!$c) {
            $err++; push @errs, "connect: $!"; sleep 0.05; next;
        }
        if (!$c->get('/')) {
            $err++; push @errs, 'send: ' . ($c->error // ''); $c->close; $c = undef; next;
        }
        my ($st, $h) = $c->read_response;
        if (!defined $st || $st != 200) {
            $err++;
            push @errs, sprintf('%.3f %s', time - $t0, defined $st ? "status $st"
                : 'no response (' . ($c->eof ? 'closed' : $c->error // '?') . ')');
            $c->close; $c = undef; next;
        }
        $ok++;
        sleep 0.002;    # steady load without starving parallel tests
        if (($h->{connection} // '') =~ /close/i) {
            $c->wait_closed(2);
            $c->close;
            $c = undef;
        }
    }
    report("$dir/res-ka", $ok, $err, @errs);
});

# a new connection per request
my $nc = $t->spawn(sub {
    my ($ok, $err, @errs) = (0, 0);
    my $t0 = time;
    while (!-e $stop && time - $t0 < 30) {
        my $r = http_ex("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close"
            . "\r\n\r\n", port => $p0, timeout => 5);
        my ($st) = parse_response($r->{raw});
        if (defined $st && $st == 200) {
            $ok++;
            sleep 0.002;
        } else {
            $err++;
            push @errs, sprintf('%.3f %s', time - $t0, defined $st ? "status $st"
                : 'no response (' . ($r->{error} // ($r->{timeout} ? 'timeout' : 'closed')) . ')');
        }
    }
    report("$dir/res-nc", $ok, $err, @errs);
});

# Reloads by SIGHUP, each waited for through the generation number (so a
# problem of the control socket does not blur this test).
sleep 0.5;
my $reloads_ok = 0;
my $gen = status()->{generation} // 0;
for my $i (1 .. 5) {
    conf("w$i");
    $t->signal('HUP');
    my $want = $gen + $i;
    if (wait_for(sub { (status()->{generation} // 0) >= $want }, 10)) {
        $reloads_ok++;
    } else {
        diag("reload $i: generation did not reach $want");
    }
    sleep 0.4;
}
is($reloads_ok, 5, 'five reloads under load');

# then a burst: ten reloads 100 ms apart, generations overlapping
for my $i (1 .. 10) {
    conf("r$i");
    $t->signal('HUP');
    sleep 0.1;
}
ok(wait_for(sub { body() eq '200 r10' }, 15), 'burst of reloads under load: last one applied');
sleep 0.5;
$t->write_file($stop, '');
my %rc = $t->wait_helpers(15);
is($rc{$ka}, 0, 'keepalive client finished');
is($rc{$nc}, 0, 'new-connection client finished');

for my $c (['res-ka', 'keepalive client'], ['res-nc', 'new-connection client']) {
    my $res = $t->read_file($c->[0]) // '';
    my ($first, @errs) = split /\n/, $res;
    my ($ok, $err) = split ' ', $first // '0 -1';
    is($err, 0, "$c->[1]: no failed request during reloads ($ok ok)")
        or diag(join "\n", @errs);
    cmp_ok($ok, '>', 50, "$c->[1]: requests went through");
}

ok(wait_for(sub { body() eq '200 r10' }, 5), 'last config served');
ok(wait_for(sub { scalar(() = $t->all_worker_pids) == 2 }, 15),
    'old generations drained');
{
    my $st = status();
    cmp_ok($st->{generation} // 0, '>=', 10, "generation $st->{generation} after the burst");
    is($st->{generation}, ($st->{reloads} // 0) + 1,
        'generation is 1 + the number of good reloads');
}

# ---- an idle keepalive connection across a reload ------------------------------------

{
    conf('ka-old');
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 ka-old' }, 10), 'ka-old applied');
    # until the old workers have seen their QUIT they may still accept
    ok(wait_for(sub { $t->all_worker_pids == 2 }, 10),
        'previous generation gone');
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st, $h, $b) = $c->read_response;
    is(($st // 'none') . ' ' . ($b // ''), '200 ka-old', 'keepalive request before reload');
    conf('ka-new');
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 ka-new' }, 10), 'ka-new applied');
    # the old worker answers the next request on the connection, then closes
    $c->get('/');
    my ($st2, $h2, $b2) = $c->read_response;
    is($st2, 200, 'next request on a keepalive connection of the old generation answered');
    like($h2->{connection} // '', qr/close/i, '... with Connection: close');
    ok($c->wait_closed(3), '... and the connection closed');
    $c->close;
}

# ---- a crashed worker of a draining generation is not re-forked ----------------------

{
    $t->allow_log(qr/process \d+ exited on signal 9/);
    my $c = SluiceTest::Client->new(port => $p0);
    $c->get('/');
    my ($st) = $c->read_response;
    is($st, 200, 'idle keepalive connection holds a worker');
    conf('drain2');
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 drain2' }, 10), 'drain2 applied');
    my @draining;
    ok(wait_for(sub {
        @draining = grep { $_->{title} =~ /is shutting down/ } $t->children;
        scalar @draining;
    }, 3), 'a worker of the old generation is draining ("is shutting down")');
    if (@draining) {
        my %before = map { $_->{pid} => 1 } $t->children;
        kill 'KILL', $draining[0]{pid};
        sleep 1.5;
        my @new = grep { !$before{$_->{pid}} } $t->children;
        is(scalar @new, 0, 'killed draining worker not replaced (no new child)')
            or diag(join "\n", map { "$_->{pid} $_->{title}" } @new);
        is(scalar(() = $t->worker_pids), 2, 'the current two workers remain');
        # On a loaded machine the worker may finish draining on its own
        # between being seen and being killed: either end is logged.
        ok(wait_for(sub { $t->error_log =~ /process $draining[0]{pid} exited\b/ }, 5),
            'its death logged');
    }
    $c->close;
}

# ---- listeners and worker count change with a reload ----------------------------------

{
    my $p1 = $t->port(1);
    ok(!SluiceTest::_port_open($p1), 'second port closed before');
    $t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 3;
worker_shutdown_timeout 5s;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "x1"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 "added"; }
    }
}
EOF
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 x1' }, 10), 'reload adding a listener: applied');
    my ($st, undef, $b) = parse_response(http_get($p1, '/'));
    is(($st // 'none') . ' ' . ($b // ''), '200 added', 'added listener serves');
    ok(wait_for(sub { $t->worker_pids == 3 && $t->all_worker_pids == 3 }, 10),
        'worker_processes 2 -> 3 on reload');

    $t->write_conf(<<"EOF");
%%MAIN%%
worker_processes 1;
worker_shutdown_timeout 5s;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "x2"; }
    }
}
EOF
    $t->signal('HUP');
    ok(wait_for(sub { body() eq '200 x2' }, 10), 'reload removing a listener: applied');
    ok(wait_for(sub { !SluiceTest::_port_open($p1) }, 10),
        'removed listener closed');
    ok(wait_for(sub { $t->worker_pids == 1 && $t->all_worker_pids == 1 }, 10),
        'worker_processes 3 -> 1 on reload');
    # With SO_REUSEPORT the kernel spreads new connections over every
    # socket still open on the address: the sockets of the slots that went
    # away must be closed, or the connections queued on them hang.
    my ($ok, $hung) = (0, 0);
    for my $i (1 .. 20) {
        my ($st) = parse_response(http_get($t->port(0), "/after-shrink$i",
            _timeout => 2));
        if (defined $st && $st == 200) { $ok++ } else { $hung++ }
    }
    is($hung, 0, "after 3 -> 1 workers every new connection is served ($ok ok, $hung hung)");
}

$t->stop;

done_testing;
