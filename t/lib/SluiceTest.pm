package SluiceTest;

# SluiceTest: helpers for sluice's integration tests, in the spirit of
# nginx-tests' Test::Nginx.
#
#   my $t = SluiceTest->new;              # temp dir, free loopback ports
#   $t->write_conf(<<'EOF');              # %%PORT_n%%, %%TESTDIR%%, %%MAIN%%
#   http { server { listen 127.0.0.1:%%PORT_0%%; return 200 "hi"; } }
#   EOF
#   $t->start;                            # sluice -f -c TESTDIR/sluice.conf
#   my ($st, $h, $body) = parse_response(http_get($t->port(0), '/'));
#   $t->stop;                             # TERM, wait, error log check
#   done_testing;
#
# Everything is written under the per-file temp dir; every socket read,
# every wait and every child process is bounded in time, so a hung server
# fails a test instead of hanging prove.  Only processes started here are
# signalled, always by PID.
#
# Environment: SLUICE_BIN, SLUICECTL_BIN (the binaries; the test is skipped
# without SLUICE_BIN), SLUICE_TEST_KEEP=1 keeps the temp dir and prints it.

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use IO::Socket::INET;
use IO::Select;
use File::Temp qw(tempdir);
use File::Spec;
use POSIX qw(WNOHANG);
use Errno ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(http http_ex http_get http_head parse_response
    parse_responses wait_for line_of);

$SIG{PIPE} = 'IGNORE';

my @instances;

sub new {
    my ($class, %o) = @_;

    my $bin = $ENV{SLUICE_BIN};
    my $ctl = $ENV{SLUICECTL_BIN};
    if (!defined $bin || $bin eq '') {
        Test::More::plan(skip_all => 'SLUICE_BIN not set');
    }
    if (!-x $bin) {
        Test::More::plan(skip_all => "SLUICE_BIN $bin is not executable");
    }
    if ($o{need_ctl} || !exists $o{need_ctl}) {
        if (!defined $ctl || $ctl eq '' || !-x $ctl) {
            Test::More::plan(skip_all => 'SLUICECTL_BIN not set or not '
                . 'executable');
        }
    }

    my $keep = $ENV{SLUICE_TEST_KEEP};
    my $dir = tempdir('sluice-test-XXXXXXXX', TMPDIR => 1,
        CLEANUP => $keep ? 0 : 1);
    # The children drop privileges when the master runs as root; they
    # must be able to reach the files in here.
    chmod 0755, $dir if $> == 0;
    Test::More::diag("test dir $dir") if $keep;

    my $self = bless {
        dir       => $dir,
        bin       => File::Spec->rel2abs($bin),
        ctlbin    => defined $ctl && $ctl ne ''
                         ? File::Spec->rel2abs($ctl) : undef,
        ports     => [],
        allow     => [],
        helpers   => {},
        master    => undef,
        status    => undef,
        log_offs  => {},
        creator   => $$,
        conf      => "$dir/sluice.conf",
        nruns     => 0,
    }, $class;

    $self->_reserve_ports(10);
    push @instances, $self;
    return $self;
}

# ---- ports ------------------------------------------------------------

# Picks n distinct free loopback ports below the ephemeral range (so that
# our own client connections never take them as source ports), holding
# them all bound until every one is chosen.
sub _reserve_ports {
    my ($self, $n) = @_;
    my ($elo, $ehi) = (32768, 60999);
    if (open my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my $l = <$f>;
        ($elo, $ehi) = split ' ', $l if defined $l;
        close $f;
    }
    my ($lo, $hi) = (10000, 32000);
    if ($elo <= $hi && $ehi >= $lo) {
        # Ephemeral range overlaps ours; fall back to asking the kernel.
        ($lo, $hi) = (0, 0);
    }

    my (@socks, %seen);
    my $tries = 0;
    while (@socks < $n && $tries++ < 1000) {
        my $want = $hi ? $lo + int(rand($hi - $lo)) : 0;
        next if $want && $seen{$want};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $want, Proto => 'tcp', Listen => 1,
            ReuseAddr => 0) or next;
        my $p = $s->sockport;
        next if $seen{$p}++;
        push @socks, $s;
        push @{ $self->{ports} }, $p;
    }
    die "cannot reserve $n free loopback ports\n" if @socks < $n;
    close $_ for @socks;
}

sub port {
    my ($self, $i) = @_;
    die "no port $i reserved\n" unless defined $self->{ports}[$i];
    return $self->{ports}[$i];
}

sub testdir { $_[0]{dir} }
sub conf_path { $_[0]{conf} }
sub bin { $_[0]{bin} }
sub ctlbin { $_[0]{ctlbin} }

# ---- files and configuration -------------------------------------------

# The main-context lines every test config needs: everything the daemon
# writes goes to the test dir.
sub main_conf {
    my ($self) = @_;
    my $d = $self->{dir};
    return "pid $d/sluice.pid;\n"
        . "error_log $d/error.log info;\n"
        . "control_socket $d/ctl.sock;\n"
        . "state_dir $d/state;\n";
}

sub subst {
    my ($self, $text) = @_;
    $text =~ s/%%MAIN%%\n?/$self->main_conf/ge;
    $text =~ s/%%PORT_(\d+)%%/$self->port($1)/ge;
    $text =~ s/%%TESTDIR%%/$self->{dir}/g;
    return $text;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $f, '>', $path or die "cannot write $path: $!\n";
    binmode $f;
    print $f $content;
    close $f or die "cannot write $path: $!\n";
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    return _slurp($path);
}

# Writes the configuration (placeholders substituted).  Unless the template
# says where with %%MAIN%% or opts raw => 1, the main-context lines it does
# not set itself are prepended.  Options: name (default sluice.conf; a
# config named otherwise does not become the one start() uses unless
# main => 1), raw.  Returns the path; the final text is in conf_text().
sub write_conf {
    my ($self, $tpl, %o) = @_;
    my $name = $o{name} // 'sluice.conf';
    my $text;
    if ($o{raw} || $tpl =~ /%%MAIN%%/) {
        $text = $self->subst($tpl);
    } else {
        my $pre = '';
        my $d = $self->{dir};
        $pre .= "pid $d/sluice.pid;\n" unless $tpl =~ /^\s*pid\s/m;
        $pre .= "error_log $d/error.log info;\n"
            unless $tpl =~ /^\s*error_log\s/m;
        $pre .= "control_socket $d/ctl.sock;\n"
            unless $tpl =~ /^\s*control_socket\s/m;
        $pre .= "state_dir $d/state;\n" unless $tpl =~ /^\s*state_dir\s/m;
        $text = $self->subst($pre . $tpl);
    }
    my $path = $self->write_file($name, $text);
    $self->{texts}{$path} = $text;
    if ($name eq 'sluice.conf' || $o{main}) {
        $self->{conf} = $path;
        $self->{conf_text} = $text;
    }
    return $path;
}

sub conf_text {
    my ($self, $path) = @_;
    return $self->{conf_text} unless defined $path;
    return $self->{texts}{$path} // _slurp($path);
}

# 1-based number of the first line of text containing marker.
sub line_of {
    my ($text, $marker) = @_;
    my $n = 0;
    for my $l (split /\n/, $text, -1) {
        $n++;
        return $n if index($l, $marker) >= 0;
    }
    die "marker '$marker' not found\n";
}

# Values the daemon was configured with, read back from the config text.
sub _conf_value {
    my ($self, $name, $text) = @_;
    $text //= $self->{conf_text} // _slurp($self->{conf}) // '';
    return $1
        if $text =~ /(?:^|[{;])\s*\Q$name\E\s+("[^"]*"|'[^']*'|[^\s;]+)/m;
    return undef;
}

sub _unquote { my $v = shift; $v =~ s/^(["'])(.*)\1$/$2/ if defined $v; $v }

# Relative paths in the config are resolved against its directory.
sub _abs {
    my ($self, $v) = @_;
    return $v if !defined $v || $v =~ m{^/} || $v eq 'off' || $v eq 'stderr';
    my $dir = $self->{conf} =~ m{^(.*)/} ? $1 : '.';
    return "$dir/$v";
}

sub error_log_path {
    my ($self) = @_;
    my $v = $self->_abs(_unquote($self->_conf_value('error_log')));
    return "$self->{dir}/error.log" unless defined $v;
    # start() sends the daemon's stderr to stderr.log
    return "$self->{dir}/stderr.log" if $v eq 'stderr';
    return $v;
}

sub ctl_socket {
    my ($self) = @_;
    my $v = $self->_abs(_unquote($self->_conf_value('control_socket')));
    return "$self->{dir}/ctl.sock" unless defined $v;
    return undef if $v eq 'off';
    return $v;
}

sub pid_file {
    my ($self) = @_;
    my $v = $self->_abs(_unquote($self->_conf_value('pid')));
    return "$self->{dir}/sluice.pid" unless defined $v;
    return undef if $v eq 'off';
    return $v;
}

sub listen_ports {
    my ($self, $text) = @_;
    $text //= $self->{conf_text} // _slurp($self->{conf}) // '';
    my %p;
    while ($text =~ /(?:^|[{;])\s*listen\s+(?:\S*:)?(\d+)[\s;]/mg) {
        $p{$1} = 1;
    }
    return sort { $a <=> $b } keys %p;
}

# ---- running commands ----------------------------------------------------

# Runs argv with stdout and stderr captured in files, bounded by timeout
# (default 10 s; then the command is killed and -1 returned).  Options:
# timeout, env => {NAME => VALUE}, stdin (string), cwd.  Returns (exit code,
# stdout, stderr); a command killed by signal N returns 128 + N.
sub run_cmd {
    my ($self, $argv, %o) = @_;
    my $timeout = $o{timeout} // 10;
    my $n = ++$self->{nruns};
    my ($out, $err, $in) = map { "$self->{dir}/run$n.$_" } qw(out err in);
    $self->write_file($in, $o{stdin} // '');

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', $in or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        if ($o{env}) {
            for my $k (keys %{ $o{env} }) {
                if (defined $o{env}{$k}) { $ENV{$k} = $o{env}{$k} }
                else { delete $ENV{$k} }
            }
        }
        if (defined $o{cwd}) { chdir $o{cwd} or POSIX::_exit(126); }
        $SIG{PIPE} = 'DEFAULT';
        { exec { $argv->[0] } @$argv; }
        print STDERR "exec $argv->[0]: $!\n";
        POSIX::_exit(127);
    }

    my $rc;
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
            last;
        }
        if ($r == -1) { $rc = -1; last; }
        if (time > $deadline) {
            Test::More::diag("command timed out after ${timeout}s: @$argv");
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.02;
    }
    return ($rc, _slurp($out) // '', _slurp($err) // '');
}

# sluice -t -c CONF [args]
sub run_t {
    my ($self, @args) = @_;
    my %o;
    %o = %{ pop @args } if @args && ref $args[-1] eq 'HASH';
    my $conf = $o{conf} // $self->{conf};
    return $self->run_cmd([$self->{bin}, '-t', '-c', $conf, @args], %o);
}

# sluice ARGS (anything), bounded.
sub run_sluice {
    my ($self, @args) = @_;
    my %o;
    %o = %{ pop @args } if @args && ref $args[-1] eq 'HASH';
    return $self->run_cmd([$self->{bin}, @args], %o);
}

# sluicectl -s TESTDIR/ctl.sock ARGS.  A trailing hashref gives options for
# run_cmd plus socket => PATH | undef (no -s) and prefix => [argv] (e.g.
# setpriv ...).  Returns (exit code, stdout, stderr).
sub ctl {
    my ($self, @args) = @_;
    my %o;
    %o = %{ pop @args } if @args && ref $args[-1] eq 'HASH';
    die "SLUICECTL_BIN not set\n" unless $self->{ctlbin};
    my @argv = ($self->{ctlbin});
    my $sock = exists $o{socket} ? delete $o{socket} : $self->ctl_socket;
    push @argv, '-s', $sock if defined $sock;
    push @argv, @args;
    unshift @argv, @{ delete $o{prefix} } if $o{prefix};
    return $self->run_cmd(\@argv, %o);
}

# ---- the daemon ------------------------------------------------------------

# Starts `sluice -f -c CONF` with stdout and stderr appended to
# TESTDIR/stderr.log and waits (bounded, default 10 s) until every listen
# port accepts, the control socket exists and a worker runs.  Dies with the
# logs when sluice exits or does not come up.  Options: conf, timeout,
# nowait (return right after the fork), cwd (directory to start in),
# conf_arg (what to pass to -c instead of the config's absolute path).
sub start {
    my ($self, %o) = @_;
    die "sluice already running (pid $self->{master})\n"
        if $self->{master} && $self->_alive;
    my $conf = $o{conf} // $self->{conf};
    my $log = "$self->{dir}/stderr.log";
    my $timeout = $o{timeout} // 10;

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        if (defined $o{cwd}) { chdir $o{cwd} or POSIX::_exit(126); }
        # An ignored SIGPIPE would be inherited through exec and hide a
        # daemon that forgets to ignore it.
        $SIG{PIPE} = 'DEFAULT';
        my $arg = $o{conf_arg} // $conf;
        { exec { $self->{bin} } $self->{bin}, '-f', '-c', $arg; }
        print STDERR "exec $self->{bin}: $!\n";
        POSIX::_exit(127);
    }
    $self->{master} = $pid;
    $self->{status} = undef;
    $self->{started_conf} = $conf;
    return $self if $o{nowait};

    my $text = $self->conf_text($conf) // '';
    my @ports = $self->listen_ports($text);
    my $sock = $self->ctl_socket;

    my $up = wait_for(sub {
        return 'exited' unless $self->_alive;
        for my $p (@ports) {
            return 0 unless _port_open($p);
        }
        return 0 if defined $sock && !-S $sock;
        return 1;
    }, $timeout);

    if (!$up || $up eq 'exited') {
        my $why = !$up ? "did not come up within ${timeout}s"
            : 'exited with status ' . $self->{status};
        $self->_kill_master if $self->_alive;
        die "sluice $why\n" . $self->_diag_logs;
    }
    # Children are forked after the sockets exist; give them a moment.
    wait_for(sub { scalar $self->worker_pids }, 5);
    return $self;
}

sub _diag_logs {
    my ($self) = @_;
    my $s = "--- stderr.log:\n" . (_slurp("$self->{dir}/stderr.log") // '');
    my $e = _slurp($self->error_log_path) // '';
    $e = substr($e, -4000) if length $e > 4000;
    return $s . "--- error log (tail):\n" . $e;
}

sub pid { $_[0]{master} }

sub pid_from_file {
    my ($self) = @_;
    my $f = $self->pid_file or return undef;
    my $v = _slurp($f);
    return undef unless defined $v && $v =~ /^(\d+)\s*$/;
    return $1;
}

# True while the master we forked has not exited (reaps it when it has,
# keeping its wait status in exit_status()).
sub _alive {
    my ($self) = @_;
    my $pid = $self->{master} or return 0;
    return 0 if defined $self->{status};
    my $r = waitpid($pid, WNOHANG);
    return 1 if $r == 0;
    if ($r == $pid) {
        $self->{status} = $?;
    } else {
        $self->{status} = -1;
    }
    return 0;
}

sub running { $_[0]->_alive }

# Exit code of the master once it has exited: 0.., or 128+N when killed by
# signal N; undef while it runs.
sub exit_status {
    my ($self) = @_;
    return undef if $self->_alive;
    my $st = $self->{status};
    return undef unless defined $st;
    return $st if $st < 0;
    return $st & 127 ? 128 + ($st & 127) : $st >> 8;
}

# Waits (bounded) for the master to exit; true when it has.
sub wait_exit {
    my ($self, $timeout) = @_;
    return wait_for(sub { !$self->_alive }, $timeout // 10);
}

sub signal {
    my ($self, $sig) = @_;
    return 0 unless $self->{master} && $self->_alive;
    return kill $sig, $self->{master};
}

# Stops the master: SIGTERM (or opts signal), waits up to opts timeout
# (10 s), then SIGKILL.  Then checks the error log.  Returns the exit code.
sub stop {
    my ($self, %o) = @_;
    my $sig = $o{signal} // 'TERM';
    if ($self->{master} && $self->_alive) {
        kill $sig, $self->{master};
        if (!$self->wait_exit($o{timeout} // 10)) {
            Test::More::diag("sluice master $self->{master} did not exit "
                . "after SIG$sig; sending SIGKILL");
            $self->_kill_master;
            $self->{stop_timed_out} = 1;
        }
    }
    $self->check_log unless $o{no_log_check};
    return $self->exit_status;
}

sub stop_timed_out { $_[0]{stop_timed_out} }

sub _kill_master {
    my ($self) = @_;
    my $pid = $self->{master} or return;
    return unless $self->_alive;
    kill 'KILL', $pid;
    wait_for(sub { !$self->_alive }, 5);
}

# ---- error log -------------------------------------------------------------

# Lines matching one of these are not reported by check_log.
sub allow_log {
    my ($self, @re) = @_;
    push @{ $self->{allow} }, @re;
    return $self;
}

sub error_log { _slurp($_[0]->error_log_path) // '' }

# One test: no [alert] or [emerg] line (not allowed by allow_log) was
# written since the previous check.
sub check_log {
    my ($self, $name) = @_;
    my $path = $self->error_log_path;
    my $text = _slurp($path) // '';
    my $off = $self->{log_offs}{$path} // 0;
    my $new = length($text) >= $off ? substr($text, $off) : $text;
    $self->{log_offs}{$path} = length $text;
    my @bad;
    LINE: for my $l (split /\n/, $new) {
        next unless $l =~ /\[(?:alert|emerg)\]/;
        for my $re (@{ $self->{allow} }) {
            next LINE if $l =~ $re;
        }
        push @bad, $l;
    }
    # Sanitizer reports land in stderr.log.
    my $se = _slurp("$self->{dir}/stderr.log") // '';
    my $seoff = $self->{stderr_off} // 0;
    my $senew = length($se) >= $seoff ? substr($se, $seoff) : $se;
    $self->{stderr_off} = length $se;
    push @bad, grep { /ERROR: (?:Address|Leak|Undefined)Sanitizer|runtime error:/ }
        split /\n/, $senew;

    my $ok = Test::More::ok(!@bad,
        $name // 'no alert or emerg lines in the error log');
    Test::More::diag(join "\n", @bad[0 .. ($#bad > 19 ? 19 : $#bad)])
        if @bad;
    return $ok;
}

# ---- processes -------------------------------------------------------------

# Live (non-zombie) children of ppid (default: the master) as
# { pid, title } with the title from /proc/PID/cmdline.
sub children {
    my ($self, $ppid) = @_;
    $ppid //= $self->{master};
    return () unless $ppid;
    my @r;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        my $stat = _slurp("/proc/$pid/stat") // next;
        $stat =~ /\)\s+(\S)\s+(\d+)\s/ or next;
        next if $2 != $ppid || $1 eq 'Z' || $1 eq 'X';
        my $t = proc_title($pid) // next;
        push @r, { pid => $pid, title => $t };
    }
    closedir $d;
    return sort { $a->{pid} <=> $b->{pid} } @r;
}

# The process title: /proc/PID/cmdline with NULs as spaces, trailing
# padding removed; undef when the process is gone.
sub proc_title {
    my ($pid) = @_;
    my $c = _slurp("/proc/$pid/cmdline");
    return undef unless defined $c;
    $c =~ s/\0+$//;
    $c =~ s/\0/ /g;
    $c =~ s/\s+$//;
    return $c;
}

# True while pid exists and is not a zombie.
sub proc_alive {
    my ($pid) = @_;
    my $stat = _slurp("/proc/$pid/stat");
    return 0 unless defined $stat;
    return 0 if $stat =~ /\)\s+[ZX]\s/;
    return 1;
}

# Current-generation workers (not "is shutting down").
sub worker_pids {
    my ($self) = @_;
    return map { $_->{pid} } grep {
        $_->{title} =~ /^sluice: worker process(?!\s+is shutting down)/
    } $self->children;
}

# All workers, draining ones included.
sub all_worker_pids {
    my ($self) = @_;
    return map { $_->{pid} }
        grep { $_->{title} =~ /^sluice: worker process/ } $self->children;
}

sub checker_pid {
    my ($self) = @_;
    my @c = map { $_->{pid} }
        grep { $_->{title} =~ /^sluice: checker process/ } $self->children;
    return wantarray ? @c : $c[0];
}

# ---- helper processes --------------------------------------------------------

# Forks a helper that runs code and exits (0 unless code dies).  The helper
# is killed at the end of the test if still there.  Returns its pid.
sub spawn {
    my ($self, $code) = @_;
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        @instances = ();
        $self->{helper_child} = 1;
        my $rc = eval { $code->(); 1 } ? 0 : 1;
        print STDERR "helper: $@" if $rc;
        POSIX::_exit($rc);
    }
    $self->{helpers}{$pid} = 1;
    return $pid;
}

# Waits (bounded) for the given helpers (default all); returns a hash
# pid => exit code (-1 when it had to be killed).
sub wait_helpers {
    my ($self, $timeout, @pids) = @_;
    @pids = keys %{ $self->{helpers} } unless @pids;
    my %rc;
    my $deadline = time + ($timeout // 30);
    for my $pid (@pids) {
        while (1) {
            my $r = waitpid($pid, WNOHANG);
            if ($r == $pid) { $rc{$pid} = $? >> 8; last; }
            if ($r == -1) { $rc{$pid} = -1; last; }
            if (time > $deadline) {
                kill 'KILL', $pid;
                waitpid($pid, 0);
                $rc{$pid} = -1;
                last;
            }
            sleep 0.05;
        }
        delete $self->{helpers}{$pid};
    }
    return %rc;
}

sub _cleanup {
    my ($self) = @_;
    return unless $$ == $self->{creator};
    local ($?, $!, $@);
    for my $pid (keys %{ $self->{helpers} }) {
        kill 'TERM', $pid;
    }
    my $deadline = time + 2;
    for my $pid (keys %{ $self->{helpers} }) {
        while (waitpid($pid, WNOHANG) == 0 && time < $deadline) {
            sleep 0.05;
        }
        if (waitpid($pid, WNOHANG) == 0) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        delete $self->{helpers}{$pid};
    }
    if ($self->{master} && $self->_alive) {
        kill 'TERM', $self->{master};
        if (!wait_for(sub { !$self->_alive }, 10)) {
            $self->_kill_master;
        }
    }
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->_cleanup if defined $self->{creator};
}

END {
    local ($?, $!, $@);
    for my $t (@instances) {
        $t->_cleanup;
    }
}

# ---- utilities ---------------------------------------------------------------

# Calls code every interval (0.05 s) until it returns true or timeout
# (seconds) passes; returns code's last value.
sub wait_for {
    my ($code, $timeout, $interval) = @_;
    $timeout //= 10;
    $interval //= 0.05;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $code->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $interval;
    }
}

sub _slurp {
    my ($path) = @_;
    open my $f, '<', $path or return undef;
    binmode $f;
    local $/;
    my $c = <$f>;
    close $f;
    return $c // '';
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# ---- HTTP --------------------------------------------------------------------

sub _connect {
    my ($port, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => $timeout // 5)
        or return undef;
    $s->blocking(0);
    binmode $s;
    return $s;
}

# Writes all of data before deadline; false on error or timeout.
sub _send_all {
    my ($s, $data, $deadline) = @_;
    my $off = 0;
    my $sel = IO::Select->new($s);
    while ($off < length $data) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my $n = syswrite($s, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            if ($!{EAGAIN} || $!{EWOULDBLOCK}) {
                $sel->can_write($left > 0.2 ? 0.2 : $left);
                next;
            }
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Reads what is there within wait seconds: returns (data, eof, error).
sub _read_some {
    my ($s, $wait) = @_;
    my $sel = IO::Select->new($s);
    return ('', 0, undef) unless $sel->can_read($wait > 0 ? $wait : 0);
    my $buf = '';
    my $n = sysread($s, $buf, 65536);
    if (!defined $n) {
        return ('', 0, undef) if $!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK};
        return ('', 1, "$!");
    }
    return ('', 1, undef) if $n == 0;
    return ($buf, 0, undef);
}

# Sends a raw request and reads until the server closes or timeout.
# request: a string, or an array of strings sent with opts delay seconds
# (default 0.1) between them.  Options: port (required), timeout (5 s,
# for the whole exchange).  Returns a hash: raw (what was read), closed
# (EOF or reset seen), reset (connection reset), timeout (gave up),
# elapsed, send_error, error.
sub http_ex {
    my ($req, %o) = @_;
    my $port = $o{port} or die "http: port required\n";
    my $timeout = $o{timeout} // 5;
    my $start = time;
    my $deadline = $start + $timeout;
    my %r = (raw => '', closed => 0, reset => 0, timeout => 0);

    my $s = _connect($port, $timeout);
    if (!$s) {
        $r{error} = "connect to 127.0.0.1:$port: $!";
        $r{elapsed} = time - $start;
        return \%r;
    }

    my @parts = ref $req eq 'ARRAY' ? @$req : ($req);
    my $i = 0;
    for my $p (@parts) {
        my $delay = $o{delay} // 0.1;
        if ($i++ && $delay > 0) {
            # Read while waiting so an early reply and close are seen.
            my $until = time + $delay;
            while (!$r{closed} && time < $until) {
                my ($d, $eof, $err) = _read_some($s, $until - time);
                $r{raw} .= $d;
                if ($eof) { $r{closed} = 1; $r{reset} = 1 if $err; }
            }
        }
        last if $r{closed};
        if (!_send_all($s, $p, $deadline)) {
            $r{send_error} = "$!";
            last;
        }
    }

    while (!$r{closed}) {
        my $left = $deadline - time;
        if ($left <= 0) { $r{timeout} = 1; last; }
        my ($d, $eof, $err) = _read_some($s, $left);
        $r{raw} .= $d;
        if ($eof) {
            $r{closed} = 1;
            if ($err) { $r{reset} = 1; $r{error} = $err; }
        }
    }
    close $s;
    $r{elapsed} = time - $start;
    return \%r;
}

# Sends raw bytes, reads until close or timeout; returns what was read.
sub http {
    my ($req, %o) = @_;
    return http_ex($req, %o)->{raw};
}

sub _build_req {
    my ($method, $path, %h) = @_;
    my $proto = delete $h{_proto} // 'HTTP/1.1';
    my $body = delete $h{_body};
    my $host = exists $h{Host} ? delete $h{Host} : 'localhost';
    my $req = "$method $path $proto\r\n";
    $req .= "Host: $host\r\n" if defined $host;
    $req .= "Connection: close\r\n"
        unless grep { lc $_ eq 'connection' } keys %h;
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    $req .= $body if defined $body;
    return $req;
}

# GET path with Host: localhost and Connection: close (unless given in
# headers; Host => undef sends none).  Header _timeout sets the timeout.
# Returns the raw response.
sub http_get {
    my ($port, $path, %h) = @_;
    my $timeout = delete $h{_timeout} // 5;
    return http(_build_req('GET', $path, %h), port => $port,
        timeout => $timeout);
}

sub http_head {
    my ($port, $path, %h) = @_;
    my $timeout = delete $h{_timeout} // 5;
    return http(_build_req('HEAD', $path, %h), port => $port,
        timeout => $timeout);
}

# Parses one response at the start of buf.  Returns () when the head is
# not complete; else (status, headers, body, consumed, complete), where
# complete is false when the body is not all there (yet).  eof: no more
# bytes will come (a close-delimited body is complete then).  head: the
# request was HEAD (no body).
sub _parse_one {
    my ($buf, $head, $eof) = @_;
    my $i = index($buf, "\r\n\r\n");
    return () if $i < 0;
    my @lines = split /\r\n/, substr($buf, 0, $i);
    my $sl = shift @lines // '';
    my %h;
    my $status;
    if ($sl =~ m{^(HTTP/\d\.\d) (\d{3})(?: (.*))?$}) {
        $status = $2;
        $h{':version'} = $1;
        $h{':reason'} = $3 // '';
    } else {
        $status = 'invalid';
    }
    $h{':status-line'} = $sl;
    for my $l (@lines) {
        next unless $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/;
        my $n = lc $1;
        $h{$n} = exists $h{$n} ? "$h{$n}, $2" : $2;
    }
    my $pos = $i + 4;
    my $len = length $buf;

    if ($head || $status eq 'invalid' || $status =~ /^1|^204$|^304$/) {
        return ($status, \%h, '', $pos, 1);
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $body = '';
        my $p = $pos;
        while (1) {
            my $e = index($buf, "\r\n", $p);
            return ($status, \%h, $body, $len, 0) if $e < 0;
            my $line = substr($buf, $p, $e - $p);
            my ($hex) = $line =~ /^([0-9a-fA-F]+)/;
            return ($status, \%h, $body, $len, 0) unless defined $hex;
            my $size = hex $hex;
            $p = $e + 2;
            if ($size == 0) {
                # trailers up to an empty line
                while (1) {
                    my $te = index($buf, "\r\n", $p);
                    return ($status, \%h, $body, $len, 0) if $te < 0;
                    my $empty = $te == $p;
                    $p = $te + 2;
                    return ($status, \%h, $body, $p, 1) if $empty;
                }
            }
            return ($status, \%h, $body, $len, 0) if $p + $size + 2 > $len;
            $body .= substr($buf, $p, $size);
            $p += $size + 2;
        }
    }
    if (defined $h{'content-length'} && $h{'content-length'} =~ /^(\d+)/) {
        my $cl = $1;
        if ($len - $pos >= $cl) {
            return ($status, \%h, substr($buf, $pos, $cl), $pos + $cl, 1);
        }
        return ($status, \%h, substr($buf, $pos), $len, 0);
    }
    # close-delimited
    return ($status, \%h, substr($buf, $pos), $len, $eof ? 1 : 0);
}

# (status, \%headers (names lowercased; ':version', ':reason',
# ':status-line' too), body) of the first response in raw; () when there
# is no complete head.  Options: head => 1 (the request was HEAD).
sub parse_response {
    my ($raw, %o) = @_;
    return () unless defined $raw;
    my @r = _parse_one($raw, $o{head}, 1);
    return () unless @r;
    return @r[0 .. 2];
}

# All complete responses in raw, in order, as [status, \%headers, body].
sub parse_responses {
    my ($raw, %o) = @_;
    my @out;
    while (defined $raw && length $raw) {
        my @r = _parse_one($raw, $o{head}, 1);
        last unless @r && $r[4];
        push @out, [@r[0 .. 2]];
        $raw = substr($raw, $r[3]);
    }
    return @out;
}

# ---- keepalive client --------------------------------------------------------

package SluiceTest::Client;

# One connection; requests are sent with send()/get()/request() and the
# responses read one by one with read_response().  Every read is bounded.

use strict;
use warnings;
use IO::Select;
use Time::HiRes qw(time sleep);

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        port    => $o{port},
        timeout => $o{timeout} // 5,
        buf     => '',
        eof     => 0,
        error   => undef,
    }, $class;
    $self->{sock} = SluiceTest::_connect($o{port}, $self->{timeout})
        or return undef;
    return $self;
}

sub sock { $_[0]{sock} }

# Sends raw bytes; false on error.
sub send {
    my ($self, $data) = @_;
    return 0 unless $self->{sock};
    my $ok = SluiceTest::_send_all($self->{sock}, $data,
        time + $self->{timeout});
    $self->{error} = "send: $!" unless $ok;
    return $ok;
}

# Sends a request; headers as for http_get but without Connection: close
# unless given.  Returns true when sent.
sub request {
    my ($self, $method, $path, %h) = @_;
    my $host = exists $h{Host} ? delete $h{Host} : 'localhost';
    my $body = delete $h{_body};
    my $proto = delete $h{_proto} // 'HTTP/1.1';
    my $req = "$method $path $proto\r\n";
    $req .= "Host: $host\r\n" if defined $host;
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    $req .= $body if defined $body;
    return $self->send($req);
}

sub get { my $self = shift; return $self->request('GET', @_) }

# Reads the next response.  Options: head => 1, timeout.  Returns
# (status, \%headers, body), or () on timeout or when the connection
# closed first (eof() tells which).
sub read_response {
    my ($self, %o) = @_;
    my $deadline = time + ($o{timeout} // $self->{timeout});
    while (1) {
        my @r = SluiceTest::_parse_one($self->{buf}, $o{head}, $self->{eof});
        if (@r && $r[4]) {
            $self->{buf} = substr($self->{buf}, $r[3]);
            return @r[0 .. 2];
        }
        return () if $self->{eof} || !$self->{sock};
        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{error} = 'timeout';
            return ();
        }
        my ($d, $eof, $err) = SluiceTest::_read_some($self->{sock}, $left);
        $self->{buf} .= $d;
        if ($eof) {
            $self->{eof} = 1;
            $self->{error} = $err if $err;
        }
    }
}

# Waits up to timeout seconds for the server to close the connection.
# Returns 1 when it closed (bytes received before the close stay in
# pending()), 0 when still open after timeout.
sub wait_closed {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    while (!$self->{eof}) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my ($d, $eof, $err) = SluiceTest::_read_some($self->{sock}, $left);
        $self->{buf} .= $d;
        if ($eof) {
            $self->{eof} = 1;
            $self->{error} = $err if $err;
        }
    }
    return 1;
}

sub eof { $_[0]{eof} }
sub error { $_[0]{error} }
sub pending { $_[0]{buf} }

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

sub DESTROY { $_[0]->close }

1;
