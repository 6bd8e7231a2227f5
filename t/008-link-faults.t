# Backend links that go wrong, and how sessions are spread
# (docs/protocol.md sections 3, 8; docs/ngx_ws_gateway_module.md,
# "Backend links"): a backend that stops reading (the send timeout, the
# link buffer), bad records (too large, not UTF-8, a second HELLO, a bad
# HELLO, a channel command), the backend's PING and ERROR, a reset that
# stays on its own link, down and backup servers, session ids, and the
# configuration checks of the link directives.
#
# Unless a block says otherwise it uses $HttpConfig and $Config below,
# and its --- init waits until the backend has answered the gateway's
# HELLO, so that the link is up when the handshake comes.  Blocks with
# two backends use t::WsLink's --- link_script2 (on
# $TEST_NGINX_LINK_PORT2); a "down" server is 127.0.0.1:1, where nothing
# listens.
use t::WsGateway;
use t::WsLink;

repeat_each(1);

# (before blocks() is called: the --- init eval sections use them)
our $WaitLink = "main::ws_link_wait('> HELLO .*', 3)"
                . " && select(undef, undef, undef, 0.1);";

# what a client that sends 6 MB (384 binary messages of 16 KB) writes at
# once: more than the kernel's socket buffers of a link can take
# (tcp_wmem's maximum is 4 MB by default)
our $Flood = ::ws_frame('binary', 'x' x 16384) x 384;

# a client of its own, for a second session beside the block's request:
# connects, writes $request, reads until the 101's header and $frames
# whole server frames are in (at most $wait seconds); returns the socket
# (left open) and the server's frames as ::ws_decode lines.
sub link_client {
    my ($request, $frames, $wait) = @_;

    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', Proto => 'tcp', Timeout => 2,
        PeerPort => Test::Nginx::Util::server_port_for_client())
        or return (undef, "error: connect: $!\n");

    syswrite($s, $request);

    my $data = '';
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + (defined $wait ? $wait : 2);

    while (1) {
        my $body = $data =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
        last if defined $body && count_frames($body) >= $frames;

        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $data, 65536, length $data);
        last unless $n;
    }

    my ($head, $body) = $data =~ /\A(.*?\r\n\r\n)(.*)\z/s
        or return ($s, "error: no response header: \"$data\"\n");

    return ($s, $body) if $head !~ m{^HTTP/1\.1 101 };
    return ($s, $body);
}


# the number of whole (unmasked, server) frames in $data
sub count_frames {
    my ($data) = @_;

    my $n = 0;

    while (length $data >= 2) {
        my $len = ord(substr $data, 1, 1) & 0x7f;
        my $hdr = 2;

        if ($len == 126) {
            last if length $data < 4;
            $len = unpack('n', substr $data, 2, 2);
            $hdr = 4;

        } elsif ($len == 127) {
            last if length $data < 10;
            $len = unpack('Q>', substr $data, 2, 8);
            $hdr = 10;
        }

        last if length $data < $hdr + $len;
        substr($data, 0, $hdr + $len) = '';
        $n++;
    }

    return $n;
}


# the 8-byte payloads of the binary frames in $data, as u64 numbers
sub binary_ids {
    my ($data) = @_;

    my @ids;

    while (length $data >= 2) {
        my ($b0, $len) = unpack('CC', $data);
        $len &= 0x7f;
        last if $len > 125 || length $data < 2 + $len;
        push @ids, unpack('Q>', substr $data, 2, 8)
            if ($b0 & 0x0f) == 2 && $len == 8;
        substr($data, 0, 2 + $len) = '';
    }

    return @ids;
}


# what a session id says: "ok" when it is not 0 and its time (the top 41
# bits, ms since 2026-01-01T00:00:00Z) is within a minute of now and its
# worker slot (the next 10 bits) is 0
sub check_id {
    my ($id) = @_;

    return 'missing' unless defined $id;
    return 'zero' if $id == 0;

    my $ms = $id >> 23;
    my $slot = ($id >> 13) & 0x3ff;
    my $now = (Time::HiRes::time() - 1767225600) * 1000;

    return "time $ms is not now ($now)" if abs($now - $ms) > 60000;
    return "slot $slot" if $slot != 0;
    return 'ok';
}


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
        ws_gateway_link_max_message 1k;
    }
_EOC_

our $Config = <<'_EOC_';
    location /ws {
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

=== TEST 1: a backend that stops reading: after ws_gateway_link_send_timeout the link is reset ("writes made no progress"), the session gets 1011
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_buffer 32m;
        ws_gateway_link_send_timeout 1s;
        ws_gateway_link_read_timeout 5s;
        ws_gateway_link_heartbeat 200ms;
    }
--- link_script
rcvbuf 4096
on open: stop-reading
--- raw_request eval
[::ws_handshake('/ws'), $main::Flood, ::ws_close_frame(1000)]
--- raw_request_middle_delay: 1.5
--- timeout: 4
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
OPEN s1 .*
LINK 1 stop-reading
LINK 2 open
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) reset: writes made no progress for 1000ms, \d+ bytes queued/
--- no_error_log
backend link buffer is full



=== TEST 2: a backend that stops reading for 2 s, with ws_gateway_link_buffer 64k (watermarks 48k and 16k under it): the session is paused, not closed 1013 "backend busy"; the link stays and the session closes normally
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_buffer 64k;
        ws_gateway_link_high_watermark 48k;
        ws_gateway_link_low_watermark 16k;
        ws_gateway_link_send_timeout 10s;
        ws_gateway_link_read_timeout 10s;
    }
--- link_script
rcvbuf 4096
on open: stop-reading 2
on message *: ignore
--- raw_request eval
[::ws_handshake('/ws'), $main::Flood, ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.5
--- timeout: 10
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- link_log
LINK 1 stop-reading 2
LINK 1 resume-reading
CLOSE s1 code=1000 by=0 reason=
--- no_error_log
backend link buffer is full
reset:



=== TEST 3: a SEND with length 2000 over max_record (ws_gateway_link_max_message 1k: 1536): ERROR 3 "record too large", the link is reset
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "big": raw 00 00 07 d0 20 00 sid "x"*1990
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'big'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
HELLO version=1 caps=1 max_record=1536 .*
MESSAGE s1 text big
> RAW 000007d02000.*
ERROR code=3 text=.*
LINK 1 eof
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) reset: record too large/



=== TEST 4: a text SEND that is not UTF-8 (ff fe): ERROR 1, reset "not UTF-8"
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "bad": raw 00 00 00 0c 20 00 sid ff fe
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'bad'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> RAW 0000000c2000[0-9a-f]{16}fffe
ERROR code=1 text=.*
LINK 1 eof
--- error_log eval
qr/\(upstream "backend"\) reset: .*not UTF-8/



=== TEST 5: a second HELLO from the backend: ERROR 5, reset "a second HELLO"
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "hello": raw 00 00 00 0c 01 00 00 01 00 00 00 00 00 01 00 00
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'hello'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> RAW 0000000c010000010000000000010000
ERROR code=5 text=.*
LINK 1 eof
--- error_log eval
qr/\(upstream "backend"\) reset: a second HELLO/



=== TEST 6: a backend HELLO with version 2: ERROR 2, the reset names the version, no session can start
--- link_script
hello version 2
--- init
main::ws_link_wait('> HELLO .*', 3);
select(undef, undef, undef, 0.3);
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 503
--- link_log
> HELLO version=2 .*
ERROR code=2 text=.*
LINK 1 eof
--- no_link_log
OPEN .*
--- error_log eval
qr/\(upstream "backend"\) reset: .*version 2/



=== TEST 7: a backend HELLO with max_record 1000 (below 1024): the link is reset, no session can start
--- link_script
hello max_record 1000
--- init
main::ws_link_wait('> HELLO .*', 3);
select(undef, undef, undef, 0.3);
--- raw_request eval
::ws_handshake('/ws')
--- timeout: 0.5
--- abort
--- error_code: 503
--- link_log
> HELLO version=1 caps=0 max_record=1000 .*
ERROR code=1 text=.*
LINK 1 eof
--- no_link_log
OPEN .*
--- error_log eval
qr/\(upstream "backend"\) reset: .*max_record.* below 1024/



=== TEST 8: a backend with max_record 1024: a client message of 2000 bytes (in two fragments) does not fit: that session is closed with 1009, the link stays
--- link_script
hello max_record 1024
--- raw_request eval
[::ws_handshake('/ws'),
 ::ws_frame('binary', 'x' x 1000, fin => 0) . ::ws_frame('cont', 'y' x 1000),
 ::ws_close_frame(1009)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1009(?: [^\n]*)?\n\z/
--- link_log
> HELLO version=1 caps=0 max_record=1024 .*
OPEN s1 .*
CLOSE s1 code=1009 by=1 reason=.*
--- no_link_log
MESSAGE .*
LINK 1 eof
--- no_error_log
[error]



=== TEST 9: SUBSCRIBE (0x30) from a backend whose HELLO did not set CHANNELS is accepted (the bit is informational): a PUBLISH to the channel reaches the session, the link stays
--- link_script
on message "sub": raw 00 00 00 10 30 00 sid "room:1"; publish "room:1" text "got it"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'sub'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: got it
close: 1000
--- link_log
> RAW 0000001030.*
> PUBLISH channel=room:1 text got it
CLOSE s1 code=1000 by=0 reason=
--- no_link_log
ERROR .*
--- no_error_log
reset:



=== TEST 10: the backend's PING: the gateway answers PONG with the same 8 bytes
--- link_script
log-opaque
on hello: raw 00 00 00 0a 02 00 01 02 03 04 05 06 07 08
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
> RAW 0000000a02000102030405060708
PONG 0102030405060708
--- no_error_log
[error]



=== TEST 11: an ERROR record from the backend: the link closes, its session gets 1011, the error log names it
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- link_script
on message "err": raw 00 00 00 07 04 00 00 01 "bad"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'err'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body_like eval
qr/\Aclose: 1011(?: [^\n]*)?\n\z/
--- link_log
> RAW 0000000704000001626164
LINK 1 eof
LINK 2 open
--- error_log eval
qr/\[error\] .*ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT} \(upstream "backend"\) got ERROR 1 from the backend: "bad"/



=== TEST 12: two links, one session on each: a bad record on one resets only that link; the other session's messages still echo
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_failover_timeout 0;
        ws_gateway_failover_close 1011;
    }
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 2;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 100ms 1s;
    }
--- link_script
on message "bad": raw 00 00 00 01 ff
--- init
main::wait_lines('> HELLO .*', 2);
select(undef, undef, undef, 0.1);
($main::A, $main::ABefore) = main::link_client(
    main::ws_handshake('/ws') . main::ws_frame('text', 'a1'), 1);
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'bad'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub {
    my ($b) = @_;
    my $after = '';
    if ($main::A) {
        my $sel = IO::Select->new($main::A);
        for my $frame (::ws_frame('text', 'a2'), ::ws_close_frame(1000)) {
            syswrite($main::A, $frame);
            my $want = main::count_frames($after) + 1;
            my $deadline = Time::HiRes::time() + 2;
            while (main::count_frames($after) < $want) {
                my $left = $deadline - Time::HiRes::time();
                last if $left <= 0 || !$sel->can_read($left);
                last unless sysread($main::A, $after, 4096, length $after);
            }
        }
        close $main::A;
    }
    my $out = "B: " . ::ws_decode($b) . "A: " . ::ws_decode($main::ABefore)
              . "A: " . ::ws_decode($after);
    $out =~ s/^(B: close: 1011) .*$/$1/m;
    $out =~ s/\n(?!\z)/ | /g;
    $out;
}
--- response_body
B: close: 1011 | A: text: a1 | A: text: a2 | close: 1000
--- link_log
OPEN s1 .*
MESSAGE s1 text a1
OPEN s2 .*
MESSAGE s2 text bad
ERROR code=1 text=.*
MESSAGE s1 text a2
> SEND s1 text a2
CLOSE s1 code=1000 by=0 reason=
--- grep_error_log eval
qr/\[error\]/
--- grep_error_log_out
[error]



=== TEST 13: down and backup: no link to the down server, sessions go to the primary while it is up
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        server 127.0.0.1:1 down;
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2 backup;
        ws_gateway_links 1;
    }
--- link_script
on open: send text "primary"
--- link_script2
on open: send text "backup"
--- init
main::wait_lines('> HELLO .*', 2);
select(undef, undef, undef, 0.2);
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: primary
close: 1000
--- link_log
LISTEN port2
LINK \d open port2
> SEND s1 text primary
--- no_link_log
> SEND .*backup.*
--- no_error_log eval
[qr/127\.0\.0\.1:1(?!\d)/, '[error]']



=== TEST 14: the primary is not listening: sessions go to the backup
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2 backup;
        ws_gateway_links 1;
        ws_gateway_link_backoff 1s;
    }
--- link_script
down
--- link_script2
on open: send text "backup"
--- raw_request eval
[::ws_handshake('/ws'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: backup
close: 1000
--- link_log
LINK 1 open port2
> SEND s1 text backup
--- no_link_log
LISTEN
--- error_log eval
qr/ws gateway link to 127\.0\.0\.1:$ENV{TEST_NGINX_LINK_PORT}: connect/



=== TEST 15: session ids: two sessions' ids differ, are not 0, and hold the time and the worker slot of the HELLO
--- link_script
on message "id": raw 00 00 00 12 20 01 sid sid
--- init eval
$main::WaitLink . q{
    my ($s, $frames) = main::link_client(
        main::ws_handshake('/ws') . main::ws_frame('text', 'id'), 1);
    ($main::IdA) = main::binary_ids($frames);
    close $s if $s;
}
--- raw_request eval
[::ws_handshake('/ws'), ::ws_frame('text', 'id'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
sub {
    my ($idb) = main::binary_ids($_[0]);
    "A: " . main::check_id($main::IdA) . "\nB: " . main::check_id($idb)
    . "\n" . (defined $main::IdA && defined $idb && $main::IdA != $idb
              ? "they differ\n" : "they do not differ\n");
}
--- response_body
A: ok
B: ok
they differ
--- link_log
HELLO version=1 .* worker=\d+:0 .*
OPEN s1 .*
> RAW 0000001220010.*
OPEN s2 .*



=== TEST 16: ws_gateway_link_send_timeout 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_send_timeout 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_send_timeout".* in \S+nginx\.conf:\d+/



=== TEST 17: ws_gateway_link_read_timeout 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_read_timeout 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_read_timeout".* in \S+nginx\.conf:\d+/



=== TEST 18: ws_gateway_link_heartbeat 0 is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_heartbeat 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_heartbeat".* in \S+nginx\.conf:\d+/



=== TEST 19: ws_gateway_link_buffer 1k (below 64k) is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_buffer 1k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_buffer".* in \S+nginx\.conf:\d+/



=== TEST 20: ws_gateway_link_backoff 1ms (below 10ms) is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_backoff 1ms;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_backoff".* in \S+nginx\.conf:\d+/



=== TEST 21: ws_gateway_link_param with a space in its name is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_param "bad name" x;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_param".* in \S+nginx\.conf:\d+/



=== TEST 22: ws_gateway_link_param with a name given twice in one level is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_param sub a;
        ws_gateway_link_param sub b;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_param".* in \S+nginx\.conf:\d+/



=== TEST 23: ws_gateway_link_max_message 2g (above 1g) is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_max_message 2g;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_max_message".* in \S+nginx\.conf:\d+/



=== TEST 24: ws_gateway_links 65 (above 64) is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 65;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_links".* in \S+nginx\.conf:\d+/



=== TEST 25: ws_gateway_links in a location is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_links 2;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_links" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 26: an ERROR instead of the backend's HELLO is logged with its text, and answered with nothing
--- link_script
hello error 2 "version 1 is not spoken here"
--- config
    location /ws {
        ws_gateway_pass backend;
    }
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_backoff 1s;
    }
--- request
GET /t
--- error_code: 404
--- wait: 0.3
--- error_log
got ERROR 2 from the backend before its HELLO: "version 1 is not spoken here"
--- no_link_log
^ERROR.*



=== TEST 27: weights: with weight=3 and weight=1, four sessions in a row go A, A, B, A (NGINX's smooth weighted round robin)
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT weight=3;
        server 127.0.0.1:$TEST_NGINX_LINK_PORT2 weight=1;
        ws_gateway_links 1;
    }
--- config
    location /ws {
        ws_gateway_pass backend;
    }
    location /t {
        return 200 "ok\n";
    }
--- link_script
on open: send text "A"
--- link_script2
on open: send text "B"
--- init
main::wait_lines('> HELLO .*', 2);
select(undef, undef, undef, 0.2);
for my $i (1 .. 4) {
    main::ws_link_status('/ws');
    main::ws_link_wait("> SEND s$i text .*", 2);
}
--- request
GET /t
--- response_body
ok
--- link_log
> SEND s1 text A
> SEND s2 text A
> SEND s3 text B
> SEND s4 text A
