# Approval of handshakes by the backend (docs/protocol.md section 5.2):
# with ws_gateway_link_approve on, OPEN carries the APPROVE flag (2) and
# the 101 waits for the backend's ACCEPT; a REJECT gives its HTTP status;
# no verdict within ws_gateway_link_approve_timeout gives 503 and a CLOSE
# event; a client that leaves while waiting gives CLOSE 1006 by the
# client; and the configuration checks of the two directives.
#
# Unless a block says otherwise it uses $HttpConfig and $Config below,
# and its --- init waits until the backend has answered the gateway's
# HELLO, so that the link is up when the handshake comes.
use t::WsGateway;
use t::WsLink;

repeat_each(1);

# (before blocks() is called: the --- init eval sections use it)
our $WaitLink = "main::ws_link_wait('> HELLO .*', 3)"
                . " && select(undef, undef, undef, 0.1);";

plan tests => repeat_each() * ::ws_count_checks(blocks());

our $HttpConfig = <<'_EOC_';
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 100ms 1s;
    }
_EOC_

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_approve on;
        ws_gateway_link_approve_timeout 500ms;
    }

    location /plain {
        ws_gateway_pass backend;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;

    $block->set_value(init => $WaitLink)
        unless defined $block->init || defined $block->must_die;
});

run_tests();

__DATA__

=== TEST 1: OPEN carries APPROVE (flags=2); on ACCEPT the client gets the 101 and its messages are echoed
--- link_script
on open: accept
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- link_log
OPEN s1 flags=2 remote=127\.0\.0\.1:\d+ uri=/ws
> ACCEPT s1
MESSAGE s1 text hi
> SEND s1 text hi
CLOSE s1 code=1000 by=0 reason=
--- no_link_log
GONE .*
--- no_error_log
[error]



=== TEST 2: REJECT 403 "banned": the client gets 403, the text is logged at info, no CLOSE event follows
--- link_script
on open: reject 403 "banned"
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 403
--- link_log
OPEN s1 flags=2 .*
> REJECT s1 status=403 text=banned
--- no_link_log
CLOSE .*
GONE .*
--- error_log eval
qr/\[info\] .*backend refused the WebSocket handshake with 403: "banned"/
--- no_error_log
[error]



=== TEST 3: no verdict: 503 with Retry-After after the approve timeout (~0.5 s), CLOSE 1011 by=1 "approval timeout"; a later ACCEPT gets GONE
--- link_script
on open: ignore
on close: accept
--- init eval
$main::WaitLink . q{
    my $t0 = Time::HiRes::time();
    $main::First = main::ws_link_status('/ws');
    $main::Took = Time::HiRes::time() - $t0;
}
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 1.5
--- abort
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body_filters eval
sub {
    "first: $main::First "
    . ($main::Took >= 0.45 && $main::Took < 1.2 ? 'after ~0.5 s'
       : "after $main::Took s") . "\n"
}
--- response_body
first: 503 after ~0.5 s
--- link_log
OPEN s1 flags=2 .*
CLOSE s1 code=1011 by=1 reason=approval timeout
> ACCEPT s1
GONE s1 command=0x22
--- no_link_log
> SEND .*



=== TEST 4: ACCEPT then SEND at once: what the backend sent before the session started is the client's first frame
--- link_script
on open: accept; send text "welcome"
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
OPEN s1 flags=2 .*
> ACCEPT s1
> SEND s1 text welcome
MESSAGE s1 text hi
--- no_link_log
GONE .*
--- no_error_log
[error]



=== TEST 5: ACCEPT then CLOSE 4001 "later" at once: the client gets the 101, then that close frame
--- link_script
on open: accept; close 4001 "later"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(4001)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 4001 later
--- link_log
OPEN s1 flags=2 .*
> ACCEPT s1
> CLOSE s1 code=4001 reason=later
CLOSE s1 code=4001 by=2 reason=later
--- no_link_log
GONE .*
--- no_error_log
[error]



=== TEST 6: the client goes away while waiting: CLOSE 1006 by=0 at once, not the approval timeout
--- link_script
on open: ignore
--- init eval
$main::WaitLink . q{
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', Proto => 'tcp', Timeout => 2,
        PeerPort => Test::Nginx::Util::server_port_for_client());
    if ($s) {
        syswrite($s, main::ws_handshake('/ws'));
        main::ws_link_wait('OPEN s1 .*', 2);
        close $s;
        main::ws_link_wait('CLOSE s1 .*', 0.3);
    }
}
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 1.5
--- abort
--- error_code: 503
--- link_log
OPEN s1 flags=2 .*
CLOSE s1 code=1006 by=0 reason=.*
OPEN s2 flags=2 .*
CLOSE s2 code=1011 by=1 reason=approval timeout
--- no_link_log
CLOSE s1 code=1011 .*



=== TEST 7: without ws_gateway_link_approve, OPEN has flags=0 and the 101 does not wait for a verdict
--- link_script
on open: ignore
--- raw_request eval
[::ws_handshake('/plain'), ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- link_log
OPEN s1 flags=0 remote=127\.0\.0\.1:\d+ uri=/plain
MESSAGE s1 text hi
--- no_link_log
OPEN .*flags=2.*
--- no_error_log
[error]



=== TEST 8: ws_gateway_link_approve maybe is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_approve maybe;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_approve".* in \S+nginx\.conf:\d+/



=== TEST 9: ws_gateway_link_approve_timeout 0 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_approve on;
        ws_gateway_link_approve_timeout 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_approve_timeout".* in \S+nginx\.conf:\d+/
