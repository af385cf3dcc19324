package SluiceTest::Cache;

# SluiceTest::Cache: what the cache tests (t/c0*.t) share -- the preamble
# of their configuration, one origin and sluice started in that order, and
# the small request helpers.
#
#   my $t = SluiceTest->new(need_ctl => 0);
#   write_cache_conf($t, { log => '$request_uri $status $upstream_cache_status' },
#       <<'EOF');
#       server {
#           listen 127.0.0.1:%%PORT_0%%;
#           location / { proxy_pass http://127.0.0.1:%%PORT_5%%; proxy_cache one; }
#       }
#   EOF
#   my $u = start_cache($t);         # origin "o" on PORT_5, then sluice
#   my ($st, $h, $b) = get('/a?h=Cache-Control:max-age=60&date=now');
#   is($u->nrequests, 1);
#
# write_cache_conf($t, \%o, BLOCKS) writes
#
#   %%MAIN%%
#   worker_processes N;                      ($o{workers}, default 2)
#   events { worker_connections N; }         (only with $o{connections})
#   http {
#       log_format c 'LOG';                  ($o{log}; without it:
#       access_log %%TESTDIR%%/access.log c;  access_log off)
#       cache_zone one ZONE;                 ($o{zone}, default size=4m)
#   BLOCKS
#   }
#
# so a test shows only its upstreams and servers.

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP ();
use POSIX ();
use SluiceTest;
use SluiceTest::Upstream;

our @EXPORT = qw(write_cache_conf start_cache get hdr enc httpdate echo);

my $port;       # sluice's PORT_0, set by start_cache

# Writes TESTDIR/sluice.conf from blocks and the shared preamble (above);
# returns its path.
sub write_cache_conf {
    my ($t, $o, $blocks) = @_;
    my %o = %$o;
    my $conf = "%%MAIN%%\nworker_processes " . ($o{workers} // 2) . ";\n";
    $conf .= "events {\n    worker_connections $o{connections};\n}\n"
        if $o{connections};
    $conf .= "http {\n";
    $conf .= defined $o{log}
        ? "    log_format c '$o{log}';\n"
          . "    access_log %%TESTDIR%%/access.log c;\n"
        : "    access_log off;\n";
    $conf .= "    cache_zone one " . ($o{zone} // 'size=4m') . ";\n";
    $conf .= $blocks . "}\n";
    return $t->write_conf($conf);
}

# Starts the origin (SluiceTest::Upstream "o" on PORT_5), then sluice;
# get() then asks PORT_0.  Returns the origin.
sub start_cache {
    my ($t) = @_;
    my $u = SluiceTest::Upstream->new($t, port => $t->port(5), name => 'o');
    $u->start;
    $t->start;
    $port = $t->port(0);
    return $u;
}

# GET path from sluice with headers h; returns (status, headers, body).
sub get {
    my ($path, %h) = @_;
    return parse_response(http_get($port, $path, %h));
}

# A request header as the origin saw it (SluiceTest::Upstream::header).
sub hdr { SluiceTest::Upstream::header(@_) }

# Escapes s for the origin's query parameters.
sub enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~=:-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# An IMF-fixdate off seconds from now.
sub httpdate {
    my ($off) = @_;
    return POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(int(time) + $off));
}

# The origin's JSON echo of the request in body, or {}.
sub echo { eval { JSON::PP::decode_json($_[0] // '') } || {} }

1;
