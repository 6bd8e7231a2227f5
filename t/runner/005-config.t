# Self-test of the Test::Nginx runner: the config sections, --- init,
# --- log_level, access-log checks.
use Test::Nginx::Socket;

plan tests => 2 + 2 + 3 + 3;

run_tests();

__DATA__

=== TEST 1: main_config, http_config and post_main_config
--- main_config
    worker_rlimit_nofile 1024;
--- http_config
    map $uri $tag {
        default "mapped";
    }
--- post_main_config
    worker_shutdown_timeout 5s;
--- config
    location = /t {
        return 200 "$tag $server_name\n";
    }
--- request
GET /t
--- response_body
mapped localhost



=== TEST 2: --- init runs before the requests
--- config
--- init
open my $out, '>', html_dir() . '/init.txt' or die $!;
print $out "from init\n";
close $out;
--- request
GET /init.txt
--- response_body
from init



=== TEST 3: --- log_level drops the [error] line
--- config
--- log_level: crit
--- request
GET /missing.html
--- error_code: 404
--- no_error_log
No such file or directory
[error]



=== TEST 4: access log checks, after --- wait
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- wait: 0.1
--- access_log
"GET /t HTTP/1.1" 200
--- no_access_log
GET /other
