# Failover (issue 11): a session whose link is lost is re-announced on
# another link of its upstream (OPEN with REANNOUNCE, the same id, its
# channels, UNSENT and UNCONFIRMED), and its client notices nothing;
# with no link, it waits (its channels still get what other links
# publish) until ws_gateway_failover_timeout, then it is closed with
# ws_gateway_failover_close's code and "backend unavailable, retry in N
# ms"; a backend back in time gets it re-announced; timeout 0 is the old
# behaviour; the configuration checks.
#
# Two backends are t::WsLink's link_script (A) and link_script2 (B); a
# session may start on either, so the bodies name them "first" and
# "other".  Unless a block says otherwise it uses $HttpConfig, $Config
# and $ScriptA / $ScriptB below, and its --- init waits until both
# backends have answered the gateway's HELLO.
use t::WsGateway;
use t::WsLink;
use t::WsClients;

use Time::HiRes ();

repeat_each(1);

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

our $WaitTwo = "main::wait_lines('> HELLO .*', 2)"
               . " && select(undef, undef, undef, 0.2);";
our $WaitLink = "main::ws_link_wait('> HELLO .*', 3)"
                . " && select(undef, undef, undef, 0.1);";

# what each backend answers names it (A or B); "die" closes its link;
# "pub" publishes to "room"
sub script {
    my ($me) = @_;

    return <<"_EOS_";
on message /^sub:(.+)\$/: subscribe "\$1"; send text "$me sub \$1"
on message "die": hangup
on message "pub": publish "room" text "$me to room"
on message /^(.*)\$/: send text "$me \$1"
_EOS_
}

our $ScriptA = script('A');
our $ScriptB = script('B');

# "A ..." / "B ...": the backend a session started on is "first", the
# other "other"
sub first_other {
    my ($text) = @_;

    my ($first) = $text =~ /\btext: ([AB]) /;
    return $text unless $first;

    my $other = $first eq 'A' ? 'B' : 'A';
    $text =~ s/\btext: $first /text: first /g;
    $text =~ s/\btext: $other /text: other /g;

    return $text;
}

# the close frame of a decoded body, with "retry in N ms" checked
# against $window ms
sub retry_close {
    my ($decoded, $window) = @_;

    my ($close) = $decoded =~ /(close: [^|]*?)\s*(?:\||$)/;
    return "no close frame in: $decoded\n" unless defined $close;

    if ($close =~ s/retry in (\d+) ms$/retry in N ms/) {
        $close .= $1 <= $window ? " (N <= $window)" : " (N = $1 > $window)";
    }

    return "$close\n";
}

our $HttpConfig = <<'_EOC_';
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2;
        ws_gateway_links 1;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_read_timeout 10s;
        ws_gateway_link_backoff 1s;
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

# one server, one link, reconnecting soon
our $OneLink = <<'_EOC_';
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 100ms 200ms;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;
    $block->set_value(link_script => $ScriptA)
        unless defined $block->link_script;

    my $two = ($block->http_config // '') =~ /LINK_PORT2/;

    $block->set_value(link_script2 => $ScriptB)
        if $two && !defined $block->link_script2;

    $block->set_value(init => $two ? $WaitTwo : $WaitLink)
        unless defined $block->init || defined $block->must_die;
});

# (after the variables: the eval sections of the blocks use them)
plan tests => repeat_each() * ::ws_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: the backend of a session closes its link: the session is re-announced on the other backend (same id, its channel, UNSENT 0), the client keeps its connection, its next message and a PUBLISH to its channel come from the other backend
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'sub:room') . ::ws_frame('text', 'x'),
 ::ws_frame('text', 'die'), ::ws_frame('text', 'y') . ::ws_frame('text', 'pub'),
 ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body_filters eval
sub { main::first_other(::wsc_decode($_[0])) . "\n" }
--- response_body
text: first sub room | text: first x | text: other y | text: other to room | close: 1000
--- link_log
OPEN s1 flags=0 .*
> SUBSCRIBE s1 channel=room
MESSAGE s1 text die
LINK \d hangup
OPEN s1 flags=1 remote=127\.0\.0\.1:\d+ uri=/ws(?=.* channel=room(?: |$))(?=.* unsent=0(?: |$))(?=.* unconfirmed=\d+(?: |$)).*
MESSAGE s1 text y
CLOSE s1 code=1000 by=0 reason=
--- no_link_log
OPEN s1 flags=1 .* channel=room .*channel=room.*
OPEN s2 .*
--- no_error_log
[alert]



=== TEST 2: ws_gateway_links 2 to one backend, a malformed record on a session's link: ERROR 1, that link is reset, the session is re-announced on the other link at once and its next message goes there
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 2;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 1s;
    }
--- link_script
log-links
on message "bad": raw 00 00 00 01 ff
--- init
main::wait_lines('L\d > HELLO .*', 2);
select(undef, undef, undef, 0.2);
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'x'), ::ws_frame('text', 'bad'),
 ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub {
    my @log = t::WsLink::read_log();
    my ($first) = map { /^L(\d+) OPEN s1 flags=0 / ? $1 : () } @log;
    my ($again) = map { /^L(\d+) OPEN s1 flags=1 / ? $1 : () } @log;
    my ($hi) = map { /^L(\d+) MESSAGE s1 text hi$/ ? $1 : () } @log;
    ::wsc_decode($_[0]) . "\n"
    . "re-announced on the other link: "
    . (defined $first && defined $again && $again != $first
       && $again <= 2 ? 'yes' : 'no') . "\n"
    . "next message there: "
    . (defined $hi && defined $again && $hi == $again ? 'yes' : 'no') . "\n"
}
--- response_body
text: x | text: hi | close: 1000
re-announced on the other link: yes
next message there: yes
--- link_log
L\d MESSAGE s1 text bad
L\d ERROR code=1 text=.*
L\d OPEN s1 flags=1 .*
L\d > SEND s1 text hi
--- error_log eval
qr/\(upstream "backend"\) reset: /



=== TEST 3: UNCONFIRMED: a backend that never answers PING loses its link; the client messages written to it since (all three) are UNCONFIRMED, none UNSENT
--- link_script eval
"pong none\n" . $main::ScriptA
--- link_script2 eval
"pong none\n" . $main::ScriptB
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'a') . ::ws_frame('text', 'b'),
 ::ws_frame('text', 'die'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.4
--- error_code: 101
--- response_body_filters eval
sub { main::first_other(::wsc_decode($_[0])) . "\n" }
--- response_body
text: first a | text: first b | close: 1000
--- link_log
MESSAGE s1 text die
OPEN s1 flags=1 (?=.* unsent=0(?: |$))(?=.* unconfirmed=3(?: |$)).*



=== TEST 4: no other link: after ws_gateway_failover_timeout 500ms the client gets 1013 (the default code) "backend unavailable, retry in N ms", N within the default window (10 s)
--- http_config eval
$main::OneLink
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 500ms;
    }

    location /status {
        ws_gateway_status;
    }
--- link_script
on message "die": unlisten; hangup
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'die'), 0, 1);
    main::ws_link_wait('LINK 1 hangup', 2);
    my $t0 = Time::HiRes::time();
    $main::Got = main::wsc_read('A', 1, 3);
    $main::After = Time::HiRes::time() - $t0;
}
--- request
GET /status
--- response_body_filters eval
sub { main::retry_close($main::Got, 10000)
      . "after the timeout: " . ($main::After >= 0.4 ? 'yes' : "no ($main::After s)") . "\n"
      . "soon after: " . ($main::After < 2 ? 'yes' : "no ($main::After s)") . "\n" }
--- response_body
close: 1013 backend unavailable, retry in N ms (N <= 10000)
after the timeout: yes
soon after: yes
--- link_log
UNLISTEN
LINK 1 hangup
--- no_link_log
OPEN s1 flags=1 .*
CLOSE s1 .*



=== TEST 5: ws_gateway_failover_close 1011 1s: that code, and N within 1000 ms
--- http_config eval
$main::OneLink
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 500ms;
        ws_gateway_failover_close 1011 1s;
    }
--- link_script
on message "die": unlisten; hangup
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'die'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 1.5
--- timeout: 3
--- error_code: 101
--- response_body_filters eval
sub { main::retry_close(::wsc_decode($_[0]), 1000) }
--- response_body
close: 1011 backend unavailable, retry in N ms (N <= 1000)



=== TEST 6: the backend is back before the timeout: the session is re-announced, a message the client sent meanwhile is delivered after the OPEN, no close
--- http_config eval
$main::OneLink
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 5s;
    }
--- link_script
on message "die": unlisten 0.5; hangup
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'die'), ::ws_frame('text', 'held'),
 ::ws_frame('text', 'after'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.6
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
sub { ::wsc_decode($_[0]) . "\n" }
--- response_body
text: held | text: after | close: 1000
--- link_log
UNLISTEN
LINK 1 hangup
LISTEN
LINK 2 open
OPEN s1 flags=1 .*
MESSAGE s1 text held
MESSAGE s1 text after
CLOSE s1 code=1000 by=0 reason=
--- no_link_log
CLOSE s1 code=(?!1000).*



=== TEST 7: a waiting session keeps its channels: a PUBLISH from another upstream's link reaches it; the status counts it orphaned
--- http_config eval
$main::OneLink . <<'_EOC_';
    upstream other {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2;
        ws_gateway_links 1;
        ws_gateway_link_backoff 100ms 200ms;
    }
_EOC_
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_subscribe room;
        ws_gateway_failover_timeout 5s;
    }

    location /other {
        ws_gateway_pass other;
    }

    location /status {
        ws_gateway_status;
    }
--- link_script
on message "die": unlisten; hangup
--- init eval
q{
    main::wait_lines('> HELLO .*', 2);
    select(undef, undef, undef, 0.2);
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'die'), 0, 1);
    main::ws_link_wait('LINK \d+ hangup', 2);
    select(undef, undef, undef, 0.2);
    $main::Status = main::wsc_get('/status');
}
--- raw_request eval
[::ws_handshake('/other') . ::ws_frame('text', 'pub'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { "C: " . ::wsc_decode($_[0]) . "\nA: " . ::wsc_read('A', 1)
      . "\norphaned " . ($main::Status =~ /"orphaned":(\d+)/ ? $1 : 'missing')
      . "\n" }
--- response_body
C: close: 1000
A: text: B to room
orphaned 1
--- link_log
LINK \d+ hangup
> PUBLISH channel=room text B to room



=== TEST 8: ws_gateway_failover_timeout 0 (with ws_gateway_failover_close 1011): the session is closed at once with 1011, as before
--- http_config eval
$main::OneLink
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }

    location /status {
        ws_gateway_status;
    }
--- link_script
on message "die": hangup
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/ws') . main::ws_frame('text', 'die'), 0, 1);
    main::ws_link_wait('LINK 1 hangup', 2);
    my $t0 = Time::HiRes::time();
    $main::Got = main::wsc_read('A', 1, 3);
    $main::After = Time::HiRes::time() - $t0;
}
--- request
GET /status
--- response_body_filters eval
sub { my ($c) = $main::Got =~ /^(close: \d+)/;
      ($c // "no close: $main::Got") . "\n"
      . "at once: " . ($main::After < 0.3 ? 'yes' : "no ($main::After s)") . "\n" }
--- response_body
close: 1011
at once: yes
--- no_link_log
OPEN s1 flags=1 .*



=== TEST 9: ws_gateway_failover_timeout 0 alone: closed at once with ws_gateway_failover_close's default code, 1013
--- http_config eval
$main::OneLink
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
    }
--- link_script
on message "die": hangup
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'die'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { my ($c) = ::wsc_decode($_[0]) =~ /(close: \d+)/; ($c // 'no close') . "\n" }
--- response_body
close: 1013



=== TEST 10: ws_gateway_failover_close 1012 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_close 1012;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_failover_close"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 11: ws_gateway_failover_close 1013 abc is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_close 1013 abc;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_failover_close"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 12: ws_gateway_failover_timeout abc is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout abc;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_failover_timeout"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 13: ws_gateway_failover_hold abc is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_hold abc;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_failover_hold"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 14: the failover directives with good values are accepted
--- config
    location /a {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
        ws_gateway_failover_hold 0;
    }

    location /b {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 30s;
        ws_gateway_failover_close 1013 1m;
        ws_gateway_failover_hold 1m;
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



=== TEST 15: a re-announce the backend never confirmed (its link lost before a PONG): the next re-announce says its UNCONFIRMED again, with what was sent since (3 + 2)
--- link_script eval
"pong none\n" . $main::ScriptA
--- link_script2 eval
"pong none\n" . $main::ScriptB
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'a') . ::ws_frame('text', 'b'),
 ::ws_frame('text', 'die'), ::ws_frame('text', 'c'), ::ws_frame('text', 'die'),
 '', '', ::ws_frame('text', 'x'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.4
--- timeout: 6
--- error_code: 101
--- response_body_filters eval
sub { main::first_other(::wsc_decode($_[0])) . "\n" }
--- response_body
text: first a | text: first b | text: other c | text: first x | close: 1000
--- link_log
MESSAGE s1 text die
OPEN s1 flags=1 (?=.* unsent=0(?: |$))(?=.* unconfirmed=3(?: |$)).*
MESSAGE s1 text c
MESSAGE s1 text die
OPEN s1 flags=1 (?=.* unsent=0(?: |$))(?=.* unconfirmed=5(?: |$)).*
MESSAGE s1 text x
