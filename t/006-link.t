# Backend links (docs/protocol.md): ws_gateway_pass to an upstream, the
# gateway's HELLO and OPEN, messages both ways through the scripted
# backend of t::WsLink, the backend's commands, bad records, a backend
# that is down, silent or late, heartbeats, reconnection, and the
# configuration checks of the link directives.
#
# Unless a block says otherwise it uses $HttpConfig and $Config below,
# and its --- init waits until the backend has answered the gateway's
# HELLO, so that the link is up when the handshake comes.
use t::WsGateway;
use t::WsLink;

repeat_each(1);

plan tests => repeat_each() * ::ws_count_checks(blocks());

our $HttpConfig = <<'_EOC_';
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_send_timeout 1s;
        ws_gateway_link_read_timeout 2s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 100ms 1s;
        ws_gateway_link_max_message 1m;
    }
_EOC_

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subprotocols chat;
        ws_gateway_link_param sub $arg_user;
        ws_gateway_link_param lang $http_accept_language;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;

    $block->set_value(init => "main::ws_link_wait('> HELLO .*', 3)"
                              . " && select(undef, undef, undef, 0.1);")
        unless defined $block->init || defined $block->must_die;
});

run_tests();

__DATA__

=== TEST 1: the gateway's HELLO: version 1, the heartbeat of the directive, a name
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.1
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- link_log
LINK 1 open
HELLO version=1 caps=1 max_record=1049088(?=.* name=[^ ]+)(?=.* heartbeat=500(?: |$)).*
> HELLO .*
--- no_link_log
HELLO version=(?!1 ).*
--- no_error_log
[error]



=== TEST 2: OPEN after the 101: remote, uri with query, subprotocol, params in order; "hi" is echoed through the backend
--- raw_request eval
[::ws_handshake('/ws?user=alice&x=1', 'Sec-WebSocket-Protocol: chat',
                'Accept-Language: fr'),
 ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- link_log
OPEN s1 flags=0 remote=127\.0\.0\.1:\d+ uri=/ws\?user=alice&x=1 subprotocol=chat param\.sub=alice param\.lang=fr
MESSAGE s1 text hi
> SEND s1 text hi
CLOSE s1 code=1000 by=0 reason=
--- no_error_log
[error]



=== TEST 3: no subprotocol field without one; an empty param value is sent empty
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- link_log
OPEN s1 flags=0 remote=127\.0\.0\.1:\d+ uri=/ws param\.sub= param\.lang=
CLOSE s1 code=1000 by=0 reason=
--- no_link_log
OPEN .*subprotocol=.*
--- no_error_log
[error]



=== TEST 4: a binary message stays binary both ways
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('binary', "\x00\xff"),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 2 bytes, md5 " . Digest::MD5::md5_hex("\x00\xff") . "\nclose: 1000\n"
--- link_log
MESSAGE s1 binary 00ff
> SEND s1 binary 00ff
--- no_error_log
[error]



=== TEST 5: a 64 KB message goes to the backend as one MESSAGE and comes back whole
--- raw_request eval
[::ws_handshake('/ws'),
 ::ws_frame('binary', CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65536)),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 65536 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65536))
. "\nclose: 1000\n"
--- link_log eval
['MESSAGE s1 binary len=65536 md5='
 . Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65536)),
 'CLOSE s1 code=1000 by=0 reason=']
--- no_error_log
[error]



=== TEST 6: a fragmented client message reaches the backend as ONE MESSAGE
--- raw_request eval
[::ws_handshake('/ws'),
 ::ws_frame('text', 'hel', fin => 0) . ::ws_frame('cont', 'lo', fin => 0)
 . ::ws_frame('cont', ' world'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello world
close: 1000
--- link_log
MESSAGE s1 text hello world
> SEND s1 text hello world
--- no_link_log
MESSAGE s1 text (hel|lo| world)
--- no_error_log
[error]



=== TEST 7: the client's close 1000 "bye" becomes CLOSE code=1000 by=0 reason=bye
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000, 'bye')]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- link_log
OPEN s1 .*
CLOSE s1 code=1000 by=0 reason=bye
--- no_error_log
[error]



=== TEST 8: the backend's SEND on open comes before anything else
--- link_script
on open: send text "welcome"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: welcome
text: hi
close: 1000
--- link_log
OPEN s1 .*
> SEND s1 text welcome
MESSAGE s1 text hi
--- no_error_log
[error]



=== TEST 9: the backend's CLOSE 4000 "kicked": the client gets that close frame, the backend CLOSE by=2
--- link_script
on message "kick": close 4000 "kicked"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'kick'), ::ws_close_frame(4000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 4000 kicked
--- link_log
MESSAGE s1 text kick
> CLOSE s1 code=4000 reason=kicked
CLOSE s1 code=4000 by=2 reason=kicked
--- no_link_log
CLOSE s1 .*by=[01].*
--- no_error_log
[error]



=== TEST 10: a SEND to an unknown session gets GONE; the session that triggered it goes on
--- link_script
on message "gone": send-to 12345 text "x"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'gone'),
 ::ws_frame('text', 'still here'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: still here
close: 1000
--- link_log
> SEND #12345 text x
GONE #12345 command=0x20
MESSAGE s1 text still here
> SEND s1 text still here
CLOSE s1 code=1000 by=0 reason=
--- no_error_log
[error]



=== TEST 11: a malformed record (length 1): ERROR 1, the link is reset with one [error] line, the session gets 1011 (ws_gateway_failover_timeout 0), the link comes back
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subprotocols chat;
        ws_gateway_link_param sub $arg_user;
        ws_gateway_link_param lang $http_accept_language;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "bad": raw 00 00 00 01 ff
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'bad'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> RAW 00000001ff
ERROR code=1 text=.*
LINK 1 eof
LINK 2 open
HELLO version=1 .*
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) reset: \S/
--- grep_error_log eval
qr/\[error\]/
--- grep_error_log_out
[error]



=== TEST 12: a record of an unknown type (0x7f): the same, and the reason names the unknown type
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subprotocols chat;
        ws_gateway_link_param sub $arg_user;
        ws_gateway_link_param lang $http_accept_language;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "bad": raw 00 00 00 0a 7f 00 sid
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'bad'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> RAW 0000000a7f00.*
ERROR code=4 text=.*
LINK 1 eof
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) reset: .*unknown.*type/i
--- grep_error_log eval
qr/\[error\]/
--- grep_error_log_out
[error]



=== TEST 13: nothing listens: the handshake is answered 503
--- link_script
down
--- init
select(undef, undef, undef, 0.3);
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 503
--- error_log
no live ws gateway links in upstream "backend"



=== TEST 14: a backend that closes every link at accept: 503
--- link_script
refuse
--- init
main::ws_link_wait('LINK 1 refused', 2);
select(undef, undef, undef, 0.1);
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 503
--- error_log
no live ws gateway links in upstream "backend"
--- link_log
LINK 1 refused
--- no_link_log
> .*



=== TEST 15: hello none: the gateway gives up after the connect timeout; the handshake is answered 503
--- link_script
hello none
--- init
main::ws_link_wait('HELLO .*', 2);
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 503
--- wait: 1.3
--- error_log
no HELLO
--- link_log
HELLO version=1 .*
LINK 1 eof
--- no_link_log
OPEN .*



=== TEST 16: silent after HELLO: the read timeout resets the link, the session gets 1011
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subprotocols chat;
        ws_gateway_link_param sub $arg_user;
        ws_gateway_link_param lang $http_accept_language;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
silent
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 2.5
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> HELLO .*
OPEN s1 .*
PING
PING
LINK 1 eof
--- no_link_log
> PONG
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) reset: .*nothing received/



=== TEST 17: heartbeat: with ws_gateway_link_heartbeat 200ms the backend sees PINGs, and answers them
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_heartbeat 200ms;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.7
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- link_log
HELLO version=1 .*heartbeat=200(?: .*)?
PING
> PONG
PING
> PONG
PING
--- no_error_log
[error]



=== TEST 18: start-after 1: a handshake at once gets 503, one after the backend has answered the reconnected link's HELLO gets 101
--- link_script
start-after 1
--- init
$main::FirstStatus = main::ws_link_status('/ws');
main::ws_link_wait('> HELLO .*', 4) && select(undef, undef, undef, 0.1);
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
sub { "first: $main::FirstStatus\n" . ::ws_decode($_[0]) }
--- response_body
first: 503
close: 1000
--- link_log
LISTEN
LINK 1 open
HELLO version=1 .*
OPEN s1 .*



=== TEST 19: ws_gateway_links 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_links".* in \S+nginx\.conf:\d+/



=== TEST 20: ws_gateway_links abc is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links abc;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_links".* in \S+nginx\.conf:\d+/



=== TEST 21: ws_gateway_link_connect_timeout 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_connect_timeout 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_connect_timeout".* in \S+nginx\.conf:\d+/



=== TEST 22: ws_gateway_link_backoff with its maximum below its minimum is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_backoff 2s 1s;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_backoff".* in \S+nginx\.conf:\d+/



=== TEST 23: ws_gateway_link_max_message 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_max_message 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_max_message".* in \S+nginx\.conf:\d+/



=== TEST 24: ws_gateway_link_param takes a name and a value
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_param sub;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_param".* in \S+nginx\.conf:\d+/



=== TEST 25: ws_gateway_pass of an upstream that does not exist names it and the directive's line, as proxy_pass does
--- config
    location /ws {
        ws_gateway_pass nosuch;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*no port in upstream "nosuch" in \S+nginx\.conf:\d+/



=== TEST 26: ws_gateway_links outside an upstream block is refused
--- http_config
    ws_gateway_links 2;
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_links" directive is not allowed here in \S+nginx\.conf:\d+/
