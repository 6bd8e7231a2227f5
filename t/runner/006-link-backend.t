# Self-test of t::WsLink, the scripted link backend, with stock nginx: a
# tiny Perl "gateway" (gw below, run from --- init) talks to the backend
# over real links, its transcript replaces the response body, and the
# backend's link.log is checked with --- link_log / --- no_link_log.
# The gateway encodes and decodes records itself (not with t::WsLink's
# code), after docs/protocol.md.
use Test::Nginx::Socket;
use t::WsFrames;
use t::WsLink;

use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes ();

repeat_each(1);

plan tests => repeat_each() * ::ws_count_checks(blocks()) + 1;


# gw(STEP, ...): each step a string; what the gateway reads is returned,
# one line each.
#   connect             a new link (the current one from now on)
#   link N              make link N (1, 2, ...) the current one
#   hello               the gateway's HELLO: version 1, NAME gw1,
#                       HEARTBEAT 5000
#   ping N | open ID URI | message ID text|binary DATA (binary in hex)
#   close ID CODE BY REASON | gone ID TYPE | raw HEX
#   reopen ID URI CHANNEL...   OPEN with REANNOUNCE: REMOTE, URI, a
#                       CHANNEL field each, DROPPED 3, UNSENT 1,
#                       UNCONFIRMED 2
#   refused ID TYPE CODE | dropped ID COUNT
#   read [S]            one record (waits S seconds, 1 by default)
#   late S              the time since the last hello, "late" if >= S
#   sleep S
sub gw {
    my (@steps) = @_;

    my (@links, $cur, @out, $hello_at);
    my $port = $ENV{TEST_NGINX_LINK_PORT};

    my $rec = sub {
        my ($type, $flags, $body) = @_;
        return pack('NCC', 2 + length $body, $type, $flags) . $body;
    };

    my $write = sub {
        my ($bytes) = @_;
        return push @out, 'no link' unless $cur;
        syswrite($cur->{sock}, $bytes) == length $bytes
            or push @out, "write failed: $!";
    };

    for my $step (@steps) {
        my ($op, @a) = split ' ', $step;

        if ($op eq 'connect') {
            my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                             PeerPort => $port,
                                             Proto => 'tcp');
            if (!$sock) {
                push @out, 'connect failed';
                next;
            }
            $cur = { sock => $sock, buf => '' };
            push @links, $cur;

        } elsif ($op eq 'link') {
            $cur = $links[$a[0] - 1];

        } elsif ($op eq 'hello') {
            $hello_at = Time::HiRes::time();
            $write->($rec->(0x01, 0, pack('nNN', 1, 0, 1049088)
                                     . pack('Cn', 0x01, 3) . 'gw1'
                                     . pack('CnN', 0x04, 4, 5000)));

        } elsif ($op eq 'ping') {
            $write->($rec->(0x02, 0, pack('Q>', $a[0])));

        } elsif ($op eq 'open') {
            $write->($rec->(0x10, 0, pack('Q>', $a[0])
                                     . pack('Cn', 0x10, 15) . '127.0.0.1:50312'
                                     . pack('Cn', 0x11, length $a[1]) . $a[1]
                                     . pack('CnC', 0x13, 9, 3) . 'subalice'));

        } elsif ($op eq 'reopen') {
            my ($id, $uri, @chans) = @a;
            $write->($rec->(0x10, 1, pack('Q>', $id)
                                     . pack('Cn', 0x10, 15) . '127.0.0.1:50312'
                                     . pack('Cn', 0x11, length $uri) . $uri
                                     . join('', map { pack('Cn', 0x14,
                                                           length $_) . $_ }
                                                    @chans)
                                     . pack('CnN', 0x15, 4, 3)
                                     . pack('CnN', 0x16, 4, 1)
                                     . pack('CnN', 0x17, 4, 2)));

        } elsif ($op eq 'refused') {
            $write->($rec->(0x14, 0, pack('Q>CC', $a[0], hex $a[1], $a[2])));

        } elsif ($op eq 'dropped') {
            $write->($rec->(0x15, 0, pack('Q>N', $a[0], $a[1])));

        } elsif ($op eq 'message') {
            my $data = $a[1] eq 'binary' ? pack('H*', $a[2]) : $a[2];
            $write->($rec->(0x11, $a[1] eq 'binary' ? 1 : 0,
                            pack('Q>', $a[0]) . $data));

        } elsif ($op eq 'close') {
            $write->($rec->(0x12, 0, pack('Q>nC', $a[0], $a[1], $a[2])
                                     . $a[3]));

        } elsif ($op eq 'gone') {
            $write->($rec->(0x13, 0, pack('Q>C', $a[0], hex $a[1])));

        } elsif ($op eq 'raw') {
            $write->(pack('H*', join '', @a));

        } elsif ($op eq 'sleep') {
            Time::HiRes::sleep($a[0]);

        } elsif ($op eq 'late') {
            push @out, Time::HiRes::time() - $hello_at >= $a[0]
                       ? 'late' : 'early';

        } elsif ($op eq 'read') {
            push @out, _gw_read($cur, defined $a[0] ? $a[0] : 1);

        } else {
            die "gw: bad step $step\n";
        }
    }

    close $_->{sock} for @links;

    return join '', map { "$_\n" } @out;
}


sub _gw_read {
    my ($link, $wait) = @_;

    return 'no link' unless $link;

    my $deadline = Time::HiRes::time() + $wait;
    my $sel = IO::Select->new($link->{sock});

    while (1) {
        my $b = $link->{buf};

        if (length $b >= 4) {
            my $len = unpack('N', $b);
            return "bad length $len" if $len < 2;

            if (length $b >= 4 + $len) {
                my ($type, $flags) = unpack('x4CC', $b);
                my $body = substr($b, 6, $len - 2);
                substr($link->{buf}, 0, 4 + $len) = '';

                return sprintf('HELLO v=%d caps=%d max=%d', unpack('nNN', $body))
                           . (length $body > 10 ? ' +fields' : '')
                    if $type == 0x01;
                return 'PONG ' . unpack('Q>', $body) if $type == 0x03;
                return ($flags ? 'SEND binary ' : 'SEND text ')
                       . unpack('Q>', $body) . ' '
                       . ($flags ? unpack('H*', substr $body, 8)
                                 : substr $body, 8)
                    if $type == 0x20;
                return 'CLOSE ' . join(' ', unpack('Q>n', $body))
                       . ' ' . substr($body, 10)
                    if $type == 0x21;
                return ($type == 0x30 ? 'SUBSCRIBE ' : 'UNSUBSCRIBE ')
                       . unpack('Q>', $body) . ' ' . substr($body, 8)
                    if $type == 0x30 || $type == 0x31;
                return 'PUBLISH ' . substr($body, 2, unpack('n', $body))
                       . ($flags ? ' binary ' : ' text ')
                       . ($flags ? unpack('H*', substr $body,
                                          2 + unpack('n', $body))
                                 : substr $body, 2 + unpack('n', $body))
                    if $type == 0x32;
                return 'BROADCAST' . ($flags ? ' binary ' . unpack('H*', $body)
                                             : " text $body")
                    if $type == 0x33;
                return sprintf('record 0x%02x', $type)
                       . (length $body ? ' ' . unpack('H*', $body) : '');
            }
        }

        my $left = $deadline - Time::HiRes::time();
        return 'timeout' if $left <= 0;
        next unless $sel->can_read($left);

        my $n = sysread($link->{sock}, $link->{buf}, 65536,
                        length $link->{buf});
        return 'eof' . (length $link->{buf}
                        ? ' after ' . unpack('H*', $link->{buf}) : '')
            unless $n;
    }
}

run_tests();

# every backend was stopped
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                          PeerPort => $ENV{TEST_NGINX_LINK_PORT},
                          Proto => 'tcp'),
   "no link backend is left on port $ENV{TEST_NGINX_LINK_PORT}");

__DATA__

=== TEST 1: the default backend: HELLO, PONG, echo (text and binary), every record logged
--- config
    location = /t {
        return 200 "ok\n";
    }
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'ping 7', 'read',
    'open 5 /ws?x=1', 'message 5 text hi', 'read',
    'message 5 binary 00ff', 'read', 'close 5 1000 0 bye', 'sleep 0.1');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
PONG 7
SEND text 5 hi
SEND binary 5 00ff
--- link_log
LISTEN
LINK 1 open
HELLO version=1 caps=0 max_record=1049088 name=gw1 heartbeat=5000
> HELLO version=1 caps=0 max_record=1049088 name=t-wslink
PING
> PONG
OPEN s1 flags=0 remote=127\.0\.0\.1:50312 uri=/ws\?x=1 param\.sub=alice
MESSAGE s1 text hi
> SEND s1 text hi
MESSAGE s1 binary 00ff
> SEND s1 binary 00ff
CLOSE s1 code=1000 by=0 reason=bye
LINK 1 eof
--- no_link_log
GONE.*
BAD.*



=== TEST 2: on open, on message: send, close, send-to an unknown id, raw bytes
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
# comments and blank lines are skipped

on open: send text "welcome"; send binary "\x01\x02"
on message "kick": close 4000 "kicked"
on message "gone": send-to 12345 text "x"
on message "bad": raw 00 00 00 01 ff
on message "sid": raw 0000000c 20 00 sid "ab"
on message *: send text "other"
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'open 9 /', 'read',
    'read', 'message 9 text kick', 'read', 'message 9 text gone', 'read',
    'gone 12345 20', 'message 9 text sid', 'read', 'message 9 text zzz',
    'read', 'message 9 text bad', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
SEND text 9 welcome
SEND binary 9 0102
CLOSE 9 4000 kicked
SEND text 12345 x
SEND text 9 ab
SEND text 9 other
bad length 1
--- link_log
OPEN s1 flags=0 remote=\S+ uri=/ param\.sub=alice
> SEND s1 text welcome
> SEND s1 binary 0102
MESSAGE s1 text kick
> CLOSE s1 code=4000 reason=kicked
> SEND #12345 text x
GONE #12345 command=0x20
> RAW 0000000c200000000000000000096162
> SEND s1 text other
> RAW 00000001ff
--- no_link_log
> SEND s1 text (kick|gone|bad|zzz)



=== TEST 3: hello none: the backend never answers
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
hello none
--- init
$main::GwOut = main::gw('connect', 'hello', 'read 0.5', 'ping 1', 'read 0.3');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
timeout
timeout
--- link_log
HELLO version=1 .*
PING
--- no_link_log
> .*



=== TEST 4: hello version, caps, max_record and delay
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
hello version 9
hello caps 0x3
hello max_record 1024
hello delay 0.5
--- init
$main::GwOut = main::gw('connect', 'hello', 'read 0.2', 'read 1', 'late 0.45');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
timeout
HELLO v=9 caps=3 max=1024 +fields
late
--- link_log
HELLO version=1 .*
> HELLO version=9 caps=3 max_record=1024 name=t-wslink



=== TEST 5: silent: HELLO, then nothing, not even PONG
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
silent
on open: send text "never"
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'ping 1', 'open 3 /',
    'message 3 text x', 'read 0.5');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
timeout
--- link_log
> HELLO .*
PING
OPEN s1 .*
MESSAGE s1 text x
--- no_link_log
> (PONG|SEND).*



=== TEST 6: refuse: every link is closed at accept, and logged
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
refuse
--- init
$main::GwOut = main::gw('connect', 'read', 'connect', 'hello', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
eof
eof
--- link_log
LINK 1 refused
LINK 2 refused
--- no_link_log
HELLO.*



=== TEST 7: start-after: nothing listens at first, then the backend does
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
start-after 1
--- init
$main::GwOut = main::gw('connect', 'sleep 1.3', 'connect', 'hello', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
connect failed
HELLO v=1 caps=0 max=1049088 +fields
--- link_log
LISTEN
LINK 1 open
HELLO .*



=== TEST 8: down: no backend; the previous block's backend is gone too
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
down
--- init
$main::GwOut = main::gw('connect');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
connect failed
--- no_link_log
.*



=== TEST 9: several links; ids named in order; stop-reading, pong none, on hello, hangup
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
pong none
on hello: raw 00 00 00 02 7f 00
on message "stall": stop-reading
on message "bye": hangup
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'read', 'connect',
    'hello', 'read', 'read', 'link 1', 'open 100 /a', 'link 2', 'open 200 /b',
    'message 200 text stall', 'message 200 text after', 'read 0.3',
    'link 1', 'ping 4', 'message 100 text one', 'read', 'read 0.2',
    'message 100 text bye', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
record 0x7f
HELLO v=1 caps=0 max=1049088 +fields
record 0x7f
timeout
SEND text 100 one
timeout
eof
--- link_log
LINK 1 open
> RAW 000000027f00
LINK 2 open
OPEN s1 flags=0 .* uri=/a .*
OPEN s2 flags=0 .* uri=/b .*
MESSAGE s2 text stall
LINK 2 stop-reading
PING
MESSAGE s1 text one
MESSAGE s1 text bye
LINK 1 hangup
--- no_link_log
MESSAGE s2 text after
> PONG



=== TEST 10: channel commands (subscribe, unsubscribe, publish, broadcast, with session references and /REGEX/ rules), on reannounce, REFUSED and DROPPED, the new OPEN fields, log-links
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
log-links
on open: subscribe "room:1"; subscribe this "room:2"
on message "pub": publish "room:1" text "hello"; publish "room:1" binary 00ff; broadcast text "all"; broadcast binary "\x01"
on message /^sub:(.*)$/: subscribe "$1"; send text "ok $1"
on message /^unsub:(.*)$/: unsubscribe s1 "$1"
on message "other": subscribe-to s1 "x"; send-to s1 text "to s1"; unsubscribe-to 12345 "y"
on message "nobody": subscribe s9 "z"; send text "after"
on reannounce: send text "back"
on close: publish "room:1" text "gone"
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'open 5 /ws', 'read',
    'read', 'message 5 text pub', 'read', 'read', 'read', 'read',
    'message 5 text sub:abc', 'read', 'read', 'open 6 /b', 'read', 'read',
    'message 6 text unsub:q', 'read', 'message 6 text other', 'read', 'read',
    'read', 'message 6 text nobody', 'read', 'reopen 5 /ws room:1 room:2',
    'read', 'refused 5 30 1', 'dropped 5 7', 'close 5 1000 0 bye', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
SUBSCRIBE 5 room:1
SUBSCRIBE 5 room:2
PUBLISH room:1 text hello
PUBLISH room:1 binary 00ff
BROADCAST text all
BROADCAST binary 01
SUBSCRIBE 5 abc
SEND text 5 ok abc
SUBSCRIBE 6 room:1
SUBSCRIBE 6 room:2
UNSUBSCRIBE 5 q
SUBSCRIBE 5 x
SEND text 5 to s1
UNSUBSCRIBE 12345 y
SEND text 6 after
SEND text 5 back
PUBLISH room:1 text gone
--- link_log
L1 OPEN s1 flags=0 .*
L1 > SUBSCRIBE s1 channel=room:1
L1 > SUBSCRIBE s1 channel=room:2
L1 MESSAGE s1 text pub
L1 > PUBLISH channel=room:1 text hello
L1 > PUBLISH channel=room:1 binary 00ff
L1 > BROADCAST text all
L1 > BROADCAST binary 01
L1 > SUBSCRIBE s1 channel=abc
L1 > SEND s1 text ok abc
L1 OPEN s2 flags=0 .*
L1 > UNSUBSCRIBE s1 channel=q
L1 > SUBSCRIBE s1 channel=x
L1 > SEND s1 text to s1
L1 > UNSUBSCRIBE #12345 channel=y
SCRIPT no session s9 yet
L1 > SEND s2 text after
L1 OPEN s1 flags=1 remote=127\.0\.0\.1:50312 uri=/ws channel=room:1 channel=room:2 dropped=3 unsent=1 unconfirmed=2
L1 > SEND s1 text back
L1 REFUSED s1 command=0x30 code=1
L1 DROPPED s1 count=7
L1 CLOSE s1 code=1000 by=0 reason=bye
L1 > PUBLISH channel=room:1 text gone
--- no_link_log
.*(BAD|RECORD|> SUBSCRIBE s2 channel=(room:1|room:2)\S).*
L1 > SUBSCRIBE s1 channel=room:1 .*



=== TEST 11: stop-reading S resumes after S seconds (records read before are handled then); unlisten S listens again after S seconds
--- config
    location = /t {
        return 200 "ok\n";
    }
--- link_script
on message "stall": stop-reading 0.5
on message "off": unlisten 0.8
--- init
$main::GwOut = main::gw('connect', 'hello', 'read', 'open 1 /',
    'message 1 text stall', 'message 1 text after', 'read 0.3', 'read 1',
    'message 1 text off', 'sleep 0.2', 'connect', 'sleep 1', 'connect',
    'hello', 'read', 'link 1', 'message 1 text still', 'read');
--- request
GET /t
--- response_body_filters eval
sub { $main::GwOut }
--- response_body
HELLO v=1 caps=0 max=1049088 +fields
timeout
SEND text 1 after
connect failed
HELLO v=1 caps=0 max=1049088 +fields
SEND text 1 still
--- link_log
MESSAGE s1 text stall
LINK 1 stop-reading 0.5
LINK 1 resume-reading
MESSAGE s1 text after
> SEND s1 text after
MESSAGE s1 text off
UNLISTEN
LISTEN
LINK 2 open
MESSAGE s1 text still
--- no_link_log
> SEND s1 text (stall|off)
