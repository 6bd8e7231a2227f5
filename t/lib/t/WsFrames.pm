package t::WsFrames;

# Helpers for the eval sections of the ngx_ws_gateway_module suites (they
# run in other packages, so the helpers are installed in main:: and are
# called as ::name): client handshakes and frames, and a decoder that
# turns server frames into readable lines.

use strict;
use warnings;

use Protocol::WebSocket::Frame;

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
# "close: 1000 reason", "ping: ", "pong: data"; a server frame that is
# masked, or whose length is not in the shortest form, shows as an error
sub ws_decode {
    my ($bytes) = @_;

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

        if ($op == 0x1) {
            push @out, "text$fin: $payload";

        } elsif ($op == 0x2) {
            push @out, "binary$fin: " . length($payload) . ' bytes';

        } elsif ($op == 0x8) {
            if (length $payload >= 2) {
                my $code = unpack('n', $payload);
                push @out, "close$fin: $code " . substr($payload, 2);

            } else {
                push @out, "close$fin:" . (length $payload ? ' short' : '');
            }

        } elsif ($op == 0x9) {
            push @out, "ping$fin: $payload";

        } elsif ($op == 0xa) {
            push @out, "pong$fin: $payload";

        } else {
            push @out, "opcode $op$fin: " . length($payload) . ' bytes';
        }
    }

    return join('', map { "$_\n" } @out);
}


# the eval sections run in other packages: the helpers are called ::name
{
    no strict 'refs';

    for my $name (qw(ws_handshake ws_frame ws_raw_frame ws_close_frame
                     ws_decode))
    {
        *{"main::$name"} = \&{$name};
    }
}

1;
