# Meta-test of the t/lib Test::Nginx runner: it must be able to fail.
# Runs the fixtures in t/runner/fixtures (not *.t, so that prove does not
# pick them up) with our runner, on their own port and server root, and
# checks their TAP output and exit status.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;

my $dir = dirname(abs_path(__FILE__));
my $lib = abs_path("$dir/../lib");
my $servroot = abs_path("$dir/..") . '/servroot_meta';

# Run one fixture; returns its exit status and the counts of ok and
# not ok lines, plus the whole output for diagnostics.
sub run_fixture {
    my $fixture = shift;

    local $ENV{TEST_NGINX_SERVER_PORT} = $ENV{TEST_NGINX_META_PORT} || 1994;
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    delete local $ENV{TEST_NGINX_CLIENT_PORT};
    delete local $ENV{TEST_NGINX_PORT};

    my $out = qx{"$^X" -I"$lib" "$dir/fixtures/$fixture" 2>&1};
    my $status = $? >> 8;

    return {
        status => $status,
        ok     => scalar(() = $out =~ /^ok \d+/mg),
        not_ok => scalar(() = $out =~ /^not ok \d+/mg),
        output => $out,
    };
}

# Each failing fixture: the failure message that must be reported and
# the expected (ok, not ok) counts.
my @failing = (
    ['wrong-status.tfix',     qr/status code ok/,                 1, 1],
    ['wrong-body.tfix',       qr/response_body/,                  1, 1],
    ['timeout.tfix',          qr/client socket timed out/,        0, 1],
    ['must-die-lives.tfix',   qr/die as expected/,                0, 1],
    ['error-log-absent.tfix', qr/should match a line in error\.log/, 1, 1],
    ['bad-config.tfix',       qr/nginx failed to start/,          0, 1],
    ['unknown-section.tfix',  qr/--- respones_body/,              0, 1],
    ['link-log-missing.tfix', qr/- link_log/,                     1, 1],
    ['link-log-order.tfix',   qr/- link_log/,                     1, 1],
    ['no-link-log-present.tfix', qr/- no_link_log/,               1, 1],
);

for my $case (@failing) {
    my ($fixture, $message, $ok, $not_ok) = @$case;
    my $r = run_fixture($fixture);

    isnt($r->{status}, 0, "$fixture exits non-zero")
        or diag($r->{output});
    like($r->{output}, qr/^not ok \d+ .*$message/m,
         "$fixture reports the failure");
    is_deeply([$r->{ok}, $r->{not_ok}], [$ok, $not_ok],
              "$fixture: $ok ok, $not_ok not ok")
        or diag($r->{output});
}

{
    my $r = run_fixture('bad-config.tfix');
    like($r->{output}, qr/^#.*\[emerg\].*unknown directive "bogus_directive"/m,
         'a failed start shows the [emerg] line');
}

{
    # TEST 1: 2 repeats x (3 requests x (status + 2 headers + body)
    #         + 3 x 2 no_error_log patterns) = 36
    # TEST 2: 2 repeats x (must_die + 1 error_log pattern) = 4
    my $r = run_fixture('counts.tfix');
    is($r->{status}, 0, 'counts.tfix passes') or diag($r->{output});
    is_deeply([$r->{ok}, $r->{not_ok}], [40, 0],
              'counts.tfix runs the assertions the contract counts');
}

done_testing();
