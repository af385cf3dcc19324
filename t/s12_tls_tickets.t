#!/usr/bin/perl

# Session tickets sealed with keys in shared memory: with four workers a
# saved session (TLS 1.3 and TLS 1.2) resumes on every connection, on more
# than one worker; it still resumes after `sluicectl reload` (new workers);
# ssl_session_tickets off gives no resumption; the key rotates after
# ssl_session_timeout and a ticket sealed by the previous key still resumes
# (and is renewed under the new key).  $ssl_session_reused says "r".

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use SluiceTest;
use SluiceTest::Certs;

my $t = SluiceTest->new(need_ctl => 1);
my $d = $t->testdir;

self_signed($t, 'a', '/CN=a.test');

my $conf = <<'EOF';
%%MAIN%%
worker_processes 4;
http {
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        server_name a.test;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        %%TIMEOUT%%
        location / { return 200 "pid=$pid reused=$ssl_session_reused"; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_session_tickets off;
        location / { return 200 "pid=$pid reused=$ssl_session_reused"; }
    }
}
EOF
(my $c1 = $conf) =~ s/%%TIMEOUT%%//;
$t->write_conf($c1);
$t->start;

my $req = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";

# One connection: (output, pid that answered, reused flag).
sub conn {
    my ($port, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd(['openssl', 's_client',
        '-connect', "127.0.0.1:$port", '-servername', 'a.test', '-ign_eof',
        @args], stdin => $req, timeout => 10);
    my $o = $out . $err;
    my ($pid, $r) = $o =~ /pid=(\d+) reused=(\S)/;
    return ($o, $pid // 0, $r // '');
}

# The key name: the first 16 bytes of the ticket in a saved session.
sub key_name {
    my ($file) = @_;
    my ($rc, $out) = $t->run_cmd(['openssl', 'sess_id', '-in', $file,
                                  '-text', '-noout']);
    my ($hex) = $out =~ /TLS session ticket:\s*\n\s*0000 - ([0-9a-f -]+?)  /;
    return '' unless defined $hex;
    $hex =~ s/[ -]//g;
    return substr($hex, 0, 32);
}

my $p0 = $t->port(0);
my $p1 = $t->port(1);

for my $v ('-tls1_3', '-tls1_2') {
    my $sess = "$d/sess$v";
    my ($o, $pid, $r) = conn($p0, $v, '-sess_out', $sess);
    like($o, qr/^New, /m, "$v: first connection is a full handshake");
    is($r, '.', "$v: \$ssl_session_reused is . on a full handshake");
    ok(-s $sess && key_name($sess) ne '', "$v: a ticket was issued");
    my (%pids, $reused, @bad);
    $reused = 0;
    for (1 .. 12) {
        my ($o2, $p2, $r2) = conn($p0, $v, '-sess_in', $sess);
        if ($o2 =~ /^Reused, /m && $r2 eq "r") { $reused++ } else { push @bad, $o2 }
        $pids{$p2}++ if $p2;
    }
    is($reused, 12, "$v: 12 of 12 connections resumed the session")
        or diag(join "\n", @bad);
    cmp_ok(scalar(keys %pids), '>=', 2,
           "$v: resumed on several workers (" . join(',', sort keys %pids)
           . ')');

    my $off = "$d/off$v";
    unlink $off;
    ($o) = conn($p1, $v, '-sess_out', $off);
    like($o, qr/^New, /m, "$v tickets off: full handshake");
    if (-s $off) {
        ($o, $pid, $r) = conn($p1, $v, '-sess_in', $off);
        unlike($o, qr/^Reused, /m, "$v tickets off: no resumption");
        is($r, '.', "$v tickets off: \$ssl_session_reused .");
    } else {
        pass("$v tickets off: no session to resume (no ticket)");
        pass("$v tickets off: nothing resumed");
    }
}

# ---- reload ----------------------------------------------------------------

{
    my %old = map { $_ => 1 } $t->worker_pids;
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'sluicectl reload') or diag($out . $err);
    ok(wait_for(sub { !grep { $old{$_} } $t->worker_pids }, 15),
       'old workers gone');
    for my $v ('-tls1_3', '-tls1_2') {
        my ($o, $pid, $r) = conn($p0, $v, '-sess_in', "$d/sess$v");
        like($o, qr/^Reused, /m, "$v: resumed after reload");
        ok($pid && !$old{$pid}, "$v: by a new worker ($pid)");
    }
}

# ---- rotation --------------------------------------------------------------

# With a 6 s ssl_session_timeout the key rotates after 6 s; the shared
# zone is kept by the reload.
{
    (my $c2 = $conf) =~ s/%%TIMEOUT%%/ssl_session_timeout 6s;/;
    $t->write_conf($c2);
    my ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 0, 'reload with ssl_session_timeout 6s') or diag($out . $err);
    my $v = '-tls1_3';
    # Wait for a fresh session under the current key...
    conn($p0, $v, '-sess_out', "$d/k0");
    my $first = key_name("$d/k0");
    my ($prev, $new, $n) = ("$d/k0", '', 0);
    # ...then take sessions until the key name changes (bounded: 20 s).
    for my $i (1 .. 40) {
        sleep 0.5;
        my $f = "$d/k$i";
        conn($p0, $v, '-sess_out', $f);
        my $k = key_name($f);
        if ($k ne '' && $k ne $first) {
            $new = $k;
            last;
        }
        $prev = $f;
    }
    isnt($new, '', 'the ticket key rotated after ssl_session_timeout');
    my ($o, $pid, $r) = conn($p0, $v, '-sess_in', $prev, '-sess_out',
                             "$d/renewed");
    like($o, qr/^Reused, /m,
         'a ticket of the previous key still resumes');
    is(key_name("$d/renewed"), $new, 'and is renewed under the new key');
}

$t->stop;
done_testing;
