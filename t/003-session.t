# Session timers: server pings and the pong deadline, the idle timeout,
# the close timeout after a protocol error or a close of the server's,
# and the send timeout of a client that stops reading.  The timeouts are
# a few hundred milliseconds; the requests are paced to fall well inside
# or well outside them.
use t::WsGateway;

repeat_each(1);

plan tests => repeat_each() * ::ws_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: an idle client gets a ping after ws_gateway_ping_interval, and is closed when it does not answer
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval 200ms;
        ws_gateway_pong_timeout 300ms;
    }
--- raw_request eval
::ws_handshake('/ws')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
ping:
--- error_log
client timed out answering ping
--- no_error_log
[error]



=== TEST 2: a client that answers the ping keeps its session, and is pinged again
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval 300ms;
        ws_gateway_pong_timeout 1s;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('pong', ''), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.5
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
ping:
ping:
close: 1000
--- no_error_log
client timed out answering ping
[error]



=== TEST 3: a pong within ws_gateway_pong_timeout (shorter than the interval) keeps the session
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval 400ms;
        ws_gateway_pong_timeout 350ms;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('pong', ''), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
ping:
ping:
close: 1000
--- no_error_log
client timed out answering ping
[error]



=== TEST 4: a client that keeps sending is not pinged
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval 400ms;
        ws_gateway_pong_timeout 200ms;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', '1'), ::ws_frame('text', '2'),
 ::ws_frame('text', '3'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: 1
text: 2
text: 3
close: 1000
--- no_error_log
client timed out answering ping
[error]



=== TEST 5: ws_gateway_idle_timeout: close 1000 "idle timeout", then the close timeout ends a client that does not answer
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_idle_timeout 300ms;
        ws_gateway_close_timeout 300ms;
    }
--- raw_request eval
::ws_handshake('/ws')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000 idle timeout
--- error_log
session idle timeout
client timed out in the closing handshake
--- no_error_log
[error]



=== TEST 6: the idle timeout's close answered by the client ends the connection at once
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_idle_timeout 300ms;
        ws_gateway_close_timeout 10s;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000 idle timeout
--- error_log
session idle timeout
--- no_error_log
client timed out in the closing handshake
[error]



=== TEST 7: messages reset the idle timeout
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_idle_timeout 600ms;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'a'), ::ws_frame('text', 'b'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.35
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: a
text: b
close: 1000
--- no_error_log
session idle timeout
[error]



=== TEST 8: pings do not reset the idle timeout; a ping after the server's close is not answered
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_idle_timeout 600ms;
        ws_gateway_close_timeout 300ms;
    }
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('ping', 'a'), ::ws_frame('ping', 'b')]
--- raw_request_middle_delay: 0.35
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
pong: a
close: 1000 idle timeout
--- error_log
session idle timeout
client timed out in the closing handshake
--- no_error_log
[error]



=== TEST 9: a client that closes TCP without a close frame
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'bye')
--- shutdown
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: bye
--- error_log
client closed connection without a close frame
--- no_error_log
[error]



=== TEST 10: after a protocol error, ws_gateway_close_timeout ends a client that keeps the connection open
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_close_timeout 300ms;
    }
--- init
$main::WsHeld = ::ws_hold_open(
    request => ::ws_handshake('/ws') . ::ws_frame('text', 'bare', masked => 0),
    pattern => qr/client timed out in the closing handshake/,
    wait => 3);
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
sub { "held open: $main::WsHeld" . "this request: " . ::ws_decode($_[0]) }
--- response_body
held open: matched
close: 1002
this request: close: 1000
--- error_log
client sent invalid frame: unmasked frame
client timed out in the closing handshake
--- no_error_log
[error]



=== TEST 11: ws_gateway_send_timeout ends a client that sends echoed messages but does not read
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_send_timeout 500ms;
        ws_gateway_outbound_limit 64k;
    }
--- init
$main::WsFlood = ::ws_flood_unread(
    uri => '/ws', pattern => qr/client timed out reading/, wait => 5);
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
sub { (my $f = $main::WsFlood) =~ s/ after \d+ bytes//;
      "flood: $f\nthis request: " . ::ws_decode($_[0]) }
--- response_body
flood: matched
this request: close: 1000
--- error_log eval
qr/client timed out reading, \d+ messages dropped, closing with 1013/
--- no_error_log
[error]



=== TEST 12: ws_gateway_send_timeout ends a client that sends pings but does not read the pongs
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_send_timeout 500ms;
        ws_gateway_outbound_limit 1k;
    }
--- init
$main::WsFlood = ::ws_flood_unread(
    uri => '/ws', pattern => qr/client timed out reading/, wait => 5,
    frame => ::ws_frame('ping', 'p' x 125) x 64);
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
sub { (my $f = $main::WsFlood) =~ s/ after \d+ bytes//;
      "flood: $f\nthis request: " . ::ws_decode($_[0]) }
--- response_body
flood: matched
this request: close: 1000
--- error_log eval
qr/client timed out reading, \d+ messages dropped, closing with 1013/
--- no_error_log
[error]



=== TEST 13: ws_gateway_send_timeout runs from the last write that made progress, not from the client's last frame
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_send_timeout 500ms;
        ws_gateway_outbound_limit 64m;
    }
--- init
$main::WsFlood = ::ws_flood_unread(
    uri => '/ws', pattern => qr/client timed out reading/, wait => 5,
    max_bytes => 16 * 1024 * 1024,
    drip => ::ws_frame('ping', 'p'), drip_every => 0.1, drip_for => 2);
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
sub { (my $f = $main::WsFlood) =~ s/,? after \d+ bytes//;
      "flood: $f\nthis request: " . ::ws_decode($_[0]) }
--- response_body
flood: matched
this request: close: 1000
--- error_log eval
qr/client timed out reading, \d+ messages dropped, closing with 1013/
--- no_error_log
[error]
