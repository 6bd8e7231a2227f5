# Self-test of the Test::Nginx runner: --- must_die blocks see the
# [emerg] message, with the directive and file:line, in error.log.
use Test::Nginx::Socket;

plan tests => 2 + 2 + 3;

run_tests();

__DATA__

=== TEST 1: an unknown directive stops nginx
--- config
    location = /t {
        bogus_directive on;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*unknown directive "bogus_directive" in \S+\/nginx\.conf:\d+/



=== TEST 2: a bad value, with the expected exit code
--- http_config
    client_max_body_size abc;
--- config
--- must_die: 1
--- suppress_stderr
--- error_log
"client_max_body_size" directive invalid value



=== TEST 3: nginx starts again after a must_die block
--- config
    location = /t {
        return 200 "alive\n";
    }
--- request
GET /t
--- response_body
alive
--- no_error_log
[emerg]
