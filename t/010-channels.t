# Channels (issue 11; docs/protocol.md, SUBSCRIBE, UNSUBSCRIBE, PUBLISH,
# BROADCAST, REFUSED): what a backend publishes reaches the subscribed
# sessions only, in order with its SENDs; unsubscribing stops it; a
# broadcast reaches the sessions of the link's upstream only;
# ws_gateway_subscribe subscribes at open; the limits answer REFUSED;
# commands for unknown sessions get GONE; malformed channel records reset
# the link and its sessions survive (re-announced); subscriptions end with
# their session; the configuration checks of the channel directives.
#
# Sessions beside the block's request are t::WsClients' named clients
# (A, B, D), opened in --- init, one after the other, each waiting for
# its first frame: so link.log names them s1, s2, ... in that order and
# the request's session comes last.  Unless a block says otherwise it
# uses $HttpConfig, $Config and $Script below, and its --- init waits
# until the backend has answered the gateway's HELLO.
use t::WsGateway;
use t::WsLink;
use t::WsClients;

use Time::HiRes ();

repeat_each(1);

our $WaitLink = "main::ws_link_wait('> HELLO .*', 3)"
                . " && select(undef, undef, undef, 0.1);";

# until link.log has $n lines that match $re (whole line), at most 3 s
sub wait_lines {
    my ($re, $n) = @_;

    my $deadline = Time::HiRes::time() + 3;

    while (Time::HiRes::time() < $deadline) {
        return 1 if (grep { /^(?:$re)$/ } t::WsLink::read_log()) >= $n;
        Time::HiRes::sleep(0.02);
    }

    return 0;
}

# the members of the first "channels" object of a status JSON (the
# totals'), as "name value" lines, for the names asked
sub channel_metrics {
    my ($json, @names) = @_;

    return "no channels object in: $json\n"
        unless $json =~ /"channels":\{([^{}]*)\}/;

    my $obj = $1;

    return join '', map {
        $obj =~ /"$_":(\d+)/ ? "$_ $1\n" : "$_ missing\n"
    } @names;
}

# the REFUSED lines of link.log, once $last is there (at most 2 s)
sub refused_lines {
    my ($last) = @_;

    main::ws_link_wait($last, 2);

    return join '', map { "$_\n" } grep { /^REFUSED / } t::WsLink::read_log();
}

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
    }

    location /status {
        ws_gateway_status;
    }
_EOC_

# sub:NAME subscribes the session and answers "sub NAME"; unsub:NAME the
# same; "pub CHANNEL TEXT" publishes TEXT; bin:CHANNEL publishes 00 ff 01;
# anything else is echoed
our $Script = <<'_EOS_';
on message /^sub:(.+)$/: subscribe "$1"; send text "sub $1"
on message /^unsub:(.+)$/: unsubscribe "$1"; send text "unsub $1"
on message /^pub (\S+) (.*)$/: publish "$1" text "$2"
on message /^bin:(.+)$/: publish "$1" binary 00ff01
on message "bc": broadcast text "all"; broadcast binary 0102
_EOS_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;
    $block->set_value(link_script => $Script)
        unless defined $block->link_script;

    $block->set_value(init => $WaitLink)
        unless defined $block->init || defined $block->must_die;
});

# (after the variables: the eval sections of the blocks use them)
plan tests => repeat_each() * ::ws_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: the gateway announces CHANNELS; PUBLISH (text, binary) reaches the sessions subscribed to the channel, and not the others
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:room'), 1);
    main::wsc_open('B', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:lobby'), 1);
}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room'),
 ::ws_frame('text', 'pub room hello') . ::ws_frame('text', 'bin:room'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_read('A', 3)
      . "\nB: " . ::wsc_drain('B') . "\n" }
--- response_body
C: text: sub room | text: hello | binary: 00ff01 | close: 1000
A: text: sub room | text: hello | binary: 00ff01
B: text: sub lobby
--- link_log
HELLO version=1 caps=1 .*
> SUBSCRIBE s1 channel=room
> SUBSCRIBE s2 channel=lobby
> SUBSCRIBE s3 channel=room
> PUBLISH channel=room text hello
> PUBLISH channel=room binary 00ff01
--- no_link_log
(GONE|REFUSED|ERROR) .*
--- no_error_log
[error]



=== TEST 2: order: with ws_gateway_fanout_slice 1 and three subscribers, every one gets the PUBLISH after the SENDs before it and before the SENDs after it
--- http_config eval
"ws_gateway_fanout_slice 1;\n" . $main::HttpConfig
--- link_script eval
$main::Script . 'on message "go": '
. join('; ', (map { "send-to s$_ text \"before\"" } 1 .. 3),
             (map { "publish \"room\" text \"p$_\"" } 1 .. 3),
             (map { "send-to s$_ text \"after\"" } 1 .. 3)) . "\n"
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:room'), 1);
    main::wsc_open('B', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:room'), 1);
}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room'),
 ::ws_frame('text', 'go'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_read('A', 6)
      . "\nB: " . ::wsc_read('B', 6) . "\n" }
--- response_body
C: text: sub room | text: before | text: p1 | text: p2 | text: p3 | text: after | close: 1000
A: text: sub room | text: before | text: p1 | text: p2 | text: p3 | text: after
B: text: sub room | text: before | text: p1 | text: p2 | text: p3 | text: after
--- link_log
MESSAGE s3 text go
> SEND s3 text after



=== TEST 3: UNSUBSCRIBE stops the channel's messages; UNSUBSCRIBE of a channel not held is not answered
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:room')
                        . main::ws_frame('text', 'pub room one'), 2);
    main::wsc_send('A', main::ws_frame('text', 'unsub:room') . main::ws_frame('text', 'unsub:never'));
    main::ws_link_wait('> SEND s1 text unsub never', 2);
}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room'),
 ::ws_frame('text', 'pub room two'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_drain('A', 0.5) . "\n" }
--- response_body
C: text: sub room | text: two | close: 1000
A: text: sub room | text: one | text: unsub room | text: unsub never
--- link_log
> UNSUBSCRIBE s1 channel=room
> UNSUBSCRIBE s1 channel=never
> PUBLISH channel=room text two
--- no_link_log
(GONE|REFUSED) .*



=== TEST 4: BROADCAST reaches every session of the link's upstream, not a builtin:echo session nor a session of another upstream
--- http_config eval
$main::HttpConfig . <<'_EOC_';
    upstream other {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2;
        ws_gateway_links 1;
        ws_gateway_link_backoff 100ms 1s;
    }
_EOC_
--- config
    location /ws {
        ws_gateway_pass backend;
    }

    location /echo {
        ws_gateway_pass builtin:echo;
    }

    location /other {
        ws_gateway_pass other;
    }
--- link_script2
--- init eval
q{
    main::wait_lines('> HELLO .*', 2);
    select(undef, undef, undef, 0.2);
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'a'), 1);
    main::wsc_open('B', main::ws_handshake('/echo') . main::ws_frame('text', 'b'), 1);
    main::wsc_open('D', main::ws_handshake('/other') . main::ws_frame('text', 'd'), 1);
}
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'bc'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_read('A', 3)
      . "\nB: " . ::wsc_drain('B') . "\nD: " . ::wsc_drain('D') . "\n" }
--- response_body
C: text: all | binary: 0102 | close: 1000
A: text: a | text: all | binary: 0102
B: text: b
D: text: d
--- link_log
> BROADCAST text all
> BROADCAST binary 0102



=== TEST 5: ws_gateway_subscribe user:$arg_u and a fixed channel: subscribed at open, with no SUBSCRIBE from the backend
--- config
    location /ws {
        ws_gateway_pass backend;
    }

    location /auto {
        ws_gateway_pass backend;
        ws_gateway_subscribe user:$arg_u;
        ws_gateway_subscribe everyone;
    }
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/auto?u=alice') . main::ws_frame('text', 'a'), 1);
    main::wsc_open('B', main::ws_handshake('/auto?u=bob') . main::ws_frame('text', 'b'), 1);
}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'pub user:alice hi alice')
 . ::ws_frame('text', 'pub everyone hi all'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_read('A', 3)
      . "\nB: " . ::wsc_read('B', 2) . ::wsc_drain('B') . "\n" }
--- response_body
C: close: 1000
A: text: a | text: hi alice | text: hi all
B: text: b | text: hi all
--- no_link_log
> SUBSCRIBE .*



=== TEST 6: ws_gateway_subscribe with an empty value subscribes nothing: the status shows 1 channel, 1 subscription for a session of /auto without ?room
--- config
    location /auto {
        ws_gateway_pass backend;
        ws_gateway_subscribe $arg_room;
        ws_gateway_subscribe fixed;
    }

    location /status {
        ws_gateway_status;
    }
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/auto') . main::ws_frame('text', 'a'), 1);
}
--- request
GET /status
--- response_body_filters eval
sub { main::channel_metrics($_[0], qw(channels subscriptions)) }
--- response_body
channels 1
subscriptions 1



=== TEST 7: a session's subscriptions are freed when it ends: a later PUBLISH to its channel is unrouted
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'sub:room'), 1);
    main::wsc_send('A', main::ws_close_frame(1000));
    main::ws_link_wait('CLOSE s1 .*', 2);
    main::wsc_open('B', main::ws_handshake('/ws') . main::ws_frame('text', 'pub room anyone'));
    main::ws_link_wait('> PUBLISH .*', 2);
    select(undef, undef, undef, 0.2);
}
--- request
GET /status
--- response_body_filters eval
sub { main::channel_metrics($_[0], qw(channels subscriptions unrouted)) }
--- response_body
channels 0
subscriptions 0
unrouted 1
--- link_log
> SUBSCRIBE s1 channel=room
CLOSE s1 code=1000 .*
> PUBLISH channel=room text anyone



=== TEST 8: PUBLISH to a channel no one holds: nothing breaks, the link stays, the session goes on
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'pub nobody x'),
 ::ws_frame('text', 'hello'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: hello | close: 1000
--- link_log
> PUBLISH channel=nobody text x
MESSAGE s1 text hello
> SEND s1 text hello
--- no_link_log
(LINK 2 open|ERROR .*|GONE .*)
--- no_error_log
[error]
[alert]



=== TEST 9: REFUSED code 1 (over ws_gateway_channel_max_length 4) and code 2 (over ws_gateway_session_channels 2); a SUBSCRIBE of a channel held is a no-op; the session goes on
--- config
    location /small {
        ws_gateway_pass backend;
        ws_gateway_channel_max_length 4;
        ws_gateway_session_channels 2;
    }
--- raw_request eval
[::ws_handshake('/small') . ::ws_frame('text', 'sub:abcde')
 . ::ws_frame('text', 'sub:abcd') . ::ws_frame('text', 'sub:b')
 . ::ws_frame('text', 'sub:abcd') . ::ws_frame('text', 'sub:c'),
 ::ws_frame('text', 'pub abcd yes') . ::ws_frame('text', 'pub c no'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n"
      . main::refused_lines('REFUSED s1 command=0x30 code=2') }
--- response_body
text: sub abcde | text: sub abcd | text: sub b | text: sub abcd | text: sub c | text: yes | close: 1000
REFUSED s1 command=0x30 code=1
REFUSED s1 command=0x30 code=2
--- link_log
> SUBSCRIBE s1 channel=abcde
> SUBSCRIBE s1 channel=c
REFUSED s1 command=0x30 code=1
REFUSED s1 command=0x30 code=2



=== TEST 10: REFUSED code 3 with ws_gateway_session_channels 0; a PUBLISH to that channel reaches no one
--- config
    location /nochan {
        ws_gateway_pass backend;
        ws_gateway_session_channels 0;
    }
--- raw_request eval
[::ws_handshake('/nochan') . ::ws_frame('text', 'sub:a'),
 ::ws_frame('text', 'pub a no') . ::ws_frame('text', 'x'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: sub a | text: x | close: 1000
--- link_log
> SUBSCRIBE s1 channel=a
REFUSED s1 command=0x30 code=3



=== TEST 11: SUBSCRIBE and UNSUBSCRIBE for a session unknown on the link get GONE; the session that triggered them goes on
--- link_script
on message "ghost": subscribe-to 12345 "x"; unsubscribe-to 12345 "x"; send text "after"
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'ghost'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: after | close: 1000
--- link_log
> SUBSCRIBE #12345 channel=x
> UNSUBSCRIBE #12345 channel=x
GONE #12345 command=0x30
GONE #12345 command=0x31
--- no_link_log
(REFUSED|ERROR) .*



=== TEST 12: a SUBSCRIBE with an empty channel: ERROR 1, the link is reset; the session is re-announced on the new link with its channel, the client notices nothing
--- link_script eval
$main::Script . qq{on message "empty": raw 00 00 00 0a 30 00 sid\n}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room'),
 ::ws_frame('text', 'empty'), ::ws_frame('text', 'hi'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: sub room | text: hi | close: 1000
--- link_log
> SUBSCRIBE s1 channel=room
> RAW 0000000a3000[0-9a-f]{16}
ERROR code=1 text=.*
LINK 1 eof
LINK 2 open
OPEN s1 flags=1 .*\bchannel=room\b.*
MESSAGE s1 text hi
> SEND s1 text hi
CLOSE s1 code=1000 by=0 reason=
--- error_log eval
qr/\(upstream "backend"\) reset: /



=== TEST 13: a SUBSCRIBE with a channel of 256 bytes: ERROR 1, reset; the session survives
--- link_script eval
$main::Script . qq{on message "long": subscribe "x"*256\n}
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'long'), ::ws_frame('text', 'hi'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: hi | close: 1000
--- link_log
> SUBSCRIBE s1 channel=x{256}
ERROR code=1 text=.*
LINK 2 open
OPEN s1 flags=1 .*
> SEND s1 text hi



=== TEST 14: a PUBLISH with a channel of 0 bytes: ERROR 1, reset; the session survives
--- link_script eval
$main::Script . qq{on message "nochan": raw 00 00 00 05 32 00 00 00 "x"\n}
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'nochan'), ::ws_frame('text', 'hi'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: hi | close: 1000
--- link_log
> RAW 000000053200000078
ERROR code=1 text=.*
LINK 2 open
OPEN s1 flags=1 .*
> SEND s1 text hi



=== TEST 15: a text PUBLISH that is not UTF-8: ERROR 1, reset; the subscriber does not get it, and survives
--- link_script eval
$main::Script . qq{on message "bad": raw 00 00 00 0a 32 00 00 04 "room" ff fe\n}
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room'),
 ::ws_frame('text', 'bad'), ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: sub room | text: hi | close: 1000
--- link_log
> RAW 0000000a32000004726f6f6dfffe
ERROR code=1 text=.*
LINK 2 open
OPEN s1 flags=1 .*channel=room.*
> SEND s1 text hi
--- error_log eval
qr/\(upstream "backend"\) reset: .*UTF-8/



=== TEST 16: ws_gateway_channel_max_length 0 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_channel_max_length 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_channel_max_length"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 17: ws_gateway_channel_max_length 256 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_channel_max_length 256;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_channel_max_length"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 18: ws_gateway_session_channels 65536 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_session_channels 65536;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_session_channels"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 19: ws_gateway_session_channels abc is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_session_channels abc;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_session_channels"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 20: ws_gateway_fanout_slice 0 is refused
--- http_config eval
"ws_gateway_fanout_slice 0;\n" . $main::HttpConfig
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_fanout_slice"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 21: ws_gateway_fanout_slice in a location is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_fanout_slice 10;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_fanout_slice" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 22: ws_gateway_subscribe without a channel is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subscribe;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_subscribe"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 23: the channel directives at their limits are accepted (ws_gateway_channel_max_length 1 and 255, ws_gateway_session_channels 0 and 65535, ws_gateway_fanout_slice 1, ws_gateway_subscribe with variables)
--- http_config eval
"ws_gateway_fanout_slice 1;\n" . $main::HttpConfig
--- config
    location /a {
        ws_gateway_pass backend;
        ws_gateway_channel_max_length 1;
        ws_gateway_session_channels 0;
    }

    location /b {
        ws_gateway_pass backend;
        ws_gateway_channel_max_length 255;
        ws_gateway_session_channels 65535;
        ws_gateway_subscribe room:$arg_room;
        ws_gateway_subscribe $ws_gateway_jwt_claim_sub;
    }

    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
