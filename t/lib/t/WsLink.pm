package t::WsLink;

# A scripted link backend for the Test::Nginx suites (docs/protocol.md is
# the byte-level spec of the link protocol).  Load it after the runner:
#
#     use t::WsGateway;     # or: use Test::Nginx::Socket;
#     use t::WsLink;
#
# For every block (except --- must_die blocks) a backend process listens
# on 127.0.0.1:$TEST_NGINX_LINK_PORT (default 3990) and takes any number
# of links.  It is forked from the block's "post_setup_server_root" step,
# which both runners run after the previous nginx has been stopped and
# before the new one starts (a block preprocessor adds that step), so
# the old nginx can never reconnect to the new backend.  It is stopped
# (TERM, then KILL, and reaped) by a test cleanup handler after the block,
# by the runners' cleanup and by an END block; on its own it exits when
# the test script is gone or after 300 s.  A block without --- config,
# for which nginx is not restarted, gets no backend: its link checks fail.
#
# Default behaviour on every link: read the gateway's HELLO, answer
# HELLO (version 1, capabilities 0, max_record 1049088, NAME t-wslink);
# PING -> PONG with the same bytes; MESSAGE -> SEND of the same payload
# and flags to the same session (echo).
#
# --- link_script: one instruction a line; blank lines and "# ..." are
# ignored; a bad line bails out.
#
#     hello none              never answer the gateway's HELLO (and, as
#                             before any HELLO answer, send nothing)
#     hello error N "STR"     answer the gateway's HELLO with ERROR N STR
#     hello version N         answer with version N (also: caps N,
#     hello caps N             max_record N); several hello lines add up
#     hello max_record N
#     hello delay S           answer S seconds after the gateway's HELLO
#     silent                  after the HELLO answer, send nothing at all
#                             (no PONG, no echo, no scripted action)
#     pong none               do not answer PING (the rest goes on)
#     refuse                  close every link as soon as it is accepted
#     down                    no backend: nothing listens on the port
#     start-after S           listen only S seconds after the block starts
#     rcvbuf N                SO_RCVBUF of the links (set on the listener)
#     log-opaque              log PING and PONG with their 8 bytes in hex
#                             ("PING 0102030405060708"), both ways
#     log-links               every record's log line starts with "Ln "
#                             (n: the link's number): "L2 OPEN s1 ...",
#                             "L2 > SEND s1 ..." (both backends, if either
#                             script has it)
#     on hello: ACTIONS       after the HELLO answer (no session: only raw,
#                             send-to, close-to, subscribe-to, publish,
#                             broadcast, stop-reading, unlisten, hangup)
#     on open: ACTIONS        after an OPEN without REANNOUNCE (default:
#                             nothing)
#     on reannounce: ACTIONS  after an OPEN with REANNOUNCE (flag 0x01;
#                             default: nothing; "on open" is not run)
#     on message "TEXT": ACTIONS   a MESSAGE whose payload is TEXT
#     on message /REGEX/: ACTIONS  a MESSAGE whose payload matches REGEX
#                             (Perl, unanchored); $1 .. $9 in the rule's
#                             STR (but binary ones) are its groups:
#                             on message /^sub:(.+)$/: subscribe "$1"
#     on message *: ACTIONS   any other MESSAGE (default: echo)
#     on close: ACTIONS       after a CLOSE event (default: nothing)
#
# The first matching "on message" rule is used.  ACTIONS are separated by
# ";" and run at once, in order, on the link the record came from.
# SESSION is a session reference: "this" (the session of the record
# being handled), "sN" (the session link.log names sN, seen on any link
# before; if none is, the action is skipped and "SCRIPT no session sN
# yet" is logged), or an id (decimal or 0x hex).
#
#     echo                    SEND the message back (same flags)
#     send text STR           SEND to this session (send binary STR)
#     send-to SESSION text STR     SEND to SESSION
#     close CODE [STR]        CLOSE command for this session
#     close-to SESSION CODE [STR]  CLOSE command for SESSION
#     accept | reject STATUS [STR]   ACCEPT / REJECT this session
#     subscribe [SESSION] STR     SUBSCRIBE (default: this session) to
#                             channel STR; also subscribe-to SESSION STR
#     unsubscribe [SESSION] STR   UNSUBSCRIBE, the same way; also
#                             unsubscribe-to SESSION STR
#     publish STR text STR    PUBLISH to channel STR (the first STR);
#     publish STR binary DATA  DATA is a STR or hex pairs ("00ff" or
#                             "00 ff")
#     broadcast text STR      BROADCAST (broadcast binary DATA)
#     raw BYTES...            write bytes as they are: hex pairs ("00 ff"
#                             or "00ff"), STR, or "sid" (this session's
#                             8-byte id)
#     stop-reading [S]        do not read this link again (with S: for S
#                             seconds, then records already read are
#                             handled and reading goes on; logged as
#                             "LINK n stop-reading S", "LINK n
#                             resume-reading")
#     unlisten [S]            close the listener of this link's backend
#                             (links already open stay): connects are
#                             refused; with S, listen again after S
#                             seconds.  Logged "UNLISTEN", "LISTEN" (with
#                             " port2" for the second backend)
#     hangup                  close this link
#     ignore                  nothing
#
# STR is "double quoted", with \n \r \t \0 \\ \" \xHH; "ab"*3 repeats it.
# A channel STR may be empty or of any length: the backend sends what it
# is told (for the gateway's checks of bad records).
#
# Every record the backend receives is logged as one line in
# <servroot>/logs/link.log; the records it sends are logged the same way
# with a "> " prefix, and link events as "LINK n open|eof|refused|hangup".
#
#     HELLO version=1 caps=0 max_record=1049088 name=gw1 heartbeat=5000 ...
#     OPEN s1 flags=0 remote=127.0.0.1:50312 uri=/ws?x=1 param.sub=alice
#     MESSAGE s1 text hi          MESSAGE s1 binary 00ff
#     MESSAGE s1 text len=65536 md5=...   (payloads over 200 bytes)
#     CLOSE s1 code=1000 by=0 reason=bye
#     GONE #12345 command=0x20    PING    PONG    ERROR code=1 text=...
#     REFUSED s1 command=0x30 code=2      DROPPED s1 count=17
#     OPEN s1 flags=1 remote=... uri=... channel=room:1 dropped=0
#          unsent=0 unconfirmed=2      (a re-announce; one line)
#     > SEND s1 text hi
#     > SUBSCRIBE s1 channel=room:1     > UNSUBSCRIBE s1 channel=room:1
#     > PUBLISH channel=room:1 text hi  > BROADCAST binary 00ff
#
# OPEN flags are shown as a number: 1 REANNOUNCE, 2 APPROVE.  HELLO and
# OPEN fields are shown in the order they came (name software
# worker=PID:SLOT heartbeat link remote uri subprotocol param.NAME
# channel dropped unsent unconfirmed, field0xNN=HEX for others).  Session ids show as s1,
# s2, ... in the order they first appear; an id that only the script
# named shows as #ID.  Bytes below 0x20, 0x7f and "\" in text show as
# \xHH.  Records too short for their type show as "BAD type=0xNN
# length=N body=HEX".
#
# --- link_script2: a second backend, in the same process, that listens
# on 127.0.0.1:$TEST_NGINX_LINK_PORT2 (default 3991) with a script of its
# own (the same language; start-after is not allowed in it), for blocks
# whose upstream has two servers.  Only blocks with this section (it may
# be empty: the default behaviour) get it.  Both backends write to the
# same link.log and share its link numbers and session names; a link to
# the second one is logged as "LINK n open port2" when it opens (its
# other LINK lines are as above).  "down" in --- link_script with a
# --- link_script2 leaves only the second one listening.
#
# --- link_log: lines that must appear in the log, in this order (other
# lines may come between them).  Each line is a Perl regex matched
# against a whole log line (anchored at both ends); $TEST_NGINX_* in it
# are expanded first.  Polled for up to 2 s after the block's last
# request.  --- no_link_log: regexes (whole line, too) that no log line
# may match, checked after link_log, or 0.1 s after the last request.
# Each section is one test (::ws_count_checks counts them); an eval value may be
# an ARRAY of strings or qr//.  With repeat_each(N), every repetition
# sees the whole log of the block.
#
# Helpers: ::ws_link_wait(REGEX, SECONDS) waits for a link.log line;
# ::ws_link_status(URI, HEADERS...) does a handshake and returns its status.

use strict;
use warnings;

use Digest::MD5 ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More ();
use Time::HiRes ();

$ENV{TEST_NGINX_LINK_PORT} ||= 3990;
$ENV{TEST_NGINX_LINK_PORT2} ||= 3991;

# our runner fails blocks with unknown sections; these are ours
{
    no warnings 'once';
    $Test::Nginx::Socket::KnownSections{$_} = 1
        for qw(link_script link_script2 link_log no_link_log);
}

our $Pid;           # the running backend
our $Block;         # the block it is for
our $Started;       # the backend of $Block was started
our $Lifetime = 300;
our $LogOpaque;     # log-opaque (in the backend process)

my $MainPid = $$;

my %types = (
    0x01 => 'HELLO', 0x02 => 'PING', 0x03 => 'PONG', 0x04 => 'ERROR',
    0x10 => 'OPEN', 0x11 => 'MESSAGE', 0x12 => 'CLOSE', 0x13 => 'GONE',
    0x14 => 'REFUSED', 0x15 => 'DROPPED',
    0x20 => 'SEND', 0x21 => 'CLOSE', 0x22 => 'ACCEPT', 0x23 => 'REJECT',
    0x30 => 'SUBSCRIBE', 0x31 => 'UNSUBSCRIBE', 0x32 => 'PUBLISH',
    0x33 => 'BROADCAST',
);


sub log_file {
    no warnings 'once';
    return "$Test::Nginx::Util::LogDir/link.log";
}


# ---------------------------------------------------------------------------
# The link script
# ---------------------------------------------------------------------------

sub _unquote {
    my ($s) = @_;

    $s =~ s{\\(x([0-9a-fA-F]{2})|.)}{
        defined $2 ? chr hex $2
        : $1 eq 'n' ? "\n" : $1 eq 'r' ? "\r" : $1 eq 't' ? "\t"
        : $1 eq '0' ? "\0" : $1
    }ge;

    return $s;
}


# "a b "c d"*2 ; e" -> words and [str] tokens, ';' kept as a word
sub _tokens {
    my ($text) = @_;

    my @t;

    while (length $text) {
        if ($text =~ s/^\s+//) {
            next;

        } elsif ($text =~ s/^"((?:[^"\\]|\\.)*)"(?:\*(\d+))?//) {
            push @t, \(_unquote($1) x (defined $2 ? $2 : 1));

        } elsif ($text =~ s/^;//) {
            push @t, ';';

        } elsif ($text =~ s/^([^\s;"]+)//) {
            push @t, $1;

        } else {
            die "cannot parse \"$text\"\n";
        }
    }

    return @t;
}


sub _id {
    my ($w) = @_;

    die "bad session id \"" . (defined $w ? $w : '') . "\"\n"
        unless defined $w && !ref $w && $w =~ /^(?:0x[0-9a-fA-F]+|\d+)$/;

    return $w =~ /^0x/ ? hex $w : $w + 0;
}


# a session reference: "this" (undef: the session of the record being
# handled), "sN" (the session link.log names sN: { name => 'sN' }), or an
# id (decimal or 0x hex: a number)
sub _ref {
    my ($w) = @_;

    return undef if defined $w && !ref $w && $w eq 'this';
    return { name => $w } if defined $w && !ref $w && $w =~ /^s\d+$/;
    return _id($w);
}


sub _is_ref {
    my ($w) = @_;

    return defined $w && !ref $w
           && $w =~ /^(?:this|s\d+|0x[0-9a-fA-F]+|\d+)$/;
}


# a message payload after "text" or "binary": one "string", or (binary
# only) hex pairs
sub _message {
    my ($what, $kind, @a) = @_;

    die "$what: text or binary expected\n"
        unless defined $kind && !ref $kind && $kind =~ /^(?:text|binary)$/;
    die "$what: a payload expected\n" unless @a;

    if (@a == 1 && ref $a[0]) {
        return ($kind eq 'binary' ? 1 : 0, ${ $a[0] });
    }

    die "$what: a \"string\" expected\n" if $kind eq 'text';

    my $bytes = '';

    for my $t (@a) {
        die "$what: bad hex \"" . (ref $t ? $$t : $t) . "\"\n"
            if ref $t || $t !~ /^(?:[0-9a-fA-F]{2})+$/;
        $bytes .= pack('H*', $t);
    }

    return (1, $bytes);
}


sub _str {
    my ($t, $what) = @_;

    die "$what: a \"string\" expected\n" unless ref $t;
    return $$t;
}


sub _parse_actions {
    my ($text) = @_;

    my @tokens = _tokens($text);
    my (@actions, @cur);

    for my $t (@tokens, ';') {
        if (!ref $t && $t eq ';') {
            push @actions, _action(@cur) if @cur;
            @cur = ();
            next;
        }

        push @cur, $t;
    }

    die "no action\n" unless @actions;
    return \@actions;
}


sub _action {
    my ($verb, @a) = @_;

    die "an action expected\n" if ref $verb;

    my $kind = sub {
        my ($k) = @_;
        die "text or binary expected\n"
            unless defined $k && !ref $k && $k =~ /^(?:text|binary)$/;
        return $k eq 'binary' ? 1 : 0;
    };

    if ($verb =~ /^(?:echo|hangup|ignore|accept)$/) {
        die "$verb takes no arguments\n" if @a;
        return [$verb];

    } elsif ($verb eq 'stop-reading' || $verb eq 'unlisten') {
        die "$verb [SECONDS]\n" if @a > 1;
        return [$verb, @a ? _num($a[0], $verb) : undef];

    } elsif ($verb eq 'send') {
        die "send text|binary STR\n" unless @a == 2;
        return ['send', undef, $kind->($a[0]), _str($a[1], 'send')];

    } elsif ($verb eq 'send-to') {
        die "send-to ID text|binary STR\n" unless @a == 3;
        return ['send', _ref($a[0]), $kind->($a[1]), _str($a[2], 'send-to')];

    } elsif ($verb eq 'close') {
        die "close CODE [STR]\n" unless @a == 1 || @a == 2;
        return ['close', undef, _code($a[0]),
                @a == 2 ? _str($a[1], 'close') : ''];

    } elsif ($verb eq 'close-to') {
        die "close-to ID CODE [STR]\n" unless @a == 2 || @a == 3;
        return ['close', _ref($a[0]), _code($a[1]),
                @a == 3 ? _str($a[2], 'close-to') : ''];

    } elsif ($verb eq 'subscribe' || $verb eq 'unsubscribe') {
        my $ref = @a == 2 && _is_ref($a[0]) ? _ref(shift @a) : undef;
        die "$verb [SESSION] STR\n" unless @a == 1;
        return [$verb, $ref, _str($a[0], $verb)];

    } elsif ($verb eq 'subscribe-to' || $verb eq 'unsubscribe-to') {
        die "$verb SESSION STR\n" unless @a == 2;
        (my $v = $verb) =~ s/-to$//;
        return [$v, _ref($a[0]), _str($a[1], $verb)];

    } elsif ($verb eq 'publish') {
        die "publish STR text|binary PAYLOAD\n" unless @a >= 3;
        my $chan = _str(shift @a, 'publish');
        return ['publish', undef, $chan, _message('publish', @a)];

    } elsif ($verb eq 'broadcast') {
        die "broadcast text|binary PAYLOAD\n" unless @a >= 2;
        return ['broadcast', undef, _message('broadcast', @a)];

    } elsif ($verb eq 'reject') {
        die "reject STATUS [STR]\n" unless @a == 1 || @a == 2;
        return ['reject', _code($a[0]), @a == 2 ? _str($a[1], 'reject') : ''];

    } elsif ($verb eq 'raw') {
        die "raw BYTES...\n" unless @a;

        my @parts;

        for my $t (@a) {
            if (ref $t) {
                push @parts, $$t;

            } elsif ($t eq 'sid') {
                push @parts, \'sid';

            } elsif ($t =~ /^(?:[0-9a-fA-F]{2})+$/) {
                push @parts, pack('H*', $t);

            } else {
                die "raw: bad byte \"$t\"\n";
            }
        }

        return ['raw', \@parts];
    }

    die "unknown action \"$verb\"\n";
}


sub _code {
    my ($w) = @_;

    die "a number expected\n" unless defined $w && !ref $w && $w =~ /^\d+$/;
    return $w + 0;
}


sub _num {
    my ($w, $what) = @_;

    die "$what: a number expected\n"
        unless defined $w && $w =~ /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?)$/;

    return $w =~ /^0x/ ? hex $w : $w + 0;
}


# The script of a block -> { hello => {...}, rules => {...}, ... }
sub parse_script {
    my ($text) = @_;

    my %s = (
        hello => { version => 1, caps => 0, max_record => 1049088,
                   delay => 0, none => 0 },
        open => undef, close => undef, on_hello => undef, reannounce => undef,
        messages => [],
    );

    my $n = 0;

    for my $line (split /\n/, defined $text ? $text : '') {
        $n++;
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '' || $line =~ /^#/;

        eval {
            if ($line eq 'hello none') {
                $s{hello}{none} = 1;

            } elsif ($line =~ /^hello\s+error\s+(\d+)\s+"([^"]*)"$/) {
                $s{hello}{error} = [$1, $2];

            } elsif ($line =~ /^hello\s+(version|caps|max_record|delay)\s+(\S+)$/) {
                $s{hello}{$1} = _num($2, "hello $1");

            } elsif ($line =~ /^(silent|refuse|down|log-opaque|log-links)$/) {
                $s{$1} = 1;

            } elsif ($line eq 'pong none') {
                $s{no_pong} = 1;

            } elsif ($line =~ /^(start-after|rcvbuf)\s+(\S+)$/) {
                $s{$1} = _num($2, $1);

            } elsif ($line =~ /^on\s+(open|close|hello|reannounce)\s*:\s*(.*)$/) {
                $s{$1 eq 'hello' ? 'on_hello' : $1} = _parse_actions($2);

            } elsif ($line =~ m{^on\s+message\s+/((?:[^/\\]|\\.)*)/\s*:\s*(.*)$}) {
                my ($re, $actions) = ($1, $2);
                my $qr = eval { qr/$re/s } or die "bad regex: $@";
                push @{ $s{messages} }, [$qr, _parse_actions($actions)];

            } elsif ($line =~ /^on\s+message\s+("(?:[^"\\]|\\.)*"(?:\*\d+)?|\*)\s*:\s*(.*)$/) {
                my ($match, $actions) = ($1, $2);
                push @{ $s{messages} },
                     [$match eq '*' ? undef : ${ (_tokens($match))[0] },
                      _parse_actions($actions)];

            } else {
                die "unknown instruction\n";
            }

            1;

        } or do {
            chomp(my $err = $@);
            die "--- link_script line $n \"$line\": $err\n";
        };
    }

    return \%s;
}


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------

sub record {
    my ($type, $flags, $body) = @_;

    return pack('NCC', 2 + length $body, $type, $flags) . $body;
}


sub _esc {
    my ($s) = @_;

    $s =~ s/([\x00-\x1f\x7f\\])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}


sub _payload {
    my ($flags, $p) = @_;

    my $kind = $flags & 1 ? 'binary' : 'text';
    $kind .= sprintf ' flags=0x%02x', $flags if $flags & ~1;

    return "$kind len=" . length($p) . ' md5=' . Digest::MD5::md5_hex($p)
        if length $p > 200;

    return $kind unless length $p;
    return "$kind " . ($flags & 1 ? unpack('H*', $p) : _esc($p));
}


# fields -> "name=value ..." (HELLO and OPEN)
sub _fields {
    my ($data) = @_;

    my @out;

    while (length $data) {
        if (length $data < 3) {
            push @out, 'BADFIELD=' . unpack('H*', $data);
            last;
        }

        my ($type, $len) = unpack('Cn', $data);

        if (length $data < 3 + $len) {
            push @out, 'BADFIELD=' . unpack('H*', $data);
            last;
        }

        my $v = substr($data, 3, $len);
        $data = substr($data, 3 + $len);

        if ($type == 0x01) {
            push @out, 'name=' . _esc($v);
        } elsif ($type == 0x02) {
            push @out, 'software=' . _esc($v);
        } elsif ($type == 0x03 && $len == 6) {
            push @out, 'worker=' . join(':', unpack('Nn', $v));
        } elsif ($type == 0x04 && $len == 4) {
            push @out, 'heartbeat=' . unpack('N', $v);
        } elsif ($type == 0x05 && $len == 4) {
            push @out, 'link=' . unpack('N', $v);
        } elsif ($type == 0x10) {
            push @out, 'remote=' . _esc($v);
        } elsif ($type == 0x11) {
            push @out, 'uri=' . _esc($v);
        } elsif ($type == 0x12) {
            push @out, 'subprotocol=' . _esc($v);
        } elsif ($type == 0x13 && $len >= 1 && $len >= 1 + ord $v) {
            my $k = ord $v;
            push @out, 'param.' . _esc(substr($v, 1, $k)) . '='
                       . _esc(substr($v, 1 + $k));
        } elsif ($type == 0x14) {
            push @out, 'channel=' . _esc($v);
        } elsif ($type == 0x15 && $len == 4) {
            push @out, 'dropped=' . unpack('N', $v);
        } elsif ($type == 0x16 && $len == 4) {
            push @out, 'unsent=' . unpack('N', $v);
        } elsif ($type == 0x17 && $len == 4) {
            push @out, 'unconfirmed=' . unpack('N', $v);
        } else {
            push @out, sprintf('field0x%02x=', $type) . unpack('H*', $v);
        }
    }

    return @out;
}


# One record as a log line.  $sid->(id) names a session id.
sub describe {
    my ($type, $flags, $body, $sid, $from_gateway) = @_;

    my $bad = sub {
        return sprintf 'BAD type=0x%02x length=%d body=%s', $type,
                       2 + length $body, unpack('H*', $body);
    };

    my $flagstr = sprintf 'flags=%d', $flags;

    if ($type == 0x01) {
        return $bad->() if length $body < 10;
        my ($v, $caps, $max) = unpack('nNN', $body);
        return join ' ', "HELLO version=$v caps=$caps max_record=$max",
                         _fields(substr $body, 10);
    }

    if ($type == 0x02 || $type == 0x03) {
        return $bad->() if length $body != 8;
        return $types{$type} . ($LogOpaque ? ' ' . unpack('H*', $body) : '');
    }

    if ($type == 0x04) {
        return $bad->() if length $body < 2;
        return 'ERROR code=' . unpack('n', $body) . ' text='
               . _esc(substr $body, 2);
    }

    my $name = $types{$type};

    if (!defined $name) {
        return sprintf 'RECORD type=0x%02x flags=%d body=%s', $type, $flags,
                       unpack('H*', $body);
    }

    if ($type == 0x32) {
        return $bad->() if length $body < 2;
        my $k = unpack('n', $body);
        return $bad->() if length $body < 2 + $k;
        return 'PUBLISH channel=' . _esc(substr $body, 2, $k) . ' '
               . _payload($flags, substr $body, 2 + $k);
    }

    if ($type == 0x33) {
        return 'BROADCAST ' . _payload($flags, $body);
    }

    return $bad->() if length $body < 8;

    my $id = $sid->(unpack('Q>', $body));
    my $rest = substr($body, 8);

    if ($type == 0x10) {
        return join ' ', "OPEN $id $flagstr", _fields($rest);
    }

    if ($type == 0x11 || $type == 0x20) {
        return "$name $id " . _payload($flags, $rest);
    }

    if ($type == 0x12) {
        return $bad->() if length $rest < 3;
        my ($code, $by) = unpack('nC', $rest);
        return "CLOSE $id code=$code by=$by reason=" . _esc(substr $rest, 3);
    }

    if ($type == 0x21) {
        return $bad->() if length $rest < 2;
        return "CLOSE $id code=" . unpack('n', $rest) . ' reason='
               . _esc(substr $rest, 2);
    }

    if ($type == 0x13) {
        return $bad->() if length $rest != 1;
        return sprintf 'GONE %s command=0x%02x', $id, ord $rest;
    }

    if ($type == 0x22) {
        return "ACCEPT $id";
    }

    if ($type == 0x30 || $type == 0x31) {
        return "$name $id channel=" . _esc($rest)
               . ($flags ? " $flagstr" : '');
    }

    if ($type == 0x14) {
        return $bad->() if length $rest != 2;
        return sprintf 'REFUSED %s command=0x%02x code=%d', $id,
                       unpack('CC', $rest);
    }

    if ($type == 0x15) {
        return $bad->() if length $rest != 4;
        return "DROPPED $id count=" . unpack('N', $rest);
    }

    if ($type == 0x23) {
        return $bad->() if length $rest < 2;
        return "REJECT $id status=" . unpack('n', $rest) . ' text='
               . _esc(substr $rest, 2);
    }

    return $bad->();
}


# ---------------------------------------------------------------------------
# The backend process
# ---------------------------------------------------------------------------

sub _listen {
    my ($port, $script) = @_;

    my $deadline = Time::HiRes::time() + 5;

    while (1) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
            ReuseAddr => 1, Listen => 64);

        if ($s) {
            setsockopt($s, SOL_SOCKET, SO_RCVBUF,
                       pack('i', $script->{rcvbuf}))
                if $script->{rcvbuf};
            return $s;
        }

        die "cannot listen on 127.0.0.1:$port: $!\n"
            if !$!{EADDRINUSE} || Time::HiRes::time() > $deadline;

        Time::HiRes::sleep(0.1);
    }
}


sub _serve {
    my ($script, $listener, $port, $log_path, $parent, $script2,
        $listener2) = @_;

    # $script is the script of the link being handled (the closures
    # below use it): the first backend's, or the second one's
    my $script1 = $script;

    $LogOpaque = grep { $_ && $_->{'log-opaque'} } $script, $script2;
    my $log_links = grep { $_ && $_->{'log-links'} } $script, $script2;

    open my $log, '>>', $log_path or die "cannot open $log_path: $!\n";
    binmode $log;
    $log->autoflush(1);

    my $start = Time::HiRes::time();
    my $listen_at = $script->{down} ? 9**9**9
                    : $start + ($script->{'start-after'} || 0);
    my $listen2_at = 9**9**9;
    my $deadline = $start + $Lifetime;

    my (%names, %byname, %literal, @links);
    my ($next_sid, $next_link) = (1, 1);

    for my $rules (map { ($_->{open}, $_->{close}, $_->{on_hello},
                          $_->{reannounce},
                          map { $_->[1] } @{ $_->{messages} }) }
                   grep { defined } $script, $script2)
    {
        next unless $rules;
        for my $a (@$rules) {
            $literal{$a->[1]} = 1
                if $a->[0] =~ /^(?:send|close|subscribe|unsubscribe)$/
                   && defined $a->[1] && !ref $a->[1];
        }
    }

    my $sid = sub {
        my ($id) = @_;
        return $names{$id} if exists $names{$id};
        return "#$id" if $literal{$id};
        $names{$id} = 's' . $next_sid++;
        $byname{ $names{$id} } = $id;
        return $names{$id};
    };

    my $say = sub { print $log "$_[0]\n" };

    # a record's line, "Ln " first with log-links
    my $say_rec = sub {
        my ($link, $line) = @_;
        $say->($log_links ? "L$link->{n} $line" : $line);
    };

    # the id a session reference names (undef: the current session)
    my $to_id = sub {
        my ($ref, $id) = @_;
        return $id unless defined $ref;
        return $ref unless ref $ref;
        return $byname{ $ref->{name} } if exists $byname{ $ref->{name} };
        $say->("SCRIPT no session $ref->{name} yet");
        return undef;
    };

    $say->('LISTEN') if $listener;
    $say->('LISTEN port2') if $listener2;

    my $send = sub {
        my ($link, $type, $flags, $body) = @_;
        return if $link->{closed};
        $link->{wbuf} .= record($type, $flags, $body);
        $say_rec->($link, '> ' . describe($type, $flags, $body, $sid));
    };

    my $close_link = sub {
        my ($link, $why) = @_;
        return if $link->{closed};
        $say->("LINK $link->{n} $why");
        close $link->{sock};
        $link->{closed} = 1;
    };

    my $answer_hello = sub {
        my ($link) = @_;
        my $h = $script->{hello};
        $send->($link, 0x01, 0,
                pack('nNN', $h->{version}, $h->{caps}, $h->{max_record})
                . pack('Cn', 0x01, 8) . 't-wslink');
        $link->{ready} = 1;
    };

    my $run;

    $run = sub {
        my ($link, $actions, $id, $flags, $payload, $groups) = @_;

        return if $script->{silent};

        # a /REGEX/ rule's groups replace $1 .. $9 in its strings
        my $g = sub {
            my ($str) = @_;
            return $str unless $groups;
            $str =~ s/\$([1-9])/defined $groups->[$1 - 1]
                                 ? $groups->[$1 - 1] : ''/ge;
            return $str;
        };

        for my $a (@$actions) {
            my ($verb) = @$a;

            if ($verb eq 'echo') {
                next unless defined $id;
                $send->($link, 0x20, $flags, pack('Q>', $id) . $payload);

            } elsif ($verb eq 'send') {
                my $to = $to_id->($a->[1], $id);
                next unless defined $to;
                $send->($link, 0x20, $a->[2],
                        pack('Q>', $to) . $g->($a->[3]));

            } elsif ($verb eq 'close') {
                my $to = $to_id->($a->[1], $id);
                next unless defined $to;
                $send->($link, 0x21, 0,
                        pack('Q>n', $to, $a->[2]) . $g->($a->[3]));

            } elsif ($verb eq 'subscribe' || $verb eq 'unsubscribe') {
                my $to = $to_id->($a->[1], $id);
                next unless defined $to;
                $send->($link, $verb eq 'subscribe' ? 0x30 : 0x31, 0,
                        pack('Q>', $to) . $g->($a->[2]));

            } elsif ($verb eq 'publish') {
                my $chan = $g->($a->[2]);
                $send->($link, 0x32, $a->[3],
                        pack('n', length $chan) . $chan
                        . ($a->[3] ? $a->[4] : $g->($a->[4])));

            } elsif ($verb eq 'broadcast') {
                $send->($link, 0x33, $a->[2],
                        $a->[2] ? $a->[3] : $g->($a->[3]));

            } elsif ($verb eq 'unlisten') {
                my $two = $link->{port2};
                my $ls = $two ? \$listener2 : \$listener;
                next unless $$ls;
                close $$ls;
                undef $$ls;
                $say->('UNLISTEN' . ($two ? ' port2' : ''));
                my $at = defined $a->[1] ? Time::HiRes::time() + $a->[1]
                         : 9**9**9;
                if ($two) { $listen2_at = $at } else { $listen_at = $at }

            } elsif ($verb eq 'accept') {
                $send->($link, 0x22, 0, pack('Q>', $id)) if defined $id;

            } elsif ($verb eq 'reject') {
                $send->($link, 0x23, 0, pack('Q>n', $id, $a->[1]) . $a->[2])
                    if defined $id;

            } elsif ($verb eq 'raw') {
                my $bytes = join '', map {
                    ref $_ ? pack('Q>', defined $id ? $id : 0) : $_
                } @{ $a->[1] };
                $link->{wbuf} .= $bytes;
                $say->('> RAW ' . unpack('H*', $bytes));

            } elsif ($verb eq 'stop-reading') {
                $link->{stopped} = 1;
                $link->{resume_at} = Time::HiRes::time() + $a->[1]
                    if defined $a->[1];
                $say->("LINK $link->{n} stop-reading"
                       . (defined $a->[1] ? " $a->[1]" : ''));

            } elsif ($verb eq 'hangup') {
                $link->{hangup} = 1;
            }
        }
    };

    my $handle = sub {
        my ($link, $type, $flags, $body) = @_;

        $say_rec->($link, describe($type, $flags, $body, $sid, 1));

        if ($type == 0x01) {
            return if $script->{hello}{none} || $link->{hello_seen}++;

            if ($script->{hello}{error}) {
                $send->($link, 0x04, 0,
                        pack('n', $script->{hello}{error}[0])
                        . $script->{hello}{error}[1]);
                return;
            }

            if ($script->{hello}{delay}) {
                $link->{hello_at} = Time::HiRes::time()
                                    + $script->{hello}{delay};
            } else {
                $answer_hello->($link);
                $run->($link, $script->{on_hello}) if $script->{on_hello};
            }

            return;
        }

        # nothing before our HELLO (hello none, hello delay)
        return if $script->{silent} || !$link->{ready};

        if ($type == 0x02 && length $body == 8) {
            $send->($link, 0x03, 0, $body) unless $script->{no_pong};
            return;
        }

        return if length $body < 8;

        my $id = unpack('Q>', $body);

        if ($type == 0x10) {
            my $rule = $flags & 0x01 ? 'reannounce' : 'open';
            $run->($link, $script->{$rule}, $id) if $script->{$rule};

        } elsif ($type == 0x12) {
            $run->($link, $script->{close}, $id) if $script->{close};

        } elsif ($type == 0x11) {
            my $payload = substr($body, 8);
            my $actions = [['echo']];
            my $groups;

            for my $rule (@{ $script->{messages} }) {
                my $m = $rule->[0];

                if (ref $m) {
                    my @g = $payload =~ $m or next;
                    $groups = [@-  > 1 ? @g : ()];
                    $actions = $rule->[1];
                    last;
                }

                if (!defined $m || $m eq $payload) {
                    $actions = $rule->[1];
                    last;
                }
            }

            $run->($link, $actions, $id, $flags, $payload, $groups);
        }
    };

    # the whole records of a link's read buffer, unless it is stopped
    my $drain = sub {
        my ($link) = @_;

        while (length $link->{rbuf} >= 4 && !$link->{stopped}
               && !$link->{closed})
        {
            my $len = unpack('N', $link->{rbuf});

            if ($len < 2 || $len > 64 * 1024 * 1024) {
                $say->("BAD length=$len");
                $close_link->($link, 'bad length');
                last;
            }

            last if length $link->{rbuf} < 4 + $len;

            my ($type, $flags) = unpack('x4CC', $link->{rbuf});
            my $body = substr($link->{rbuf}, 6, $len - 2);
            substr($link->{rbuf}, 0, 4 + $len) = '';

            $handle->($link, $type, $flags, $body);
        }
    };

    while (1) {
        POSIX::_exit(0) if getppid() != $parent;

        my $now = Time::HiRes::time();
        POSIX::_exit(0) if $now > $deadline;

        if (!$listener && $now >= $listen_at) {
            $listener = _listen($port, $script1);
            $say->('LISTEN');
        }

        if (!$listener2 && $now >= $listen2_at) {
            $listener2 = _listen($ENV{TEST_NGINX_LINK_PORT2}, $script2);
            $say->('LISTEN port2');
        }

        my $wait = 0.05;

        if (!$listener) {
            $wait = $listen_at - $now if $listen_at - $now < $wait;
        }

        @links = grep { !$_->{closed} } @links;

        for my $link (@links) {
            $script = $link->{script};

            if ($link->{resume_at} && $now >= $link->{resume_at}) {
                delete $link->{resume_at};
                $link->{stopped} = 0;
                $say->("LINK $link->{n} resume-reading");
                $drain->($link);
                next if $link->{closed};
            }

            if ($link->{hello_at} && $now >= $link->{hello_at}) {
                delete $link->{hello_at};
                $answer_hello->($link);
                $run->($link, $script->{on_hello}) if $script->{on_hello};
            }

            $close_link->($link, 'hangup')
                if $link->{hangup} && !length $link->{wbuf};
        }

        @links = grep { !$_->{closed} } @links;

        my $rsel = IO::Select->new();
        my $wsel = IO::Select->new();

        $rsel->add($listener) if $listener;
        $rsel->add($listener2) if $listener2;

        for my $link (@links) {
            $rsel->add($link->{sock}) unless $link->{stopped};
            $wsel->add($link->{sock}) if length $link->{wbuf};
        }

        my ($r, $w) = IO::Select->select($rsel, $wsel, undef,
                                         $wait > 0 ? $wait : 0);

        my %ready_r = map { fileno($_) => 1 } @{ $r || [] };
        my %ready_w = map { fileno($_) => 1 } @{ $w || [] };

        for my $l ([$listener, $script1, ''], [$listener2, $script2, ' port2'])
        {
            my ($ls, $ls_script, $tag) = @$l;

            next unless $ls && $ready_r{ fileno $ls };

            if (my $sock = $ls->accept) {
                my $link = { sock => $sock, n => $next_link++,
                             rbuf => '', wbuf => '', script => $ls_script,
                             port2 => $tag ne '' };
                $sock->blocking(0);

                if ($ls_script->{refuse}) {
                    $say->("LINK $link->{n} refused$tag");
                    close $sock;

                } else {
                    $say->("LINK $link->{n} open$tag");
                    push @links, $link;
                }
            }
        }

        for my $link (@links) {
            my $fd = fileno $link->{sock};

            $script = $link->{script};

            if ($ready_w{$fd} && length $link->{wbuf}) {
                my $n = syswrite($link->{sock}, $link->{wbuf});

                if (defined $n) {
                    substr($link->{wbuf}, 0, $n) = '';

                } elsif (!$!{EAGAIN} && !$!{EWOULDBLOCK}) {
                    $close_link->($link, "write error: $!");
                    next;
                }
            }

            next unless $ready_r{$fd} && !$link->{stopped};

            my $n = sysread($link->{sock}, $link->{rbuf}, 262144,
                            length $link->{rbuf});

            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK};
                $close_link->($link, "read error: $!");
                next;
            }

            if ($n == 0) {
                # records read before the end still count (a stopped
                # link keeps them until it resumes)
                $drain->($link);
                $close_link->($link, 'eof');
                next;
            }

            $drain->($link);
        }
    }
}


# The script of the second backend (--- link_script2), or undef
sub _script2 {
    my ($block) = @_;

    my $text = $block->link_script2;
    return undef unless defined $text;

    my $s = eval { parse_script($text) };
    die $@ =~ s/--- link_script /--- link_script2 /r unless $s;
    die "--- link_script2: start-after is not supported\n"
        if $s->{'start-after'};

    return $s;
}


# Start the backend for the current block: called from the block's
# post_setup_server_root step (after the server root has been set up,
# so that logs/ exists).
sub start_backend {
    my $block = $Block or return;

    stop_backend();

    my $script = parse_script(scalar $block->link_script);
    my $port = $ENV{TEST_NGINX_LINK_PORT};
    my $log_path = log_file();

    open my $touch, '>', $log_path or die "cannot create $log_path: $!\n";
    close $touch;

    $Started = 1;

    my $script2 = _script2($block);

    return if $script->{down} && !($script2 && !$script2->{down});

    my $listener = $script->{'start-after'} || $script->{down} ? undef
                   : _listen($port, $script);

    my $listener2 = $script2 && !$script2->{down}
                    ? _listen($ENV{TEST_NGINX_LINK_PORT2}, $script2) : undef;

    my $parent = $$;
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if (!$pid) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{PIPE} = 'IGNORE';
        open STDOUT, '>', '/dev/null';

        my $ok = eval { _serve($script, $listener, $port, $log_path, $parent,
                               $script2, $listener2);
                        1 };
        warn "link backend: $@" unless $ok;
        POSIX::_exit($ok ? 0 : 1);
    }

    close $listener if $listener;
    close $listener2 if $listener2;
    $Pid = $pid;
    return;
}


sub stop_backend {
    my $pid = $Pid or return;

    undef $Pid;
    return unless $$ == $MainPid;

    kill 'TERM', $pid;

    my $deadline = Time::HiRes::time() + 3;

    while (Time::HiRes::time() < $deadline) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.01);
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
    return;
}


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

sub _patterns {
    my ($v) = @_;

    my @pats = ref $v eq 'ARRAY' ? @$v : ref $v ? ($v)
               : grep { /\S/ } split /\n/, $v;

    return map {
        if (ref $_) {
            qr/^(?:$_)$/;
        } else {
            (my $p = $_) =~ s/^\s+|\s+$//g;
            $p =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
                defined $ENV{$1} ? $ENV{$1} : die "no $1 in the environment\n"
            }ge;
            qr/^(?:$p)$/;
        }
    } @pats;
}


sub read_log {
    open my $in, '<', log_file() or return ();
    binmode $in;
    my @lines = <$in>;
    chomp @lines;
    return @lines;
}


# The first pattern not matched, in order, or undef when all are.
sub _unmatched {
    my ($pats, $lines) = @_;

    my $i = 0;

    for my $pat (@$pats) {
        $i++ while $i < @$lines && $lines->[$i] !~ $pat;
        return $pat if $i >= @$lines;
        $i++;
    }

    return undef;
}


sub _requests {
    my ($block) = @_;

    my $req = $block->request;
    my $n = ref $req eq 'ARRAY' ? scalar @$req : 1;
    my $p = $block->pipelined_requests;

    return $n * (ref $p eq 'ARRAY' ? scalar @$p : 1);
}


sub check_logs {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;

    return unless defined $block->link_log || defined $block->no_link_log;
    return unless $req_idx == _requests($block) - 1;

    my $name = $block->name;

    my $skip = sub {
        my ($section) = @_;
        SKIP: {
            Test::More::skip("$name - $section - tests skipped due to "
                             . "$dry_run", 1);
        }
    };

    if ($dry_run) {
        $skip->('link_log') if defined $block->link_log;
        $skip->('no_link_log') if defined $block->no_link_log;
        return;
    }

    my $started = $Started && $Block && $Block == $block;
    my @lines;

    if (defined $block->link_log) {
        my @pats = _patterns(scalar $block->link_log);
        my $deadline = Time::HiRes::time() + 2;
        my $missing;

        while (1) {
            @lines = read_log();
            $missing = _unmatched(\@pats, \@lines);
            last if !defined $missing || Time::HiRes::time() > $deadline;
            Time::HiRes::sleep(0.05);
        }

        Test::More::ok(!defined $missing && $started,
                       "$name - link_log (req $rep)")
            or Test::More::diag(
                   ($started ? '' : "no link backend was started\n")
                   . (defined $missing ? "not found in order: $missing\n" : '')
                   . "link.log:\n" . join '', map { "  $_\n" } @lines);

    } else {
        Time::HiRes::sleep(0.1);
    }

    if (defined $block->no_link_log) {
        @lines = read_log();
        my @bad;

        for my $pat (_patterns(scalar $block->no_link_log)) {
            push @bad, map { "$pat matches: $_\n" } grep { $_ =~ $pat } @lines;
        }

        Test::More::ok(!@bad && $started, "$name - no_link_log (req $rep)")
            or Test::More::diag(
                   ($started ? '' : "no link backend was started\n"), @bad);
    }

    return;
}


# ---------------------------------------------------------------------------
# Helpers for --- init and eval sections (installed in main::)
# ---------------------------------------------------------------------------

# ::ws_link_wait($regex, $seconds): wait until a line of link.log matches
# (whole line); true if one did.  For --- init: "the gateway's link is
# up" is ::ws_link_wait('> HELLO .*', 3) plus a little time.
sub ws_link_wait {
    my ($re, $wait) = @_;

    my ($pat) = _patterns([$re]);
    my $deadline = Time::HiRes::time() + (defined $wait ? $wait : 3);

    while (1) {
        return 1 if grep { $_ =~ $pat } read_log();
        return 0 if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }
}


# ::ws_link_status($uri, @header_lines): a WebSocket handshake to the
# running nginx on a connection of its own, closed once the status line
# is in (at most 3 s); returns the status code, or "error: ..." (never
# dies).  Header lines as for ::ws_handshake.
sub ws_link_status {
    my ($uri, @headers) = @_;

    no warnings 'once';

    my $port = Test::Nginx::Util::server_port_for_client();

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or return "error: connect to $port: $!";

    syswrite($s, main::ws_handshake($uri, @headers));

    my $head = '';
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + 3;

    while ($head !~ /\r\n/) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $head, 4096, length $head);
        last unless $n;
    }

    close $s;

    return $head =~ m{^HTTP/1\.\d (\d{3})} ? $1 : "error: got \"$head\"";
}


{
    no strict 'refs';

    *{"main::$_"} = \&{$_} for qw(ws_link_wait ws_link_status);
}


# ---------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------

Test::Nginx::Socket::add_block_preprocessor(sub {
    my ($block) = @_;

    stop_backend();
    undef $Started;
    undef $Block;

    return if defined $block->must_die;

    eval { parse_script(scalar $block->link_script); _script2($block); 1 }
        or Test::Nginx::Socket::bail_out($block->name . " - $@");

    $Block = $block;

    my $code = $block->post_setup_server_root;
    $block->set_value(post_setup_server_root =>
                      "t::WsLink::start_backend();\n"
                      . (defined $code ? $code : ''));
});

Test::Nginx::Socket::add_response_body_check(\&check_logs);

Test::Nginx::Socket::add_test_cleanup_handler(sub { stop_backend() });

Test::Nginx::Socket::add_cleanup_handler(sub { stop_backend() });

END {
    stop_backend() if $$ == $MainPid;
}

1;
