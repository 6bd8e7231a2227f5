# The origin policy (ws_gateway_allow_origin, ws_gateway_origin_missing):
# exact origins without regard to case, regexes (~ and ~*), 403 with one
# [info] line for a refused origin, a missing Origin header allowed or
# refused, the check made before token auth (and not bypassed by
# "satisfy any"), and the "forbidden" handshakes counted by the status
# handler.
use t::WsGateway;
use t::WsJwt;

repeat_each(1);

sub tok_hs { ::jwt_token(alg => 'HS256', key => 'hs1', @_) }

# a handshake, a text message and a close: an accepted session
sub ws_session {
    my ($uri, @headers) = @_;
    ::ws_handshake($uri, @headers) . ::ws_frame('text', 'hello')
    . ::ws_close_frame(1000)
}

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://app.example.com
                                ~^https://[a-z]+\.example\.org$
                                ~*^https://[a-z]+\.example\.net$;
        ws_gateway_allow_origin http://localhost:8080;
    }

    location /strict {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://app.example.com;
        ws_gateway_origin_missing deny;
        add_header X-Auth-Error $ws_gateway_auth_error always;
    }

    location /auth {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://app.example.com;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /any {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://app.example.com;
        satisfy any;
        allow all;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /open {
        ws_gateway_pass builtin:echo;
    }

    location = /status {
        ws_gateway_status;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => $Config) unless defined $block->config;
});

plan tests => repeat_each() * ::jwt_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: an allowed origin gets 101
--- raw_request eval
::ws_session('/ws', 'Origin: https://app.example.com')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 2: exact origins are compared without regard to case
--- raw_request eval
::ws_session('/ws', 'Origin: HTTPS://App.Example.COM')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 3: a second ws_gateway_allow_origin adds to the list
--- raw_request eval
::ws_session('/ws', 'Origin: http://localhost:8080')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 4: a ~ regex that matches
--- raw_request eval
::ws_session('/ws', 'Origin: https://chat.example.org')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 5: a ~ regex is case-sensitive
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://Chat.example.org')
--- shutdown
--- error_code: 403
--- response_headers
!Sec-WebSocket-Accept
!WWW-Authenticate
--- grep_error_log eval
qr/WebSocket origin refused: [^,]*/
--- grep_error_log_out
WebSocket origin refused: "https://Chat.example.org"
--- no_error_log
[error]



=== TEST 6: a ~* regex is case-insensitive
--- raw_request eval
::ws_session('/ws', 'Origin: https://Chat.EXAMPLE.net')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 7: an origin that is not allowed is 403 with an [info] line
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://evil.example.com')
--- shutdown
--- error_code: 403
--- response_headers
!Sec-WebSocket-Accept
--- error_log eval
qr/\[info\] .*WebSocket origin refused: "https:\/\/evil\.example\.com"/
--- grep_error_log eval
qr/WebSocket origin refused: [^,]*/
--- grep_error_log_out
WebSocket origin refused: "https://evil.example.com"
--- no_error_log
[error]



=== TEST 8: an exact origin must match whole: no prefix, no suffix
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://app.example.com.evil.example')
--- shutdown
--- error_code: 403
--- grep_error_log eval
qr/WebSocket origin refused: [^,]*/
--- grep_error_log_out
WebSocket origin refused: "https://app.example.com.evil.example"
--- no_error_log
[error]



=== TEST 9: an anchored regex does not match a longer origin
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://chat.example.org.evil.example')
--- shutdown
--- error_code: 403
--- no_error_log
[error]



=== TEST 10: the "null" origin is refused
--- raw_request eval
::ws_handshake('/ws', 'Origin: null')
--- shutdown
--- error_code: 403
--- grep_error_log eval
qr/WebSocket origin refused: [^,]*/
--- grep_error_log_out
WebSocket origin refused: "null"
--- no_error_log
[error]



=== TEST 11: two Origin headers are refused
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://app.example.com',
               '+Origin: https://app.example.com')
--- shutdown
--- error_code: 403
--- error_log
WebSocket origin refused:
--- no_error_log
[error]



=== TEST 12: no Origin header is allowed by default
--- raw_request eval
::ws_session('/ws')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 13: ws_gateway_origin_missing deny: no Origin header is 403
--- raw_request eval
::ws_handshake('/strict')
--- shutdown
--- error_code: 403
--- grep_error_log eval
qr/WebSocket origin refused: [^,]*/
--- grep_error_log_out
WebSocket origin refused: no "Origin" header
--- no_error_log
[error]



=== TEST 14: $ws_gateway_auth_error is "origin" for a refused origin
--- raw_request eval
::ws_handshake('/strict', 'Origin: https://evil.example.com')
--- shutdown
--- error_code: 403
--- response_headers
X-Auth-Error: origin
--- no_error_log
[error]



=== TEST 15: ws_gateway_origin_missing deny: an allowed origin still gets 101
--- raw_request eval
::ws_session('/strict', 'Origin: https://app.example.com')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_headers
!X-Auth-Error
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 16: a location without the policy takes any origin
--- raw_request eval
::ws_session('/open', 'Origin: https://evil.example.com')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket origin refused
[error]



=== TEST 17: origin before auth: a refused origin is 403 even with a valid token
--- raw_request eval
::ws_handshake('/auth', 'Origin: https://evil.example.com',
               'Authorization: Bearer ' . ::tok_hs())
--- shutdown
--- error_code: 403
--- response_headers
!WWW-Authenticate
--- error_log
WebSocket origin refused: "https://evil.example.com"
--- no_error_log
WebSocket token refused
[error]



=== TEST 18: origin before auth: a refused origin without a token is 403, not 401
--- raw_request eval
::ws_handshake('/auth', 'Origin: https://evil.example.com')
--- shutdown
--- error_code: 403
--- response_headers
!WWW-Authenticate
--- no_error_log
WebSocket token refused
[error]



=== TEST 19: origin and auth: an allowed origin without a token is 401
--- raw_request eval
::ws_handshake('/auth', 'Origin: https://app.example.com')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws"
--- error_log
WebSocket token refused: no token
--- no_error_log
WebSocket origin refused
[error]



=== TEST 20: origin and auth: an allowed origin and a valid token get 101
--- raw_request eval
::ws_session('/auth', 'Origin: https://app.example.com',
             'Authorization: Bearer ' . ::tok_hs())
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 21: "satisfy any" with "allow all" does not bypass the origin policy
--- raw_request eval
::ws_handshake('/any', 'Origin: https://evil.example.com')
--- shutdown
--- error_code: 403
--- error_log
WebSocket origin refused: "https://evil.example.com"
--- no_error_log
[error]



=== TEST 22: "satisfy any" with "allow all": an allowed origin needs no token
--- raw_request eval
::ws_session('/any', 'Origin: https://app.example.com')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 23: the status handler counts refused origins as forbidden handshakes
--- init
$main::Sent = ::jwt_send(
    ::ws_handshake('/ws', 'Origin: https://evil.example.com'),
    ::ws_handshake('/strict'),
    ::ws_handshake('/auth', 'Origin: https://app.example.com'),
    ::ws_handshake('/ws', 'Origin: https://app.example.com')
    . ::ws_close_frame(1000),
);
--- request
GET /status?format=json
--- error_code: 200
--- response_body_filters eval
sub { "sent: $main::Sent\n" . CORE::join '', grep { /^handshakes|auth\.(ok|missing)=/ }
      split /^/, ::jwt_status_summary($_[0]) }
--- response_body
sent: 403 403 401 101
auth.missing=1
auth.ok=0
handshakes.accepted=1
handshakes.unauthorized=1
handshakes.forbidden=2
--- no_error_log
[error]



=== TEST 24: the policy is inherited from the server level, and a location's own replaces it
--- config
    ws_gateway_allow_origin https://app.example.com;

    location /ws {
        ws_gateway_pass builtin:echo;
    }

    location /other {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://other.example.com;
    }
--- raw_request eval
::ws_handshake('/ws', 'Origin: https://other.example.com')
--- shutdown
--- error_code: 403
--- error_log
WebSocket origin refused: "https://other.example.com"
--- no_error_log
[error]



=== TEST 25: a location's own policy replaces the server's
--- config
    ws_gateway_allow_origin https://app.example.com;

    location /other {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://other.example.com;
    }
--- raw_request eval
::ws_session('/other', 'Origin: https://other.example.com')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 26: config: a regex that does not compile
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin ~^https://(app\.example\.com$;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*https:\/\/\(app.* in \S+nginx\.conf:\d+/



=== TEST 27: config: ws_gateway_origin_missing takes allow or deny
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_allow_origin https://app.example.com;
        ws_gateway_origin_missing maybe;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid value "maybe".* in \S+nginx\.conf:\d+/
