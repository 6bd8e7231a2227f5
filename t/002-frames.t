# Frames (RFC 6455 section 5): echo of every size and kind, fragmentation
# with interleaved control frames, and every protocol violation, each
# answered with the exact close code (1002, 1007, 1009) before the
# connection is closed without waiting for the client.
use t::WsGateway;

repeat_each(1);

plan tests => repeat_each() * ::ws_count_checks(blocks());

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass builtin:echo;
    }

    location /small {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_frame_size 1k;
        ws_gateway_max_message_size 4k;
    }

    location /tiny {
        ws_gateway_pass builtin:echo;
        ws_gateway_buffer_size 256;
    }

    location /frame16 {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_frame_size 16;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => $Config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a text message is echoed
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'hello') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 2: a binary message is echoed byte for byte
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', "\x00\xff\x80\r\n\x7f") . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 6 bytes, md5 " . Digest::MD5::md5_hex("\x00\xff\x80\r\n\x7f")
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 3: an empty text message is echoed
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', '') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"text: \nclose: 1000\n"
--- no_error_log
[error]



=== TEST 4: an empty binary message is echoed
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', '') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 0 bytes
close: 1000
--- no_error_log
[error]



=== TEST 5: a 125-byte message comes back with a 7-bit length
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 125))
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 125 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 125))
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 6: a 126-byte message comes back with a 16-bit length
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 126))
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 126 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 126))
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 7: a 65535-byte message comes back with a 16-bit length
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65535))
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 65535 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65535))
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 8: a 65536-byte message comes back with a 64-bit length
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65536))
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 65536 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr(($_ * 7 + 3) % 256) } 1 .. 65536))
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 9: a 126-byte text message comes back whole, with a 16-bit length
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'a' x 100 . 'b' x 26) . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"text: " . "a" x 100 . "b" x 26 . "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 10: a 65536-byte message through a 256-byte read buffer
--- raw_request eval
::ws_handshake('/tiny')
. ::ws_frame('binary', CORE::join('', map { chr($_ % 251) } 1 .. 65536))
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode_md5
--- response_body eval
"binary: 65536 bytes, md5 "
. Digest::MD5::md5_hex(CORE::join('', map { chr($_ % 251) } 1 .. 65536))
. "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 11: frames split at every byte are reassembled
--- raw_request eval
my $f = ::ws_frame('text', "H\xe2\x82\xac", fin => 0) . ::ws_frame('ping', 'ping')
. ::ws_frame('cont', 'llo') . ::ws_frame('binary', 'x' x 200) . ::ws_close_frame(1000);
[::ws_handshake('/tiny'), CORE::split //, $f]
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"pong: ping\ntext: H\xe2\x82\xacllo\nbinary: 200 bytes\nclose: 1000\n"
--- raw_request_middle_delay: 0.001
--- no_error_log
[error]



=== TEST 12: a fragmented text message with a ping in the middle: pong first, then the message
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'Hel', fin => 0)
. ::ws_frame('ping', 'p1')
. ::ws_frame('cont', 'lo', fin => 0)
. ::ws_frame('cont', ' world')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
pong: p1
text: Hello world
close: 1000
--- no_error_log
[error]



=== TEST 13: a fragmented binary message with empty fragments is echoed as one frame
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('binary', '', fin => 0)
. ::ws_frame('cont', 'abc', fin => 0)
. ::ws_frame('cont', '', fin => 0)
. ::ws_frame('cont', 'de')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 5 bytes
close: 1000
--- no_error_log
[error]



=== TEST 14: a message of empty fragments is an empty message
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', '', fin => 0)
. ::ws_frame('cont', '')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"text: \nclose: 1000\n"
--- no_error_log
[error]



=== TEST 15: a ping is answered with a pong of the same payload
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('ping', 'are you there?') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
pong: are you there?
close: 1000
--- no_error_log
[error]



=== TEST 16: an empty ping gets an empty pong
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('ping', '') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
pong:
close: 1000
--- no_error_log
[error]



=== TEST 17: a ping of 125 bytes gets a pong of 125 bytes
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('ping', 'p' x 125) . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"pong: " . "p" x 125 . "\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 18: an unsolicited pong is ignored
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('pong', 'unsolicited') . ::ws_frame('text', 'a') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: a
close: 1000
--- no_error_log
[error]



=== TEST 19: valid UTF-8 split across fragments is accepted
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', "\xe2\x82", fin => 0)
. ::ws_frame('cont', "\xac \xf0\x9f", fin => 0)
. ::ws_frame('cont', "\x98\x80")
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"text: \xe2\x82\xac \xf0\x9f\x98\x80\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 20: UTF-8 boundaries: U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf")
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"text: \xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 21: invalid UTF-8 in a binary message is not checked
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('binary', "\xc0\xaf\xed\xa0\x80\xff") . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 6 bytes
close: 1000
--- no_error_log
[error]



=== TEST 22: a length in a longer form than needed (16 bits for 3 bytes) is accepted
--- raw_request eval
::ws_handshake('/ws') . ::ws_raw_frame(byte0 => 0x81, len7 => 126, payload => 'abc') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: abc
close: 1000
--- no_error_log
[error]



=== TEST 23: a length in a longer form than needed (64 bits for 3 bytes) is accepted
--- raw_request eval
::ws_handshake('/ws') . ::ws_raw_frame(byte0 => 0x82, len7 => 127, payload => 'abc') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 3 bytes
close: 1000
--- no_error_log
[error]



=== TEST 24: an unmasked client frame: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', 'bare', masked => 0)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: unmasked frame
--- no_error_log
[error]



=== TEST 25: RSV1 set on a text frame: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', 'x', rsv => [1, 0, 0])
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: RSV bits set
--- no_error_log
[error]



=== TEST 26: RSV2 set on a text frame: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', 'x', rsv => [0, 1, 0])
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: RSV bits set
--- no_error_log
[error]



=== TEST 27: RSV3 set on a text frame: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', 'x', rsv => [0, 0, 1])
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: RSV bits set
--- no_error_log
[error]



=== TEST 28: RSV1 set on a ping: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('ping', 'x', rsv => [1, 0, 0])
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1002
--- error_log
client sent invalid frame: RSV bits set
--- no_error_log
[error]



=== TEST 29: reserved opcode 0x3: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(3, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 30: reserved opcode 0x4: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(4, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 31: reserved opcode 0x5: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(5, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 32: reserved opcode 0x6: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(6, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 33: reserved opcode 0x7: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(7, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 34: reserved opcode 0xB: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(11, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 35: reserved opcode 0xC: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(12, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 36: reserved opcode 0xD: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(13, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 37: reserved opcode 0xE: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(14, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 38: reserved opcode 0xF: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame(15, 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: reserved opcode
--- no_error_log
[error]



=== TEST 39: a continuation frame without a message to continue: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('cont', 'x')
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: unexpected continuation frame
--- no_error_log
[error]



=== TEST 40: a continuation frame after a finished message: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'a', fin => 0)
. ::ws_frame('cont', 'b')
. ::ws_frame('cont', 'c')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ab
close: 1002
--- error_log
client sent invalid frame: unexpected continuation frame
--- no_error_log
[error]



=== TEST 41: a new text message inside a fragmented one: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'a', fin => 0)
. ::ws_frame('text', 'b')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1002
--- error_log
client sent invalid frame: data frame inside a fragmented message
--- no_error_log
[error]



=== TEST 42: a new binary message inside a fragmented text one: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'a', fin => 0)
. ::ws_frame('binary', 'b', fin => 0)
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1002
--- error_log
client sent invalid frame: data frame inside a fragmented message
--- no_error_log
[error]



=== TEST 43: a fragmented ping (fin = 0): 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('ping', 'x', fin => 0)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: fragmented control frame
--- no_error_log
[error]



=== TEST 44: a fragmented close (fin = 0): 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('close', "\x03\xe8", fin => 0)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1002
--- error_log
client sent invalid frame: fragmented control frame
--- no_error_log
[error]



=== TEST 45: a ping with a 126-byte payload: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('ping', 'p' x 126)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: control frame too long
--- no_error_log
[error]



=== TEST 46: a close with a 126-byte payload: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('close', pack('n', 1000) . 'r' x 124)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1002
--- error_log
client sent invalid frame: control frame too long
--- no_error_log
[error]



=== TEST 47: a 64-bit length with the most significant bit set: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_raw_frame(byte0 => 0x82, len7 => 127, len => 2 ** 63)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid frame: invalid length
--- no_error_log
[error]



=== TEST 48: a frame one byte over ws_gateway_max_frame_size: 1009
--- raw_request eval
::ws_handshake('/small')
. ::ws_frame('text', 'ok')
. ::ws_frame('binary', 'x' x 1025)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1009
--- error_log
client sent invalid frame: frame too big
--- no_error_log
[error]



=== TEST 49: a frame of exactly ws_gateway_max_frame_size is echoed
--- raw_request eval
::ws_handshake('/small') . ::ws_frame('binary', 'x' x 1024) . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 1024 bytes
close: 1000
--- no_error_log
[error]



=== TEST 50: a frame announcing 2^62 bytes: 1009 before any payload
--- raw_request eval
::ws_handshake('/small')
. ::ws_raw_frame(byte0 => 0x82, len7 => 127, len => 2 ** 62)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1009
--- error_log
client sent invalid frame: frame too big
--- no_error_log
[error]



=== TEST 51: a fragmented message of exactly ws_gateway_max_message_size is echoed
--- raw_request eval
::ws_handshake('/small')
. ::ws_frame('binary', 'a' x 1024, fin => 0)
. ::ws_frame('cont', 'b' x 1024, fin => 0)
. ::ws_frame('cont', 'c' x 1024, fin => 0)
. ::ws_frame('cont', 'd' x 1024)
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
binary: 4096 bytes
close: 1000
--- no_error_log
[error]



=== TEST 52: a fragmented message one byte over ws_gateway_max_message_size: 1009
--- raw_request eval
::ws_handshake('/small')
. ::ws_frame('binary', 'a' x 1024, fin => 0)
. ::ws_frame('cont', 'b' x 1024, fin => 0)
. ::ws_frame('cont', 'c' x 1024, fin => 0)
. ::ws_frame('cont', 'd' x 1024, fin => 0)
. ::ws_frame('cont', 'e')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1009
--- error_log
client sent invalid frame: message too big
--- no_error_log
[error]



=== TEST 53: invalid UTF-8 in a text message, an overlong 2-byte form (C0 AF): 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xc0\xaf")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 54: invalid UTF-8 in a text message, an overlong 3-byte form (E0 80 AF): 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xe0\x80\xaf")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 55: invalid UTF-8 in a text message, an overlong 4-byte form (F0 80 80 AF): 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xf0\x80\x80\xaf")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 56: invalid UTF-8 in a text message, a surrogate (ED A0 80): 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xed\xa0\x80")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 57: invalid UTF-8 in a text message, a code point above U+10FFFF (F4 90 80 80): 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xf4\x90\x80\x80")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 58: invalid UTF-8 in a text message, F5, never in UTF-8: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "\xf5\x80\x80\x80")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 59: invalid UTF-8 in a text message, a lone continuation byte: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "ab\x80cd")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 60: invalid UTF-8 in a text message, a sequence truncated at the end of the message: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('text', "abc\xe2\x82")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 61: invalid UTF-8 in a later fragment fails at once, not at the end of the message: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'hello', fin => 0)
. ::ws_frame('cont', "\xc3\x28", fin => 0)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 62: a sequence cut by the end of a fragmented message: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', "ab\xe2", fin => 0)
. ::ws_frame('cont', "\x82")
. ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1007
--- error_log
client sent invalid UTF-8 in a text message
--- no_error_log
[error]



=== TEST 63: a close frame with a 1-byte payload: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_frame('close', "\x03")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 64: close code 0 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(0)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 65: close code 999 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(999)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 66: close code 1004 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1004)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 67: close code 1005 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1005)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 68: close code 1006 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1006)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 69: close code 1015 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1015)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 70: close code 1016 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1016)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 71: close code 2999 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(2999)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 72: close code 5000 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(5000)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 73: close code 65535 is invalid: 1002
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(65535)
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1002
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 74: close code 1000 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(1000, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1000
--- no_error_log
[error]



=== TEST 75: close code 1001 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(1001, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1001
--- no_error_log
[error]



=== TEST 76: close code 1003 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(1003, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1003
--- no_error_log
[error]



=== TEST 77: close code 1011 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(1011, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1011
--- no_error_log
[error]



=== TEST 78: close code 3000 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(3000, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 3000
--- no_error_log
[error]



=== TEST 79: close code 4999 is valid and is answered with the same code
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'ok') . ::ws_close_frame(4999, 'bye')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 4999
--- no_error_log
[error]



=== TEST 80: a close reason that is not UTF-8: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_frame('text', 'ok')
. ::ws_close_frame(1000, "bye \xff")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: ok
close: 1007
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 81: a close reason cut in a UTF-8 sequence: 1007
--- raw_request eval
::ws_handshake('/ws')
. ::ws_close_frame(1000, "\xe2\x82")
. ::ws_frame('text', 'ignored') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1007
--- error_log
client sent invalid close frame
--- no_error_log
[error]



=== TEST 82: a close without payload is answered with a close without payload
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('close', '')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close:
--- no_error_log
[error]



=== TEST 83: data after the client's close frame is ignored
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000) . ::ws_frame('text', 'late') . ::ws_frame('ping', 'late')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 84: data after the client's close frame, in a later packet, is ignored
--- raw_request eval
[::ws_handshake('/ws') . ::ws_frame('text', 'a') . ::ws_close_frame(1000),
 ::ws_frame('text', 'late')]
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: a
close: 1000
--- raw_request_middle_delay: 0.05
--- no_error_log
[error]



=== TEST 85: ws_gateway_max_frame_size does not bound control frames: a 100-byte ping under a 16-byte limit gets its pong
--- raw_request eval
::ws_handshake('/frame16') . ::ws_frame('ping', 'p' x 100)
. ::ws_frame('text', 'sixteen bytes ok') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body eval
"pong: " . "p" x 100 . "\ntext: sixteen bytes ok\nclose: 1000\n"
--- no_error_log
[error]



=== TEST 86: a close with a 40-byte reason under a 16-byte frame limit closes normally
--- raw_request eval
::ws_handshake('/frame16') . ::ws_close_frame(1000, 'r' x 40)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 87: a data frame over the 16-byte limit is still 1009
--- raw_request eval
::ws_handshake('/frame16') . ::ws_frame('text', 's' x 17)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1009
--- no_error_log
[error]



=== TEST 88: the frame limit's default follows ws_gateway_max_message_size
--- config
    ws_gateway_max_message_size 512k;

    location /ws {
        ws_gateway_pass builtin:echo;
    }

    location /m16 {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_message_size 16;
    }
--- raw_request eval
::ws_handshake('/m16') . ::ws_frame('text', 'sixteen bytes ok')
. ::ws_frame('text', 's' x 17)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: sixteen bytes ok
close: 1009
--- no_error_log
[error]



=== TEST 89: a frame limit set outside is inherited, and checked against the inner message limit
--- config
    ws_gateway_max_frame_size 64k;

    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_message_size 32k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_max_frame_size" 65536 must not be greater than "ws_gateway_max_message_size" 32768 in \S+nginx\.conf:\d+/



=== TEST 90: ws_gateway_ping_interval 1ms is refused
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval 1ms;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_ping_interval" must be 0 \(off\) or from 100ms to 604800000ms in \S+nginx\.conf:\d+/



=== TEST 91: every session timer has the lower bound
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_close_timeout 99ms;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_close_timeout" must be from 100ms to 604800000ms in \S+nginx\.conf:\d+/



=== TEST 92: ws_gateway_status_log is 0 or at least 1s
--- http_config
    ws_gateway_status_log 10ms;
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_status_log" must be 0 \(off\) or from 1000ms to 604800000ms in \S+nginx\.conf:\d+/
