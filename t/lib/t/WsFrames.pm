package t::WsFrames;

# Helpers for the eval sections of the ngx_ws_gateway_module suites (they
# run in other packages, so the helpers are installed in main:: and are
# called as ::name): client handshakes and frames, and a decoder that
# turns server frames into readable lines.

use strict;
use warnings;

use Protocol::WebSocket::Frame;
use Digest::MD5 ();
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes ();

our $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
our $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

my %opcodes = (
    cont => 0x0, text => 0x1, binary => 0x2,
    close => 0x8, ping => 0x9, pong => 0xa,
);


# the handshake of RFC 6455 section 1.3, with extra header lines
sub ws_handshake {
    my ($uri, @headers) = @_;

    $uri ||= '/ws';

    my %h = (
        'Host' => 'localhost',
        'Upgrade' => 'websocket',
        'Connection' => 'Upgrade',
        'Sec-WebSocket-Key' => $KEY,
        'Sec-WebSocket-Version' => '13',
    );

    my @order = qw(Host Upgrade Connection Sec-WebSocket-Key
                   Sec-WebSocket-Version);

    # "Name: value" replaces a default; "Name:" alone removes it;
    # "+Name: value" adds a line even if the name is there already
    my @extra;

    for my $line (@headers) {
        my ($add, $name, $value) = $line =~ /^(\+?)([^:]+):\s*(.*)$/
            or die "bad header line: $line";

        if ($add) {
            push @extra, "$name: $value";

        } elsif ($value eq '') {
            delete $h{$name};

        } elsif (exists $h{$name}) {
            $h{$name} = $value;

        } else {
            push @extra, "$name: $value";
        }
    }

    my $req = "GET $uri HTTP/1.1\r\n";

    for my $name (@order) {
        $req .= "$name: $h{$name}\r\n" if exists $h{$name};
    }

    $req .= "$_\r\n" for @extra;

    return "$req\r\n";
}


# a well-formed masked client frame:
#   ws_frame('text', 'hello'), ws_frame('cont', 'x', fin => 0),
#   ws_frame('binary', $data, rsv => [1, 0, 0]), ws_frame(3, '') ...
sub ws_frame {
    my ($type, $payload, %opt) = @_;

    my $opcode = exists $opcodes{$type} ? $opcodes{$type} : $type;

    my $f = Protocol::WebSocket::Frame->new(
        buffer => defined $payload ? $payload : '',
        opcode => $opcode,
        masked => exists $opt{masked} ? $opt{masked} : 1,
        max_payload_size => 0,
    );

    $f->fin(exists $opt{fin} ? $opt{fin} : 1);
    $f->rsv($opt{rsv}) if $opt{rsv};

    return $f->to_bytes;
}


# a raw client frame, for what Protocol::WebSocket will not build:
# any first byte, any length encoding (len7 => 126 or 127 with
# len => the extended length), masked or not
sub ws_raw_frame {
    my (%o) = @_;

    my $payload = defined $o{payload} ? $o{payload} : '';
    my $len = defined $o{len} ? $o{len} : length $payload;
    my $masked = exists $o{masked} ? $o{masked} : 1;
    my $len7 = $o{len7};

    unless (defined $len7) {
        $len7 = $len < 126 ? $len : $len < 65536 ? 126 : 127;
    }

    my $s = pack('C', $o{byte0}) . pack('C', ($masked ? 0x80 : 0) | $len7);

    if ($len7 == 126) {
        $s .= pack('n', $len);

    } elsif ($len7 == 127) {
        $s .= pack('N', int($len / 4294967296)) . pack('N', $len % 4294967296);
    }

    if ($masked) {
        my $key = "\x37\xfa\x21\x3d";
        $s .= $key;
        $payload ^= substr($key x (int(length($payload) / 4) + 1), 0,
                           length $payload);
    }

    return $s . $payload;
}


sub ws_close_frame {
    my ($code, $reason) = @_;

    my $payload = defined $code ? pack('n', $code) : '';
    $payload .= $reason if defined $reason;

    return ws_frame('close', $payload);
}


# server frames as readable lines: "text: hello", "binary: 6 bytes",
# "close: 1000 reason", "close: 1000", "ping:", "pong: data" (no trailing
# space after an empty payload or reason); a server frame that is
# masked, or whose length is not in the shortest form, shows as an error
sub ws_decode {
    my ($bytes) = @_;

    return _ws_decode($bytes, 0);
}


# as ws_decode, but a text or binary frame shows its length and the MD5
# of its payload ("binary: 65536 bytes, md5 0123..."), for large echoes
sub ws_decode_md5 {
    my ($bytes) = @_;

    return _ws_decode($bytes, 1);
}


sub _ws_decode {
    my ($bytes, $md5) = @_;

    my @out;

    while (length $bytes) {
        if (length $bytes < 2) {
            push @out, 'truncated: ' . length($bytes) . ' bytes';
            last;
        }

        my ($b0, $b1) = unpack('CC', $bytes);
        my $len = $b1 & 0x7f;
        my $off = 2;

        if ($b1 & 0x80) {
            push @out, 'error: masked server frame';
            last;
        }

        if ($len == 126) {
            $len = unpack('n', substr($bytes, 2, 2));
            $off = 4;
            push @out, 'error: long length form' if $len < 126;

        } elsif ($len == 127) {
            my ($hi, $lo) = unpack('NN', substr($bytes, 2, 8));
            $len = $hi * 4294967296 + $lo;
            $off = 10;
            push @out, 'error: long length form' if $len < 65536;
        }

        if (length($bytes) < $off + $len) {
            push @out, 'truncated: ' . length($bytes) . ' bytes';
            last;
        }

        my $payload = substr($bytes, $off, $len);
        $bytes = substr($bytes, $off + $len);

        my $op = $b0 & 0x0f;
        my $fin = $b0 & 0x80 ? '' : ' (no fin)';
        $fin .= ' (rsv)' if $b0 & 0x70;

        if ($md5 && ($op == 0x1 || $op == 0x2)) {
            push @out, ($op == 0x1 ? 'text' : 'binary') . "$fin: "
                       . length($payload) . ' bytes, md5 '
                       . Digest::MD5::md5_hex($payload);

        } elsif ($op == 0x1) {
            push @out, "text$fin: $payload";

        } elsif ($op == 0x2) {
            push @out, "binary$fin: " . length($payload) . ' bytes';

        } elsif ($op == 0x8) {
            if (length $payload >= 2) {
                my $code = unpack('n', $payload);
                my $reason = substr($payload, 2);
                push @out, "close$fin: $code"
                           . (length $reason ? " $reason" : '');

            } else {
                push @out, "close$fin:" . (length $payload ? ' short' : '');
            }

        } elsif ($op == 0x9) {
            push @out, "ping$fin:" . (length $payload ? " $payload" : '');

        } elsif ($op == 0xa) {
            push @out, "pong$fin:" . (length $payload ? " $payload" : '');

        } else {
            push @out, "opcode $op$fin: " . length($payload) . ' bytes';
        }
    }

    return join('', map { "$_\n" } @out);
}


# A client that stops reading, for the send timeout: connects to the
# running nginx with a small receive buffer, completes the handshake of
# $uri, then writes $frame (default: a 16k binary frame, echoed back) as
# long as the server reads, without reading anything, and waits until
# error.log has a line matching $pattern, at most $wait seconds.  For a
# "--- init" section; never dies.  Returns what happened, as a string:
# "matched after N bytes", "no match after N bytes", or an error.
#   ::ws_flood_unread(uri => '/ws', pattern => qr/client timed out reading/)
# With drip => $frame, the flood stops after max_bytes, then $frame is
# written every drip_every seconds (0.1) for drip_for seconds (2), still
# without reading, and the log is searched after each write: a match then
# is "matched after N bytes" as above, a match only after the drip is
# over is "matched only after the client stopped writing, after N bytes".
sub ws_flood_unread {
    my (%o) = @_;

    my $uri = $o{uri} || '/ws';
    my $pattern = $o{pattern} || qr/client timed out reading/;
    my $wait = $o{wait} || 5;
    my $max = $o{max_bytes} || 256 * 1024 * 1024;
    my $frame = defined $o{frame} ? $o{frame}
                : ws_frame('binary', 'x' x 16384);

    no warnings "once";

    my $port = Test::Nginx::Util::server_port_for_client();
    my $log = $Test::Nginx::Util::ErrLogFile;

    my $result = eval {
        my $sock = IO::Socket::INET->new(Proto => 'tcp')
            or return "socket: $!";

        setsockopt($sock, SOL_SOCKET, SO_RCVBUF, pack('i', 4096));

        my $addr = Socket::pack_sockaddr_in($port,
                                            Socket::inet_aton('127.0.0.1'));
        connect($sock, $addr) or return "connect to $port: $!";

        $sock->autoflush(1);
        syswrite($sock, ws_handshake($uri)) or return "write: $!";

        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            my $n = sysread($sock, $head, 1, length $head);
            return "handshake: " . ($n // $!) unless $n;
        }

        return "handshake: $head" unless $head =~ m{^HTTP/1\.1 101 };

        $sock->blocking(0);

        my ($sent, $off, $stalled) = (0, 0, undef);
        my $deadline = Time::HiRes::time() + $wait;

        # write until the server has stopped reading for a while

        while ($sent < $max && Time::HiRes::time() < $deadline) {
            my $n = syswrite($sock, $frame, length($frame) - $off, $off);

            if (defined $n && $n > 0) {
                $sent += $n;
                $off = ($off + $n) % length $frame;
                undef $stalled;
                next;
            }

            last unless defined $n ? 0 : $!{EAGAIN} || $!{EWOULDBLOCK};

            $stalled //= Time::HiRes::time();
            last if Time::HiRes::time() - $stalled > 0.3;

            Time::HiRes::sleep(0.005);
        }

        my $logged = sub {
            open my $in, '<', $log or return 0;
            while (my $line = <$in>) {
                return 1 if $line =~ $pattern;
            }
            return 0;
        };

        # optionally, keep writing a little, as a live client would

        if (defined $o{drip}) {
            my $every = $o{drip_every} || 0.1;
            my $until = Time::HiRes::time() + ($o{drip_for} || 2);

            while (Time::HiRes::time() < $until) {
                if ($logged->()) {
                    close $sock;
                    return "matched after $sent bytes";
                }

                my $n = syswrite($sock, $o{drip});
                $sent += $n if $n;
                Time::HiRes::sleep($every);
            }

            $deadline = Time::HiRes::time() + $wait;

            while (Time::HiRes::time() < $deadline) {
                if ($logged->()) {
                    close $sock;
                    return "matched only after the client stopped writing,"
                           . " after $sent bytes";
                }

                Time::HiRes::sleep(0.05);
            }

            close $sock;
            return "no match after $sent bytes";
        }

        # then wait for the log line, still without reading

        $deadline = Time::HiRes::time() + $wait;

        while (Time::HiRes::time() < $deadline) {
            if (open my $in, '<', $log) {
                while (my $line = <$in>) {
                    if ($line =~ $pattern) {
                        close $sock;
                        return "matched after $sent bytes";
                    }
                }
            }

            Time::HiRes::sleep(0.05);
        }

        close $sock;
        return "no match after $sent bytes";
    };

    return defined $result ? $result : "error: $@";
}


# A client that keeps its end open, for the close timeout: connects to
# the running nginx, writes $request (a handshake and frames), reads what
# the server sends until the server half-closes or closes (at most $wait
# seconds), then keeps the connection open, neither writing nor closing,
# until error.log has a line matching $pattern (at most $wait seconds).
# For a "--- init" section; never dies.  Returns what happened: "matched"
# or "no match", then the server's frames as ws_decode lines.
#   ::ws_hold_open(request => ::ws_handshake('/ws') . ::ws_frame(3, ''),
#                  pattern => qr/client timed out in the closing handshake/)
sub ws_hold_open {
    my (%o) = @_;

    my $pattern = $o{pattern}
                  || qr/client timed out in the closing handshake/;
    my $wait = $o{wait} || 5;

    no warnings 'once';

    my $port = Test::Nginx::Util::server_port_for_client();
    my $log = $Test::Nginx::Util::ErrLogFile;

    my $result = eval {
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $port,
                                         Proto => 'tcp')
            or return "connect to $port: $!";

        syswrite($sock, $o{request}) or return "write: $!";

        my $resp = '';
        my $deadline = Time::HiRes::time() + $wait;
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;

        while (Time::HiRes::time() < $deadline) {
            my $n = select(my $rout = $rin, undef, undef, 0.05);
            next unless $n;
            $n = sysread($sock, $resp, 65536, length $resp);
            last unless $n;
        }

        $resp =~ s/\A.*?\r\n\r\n//s;

        my $frames = ws_decode($resp);
        my $matched = 'no match';

        $deadline = Time::HiRes::time() + $wait;

        SCAN: while (Time::HiRes::time() < $deadline) {
            if (open my $in, '<', $log) {
                while (my $line = <$in>) {
                    if ($line =~ $pattern) {
                        $matched = 'matched';
                        last SCAN;
                    }
                }
            }

            Time::HiRes::sleep(0.05);
        }

        close $sock;
        return "$matched\n$frames";
    };

    return defined $result ? $result : "error: $@";
}


# The number of assertions the runners make for these suites' blocks
# (one request each, no repeat): the status, each response_headers line,
# the body check, raw_response_headers_unlike, each error_log and
# no_error_log pattern, grep_error_log, and t::WsLink's link_log and
# no_link_log.  For "plan tests".
sub ws_count_checks {
    my (@blocks) = @_;

    my $n = 0;

    for my $block (@blocks) {
        my @lines = ($block->response_headers // '') =~ /^[ \t]*\S.*$/mg;

        $n += 1 + @lines;
        $n += 1 if defined $block->response_body
                   || defined $block->response_body_like;
        $n += 1 if defined $block->raw_response_headers_unlike;

        for my $section (qw(error_log no_error_log)) {
            my $v = $block->$section;
            next unless defined $v;
            @lines = ref $v eq 'ARRAY' ? @$v
                     : ref $v ? ($v)
                     : $v =~ /^.*\S.*$/mg;
            $n += @lines;
        }

        $n += 1 if defined $block->grep_error_log;

        # t::WsLink: one test each, in blocks that send requests
        next if defined $block->must_die;
        $n += 1 if defined $block->link_log;
        $n += 1 if defined $block->no_link_log;
    }

    return $n;
}


# the eval sections run in other packages: the helpers are called ::name
{
    no strict 'refs';

    for my $name (qw(ws_handshake ws_frame ws_raw_frame ws_close_frame
                     ws_decode ws_decode_md5 ws_flood_unread ws_hold_open
                     ws_count_checks))
    {
        *{"main::$name"} = \&{$name};
    }
}

1;
