package SluiceTest::Certs;

# SluiceTest::Certs: what the TLS tests (t/s1*.t, t/k03) share --
# certificates made at test time with the openssl command, in the test's
# directory, and the check of a configuration error's file:line.
#
#   my $t = SluiceTest->new;
#   self_signed($t, 'ca', '/CN=Test CA');          # TESTDIR/ca.key, ca.crt
#   issue_cert($t, 'srv', '/CN=a.test', 'ca',      # srv.key, srv.csr, srv.crt
#              san => 'DNS:a.test,IP:127.0.0.1');
#   my $out = ossl($t, qw(x509 -noout -subject -in), $t->testdir . '/srv.crt');
#   conf_err($t, 'bad.conf', $conf, 'ssl_certificate', qr/cannot load/,
#            'a missing certificate');
#
# Keys are RSA 2048 unless told otherwise, certificates last 2 days.

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use SluiceTest;

our @EXPORT = qw(ossl self_signed issue_cert conf_err);

# Runs openssl with args (bounded in time); dies with its stderr if it
# fails; returns its stdout.
sub ossl {
    my ($t, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd(['openssl', @args], timeout => 30);
    die "openssl @args: $err\n" if $rc != 0;
    return $out;
}

# A self-signed certificate (also a CA): TESTDIR/NAME.key and NAME.crt.
sub self_signed {
    my ($t, $name, $subj) = @_;
    my $d = $t->testdir;
    ossl($t, qw(req -x509 -newkey rsa:2048 -nodes -days 2), '-subj', $subj,
         '-keyout', "$d/$name.key", '-out', "$d/$name.crt");
}

# A certificate for subj signed by the CA in TESTDIR/CA.crt and CA.key:
# TESTDIR/NAME.key, NAME.csr and NAME.crt.  Options:
#   alg => 'ec'          a P-256 key instead of RSA 2048
#   san => 'DNS:x,IP:y'  a subjectAltName, carried into the certificate
#   serial => '0x1234'   this serial number (default: a serial file)
#   extfile => FILE      x509 extensions for the certificate (a CA, say)
sub issue_cert {
    my ($t, $name, $subj, $ca, %o) = @_;
    my $d = $t->testdir;
    my $alg = $o{alg} // 'rsa:2048';
    ossl($t, 'req', '-newkey', $alg,
         ($alg eq 'ec' ? ('-pkeyopt', 'ec_paramgen_curve:prime256v1') : ()),
         '-nodes', '-subj', $subj,
         (defined $o{san} ? ('-addext', "subjectAltName=$o{san}") : ()),
         '-keyout', "$d/$name.key", '-out', "$d/$name.csr");
    ossl($t, 'x509', '-req', '-in', "$d/$name.csr", '-CA', "$d/$ca.crt",
         '-CAkey', "$d/$ca.key",
         (defined $o{serial} ? ('-set_serial', $o{serial})
                             : ('-CAcreateserial')),
         (defined $o{san} ? ('-copy_extensions', 'copy') : ()),
         (defined $o{extfile} ? ('-extfile', $o{extfile}) : ()),
         '-days', '2', '-out', "$d/$name.crt");
}

# Writes tpl as TESTDIR/NAME and checks that sluice -t fails on it with
# an error at the line holding marker that matches re.  Two tests.
sub conf_err {
    my ($t, $name, $tpl, $marker, $re, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $path = $t->write_conf($tpl, name => $name);
    my $line = line_of($t->conf_text($path), $marker);
    my ($rc, $out, $err) = $t->run_t({ conf => $path });
    Test::More::isnt($rc, 0, "$what: sluice -t fails");
    Test::More::like($out . $err, qr/\Q$name\E:$line: .*$re/,
                     "$what: file:line")
        or Test::More::diag($out . $err);
}

1;
