package Test::Nginx::Client;

# The HTTP client of our Test::Nginx runner: builds the requests of a
# block (--- request, --- raw_request, --- pipelined_requests), sends them
# over TCP and splits the raw response into status, headers and body.

use strict;
use warnings;

use Exporter qw(import);
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(EAGAIN EWOULDBLOCK EINTR WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(
    bail_out expand_env server_addr server_name server_port_for_client
    verbose
);

our @EXPORT_OK = qw(requests_from_block send_request parse_response);

# ---------------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------------

# The requests of a block.  Each request is an ARRAY of packets
# { value => bytes, delay_before => seconds }, written one after another
# on a new connection.
sub requests_from_block {
    my $block = shift;
    my $name  = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [ map { { value => $_ } } ref $raw ? @$raw : ($raw) ];
    }

    my $more_headers = $block->more_headers // '';
    my $headers_for = sub {
        my $i = shift;
        return $more_headers unless ref $more_headers eq 'ARRAY';
        return $more_headers->[$i]
            // bail_out("$name - --- more_headers lacks data for the "
                        . "request $i");
    };

    if (defined(my $reqs = $block->pipelined_requests)) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $stream = '';
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my $req = expand_env($reqs->[$i], $name);
            $stream .= join '', map { $_->{value} }
                build_request($name, [{ value => $req }], $headers_for->($i),
                              $conn);
        }
        return [{ value => $stream }];
    }

    my $request = $block->request;
    bail_out("$name - no --- request, --- raw_request or "
             . "--- pipelined_requests") unless defined $request;

    if (!ref $request) {
        # Leading comment lines and blank space are not part of it.
        1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//s;
        return [ build_request($name, [{ value => $request }],
                               $headers_for->(0), 'close') ];
    }

    bail_out("$name - --- request must be a string or an ARRAY")
        unless ref $request eq 'ARRAY';

    my @requests;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my @packets = !ref $one            ? ({ value => $one })
                    : ref $one eq 'ARRAY'  ? map { _packet($name, $_) } @$one
                    : bail_out("$name - a request must be a string or an "
                               . "ARRAY of packets");
        push @requests, [ build_request($name, \@packets, $headers_for->($i),
                                        'close') ];
    }
    return @requests;
}

sub _packet {
    my ($name, $p) = @_;
    return { value => $p } unless ref $p;
    return { %$p } if ref $p eq 'HASH';
    bail_out("$name - a packet must be a string or a HASH with a value");
}

# "--- more_headers" text -> (CRLF header lines, is_chunked).
sub _parse_more_headers {
    my $text = shift;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Turn "METHOD [URI [VERSION]]\nbody" into a full HTTP request and return
# it as packets.  The method line gets the defaults (/ and HTTP/1.1),
# headers are inserted after it (Host, Connection, more_headers,
# Content-Length for a non-empty body, which is trimmed).  Packet
# boundaries in the body keep their place in the body; boundaries in the
# request line keep their offset.
sub build_request {
    my ($name, $packets, $more_headers, $conn) = @_;
    my $text = join '', map { $_->{value} } @$packets;

    my ($first, $body) = $text =~ /\A([^\n]*\n?)(.*)\z/s;
    my ($meth, $url, $ver) = $first =~
        /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my $line = "$meth " . ($url // '/') . ' ' . ($ver // 'HTTP/1.1') . "\r\n";

    my ($headers, $chunked) = _parse_more_headers($more_headers);
    my $skipped = 0;
    if (!$chunked && $body ne '' && $headers !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^(\s*)//;
        $skipped = length $1;
        $body =~ s/\s+$//;
        $headers .= 'Content-Length: ' . length($body) . "\r\n";
    }
    my $head = $headers =~ /(?:^|\n)Host:/i ? '' : 'Host: ' . server_name()
                                                  . "\r\n";
    $head .= "Connection: $conn\r\n" unless $headers =~ /(?:^|\n)Connection/i;
    $head .= "$headers\r\n";

    my $request = $line . $head . $body;

    # Map the packet boundaries onto the new text.
    my @out;
    my ($old_end, $new_start) = (0, 0);
    for my $i (0 .. $#$packets) {
        $old_end += length $packets->[$i]{value};
        my $new_end = $i == $#$packets ? length $request
                    : $old_end < length $first ? _min($old_end, length $line)
                    : length($line) + length($head)
                      + _max(0, $old_end - length($first) - $skipped);
        $new_end = _min(_max($new_end, $new_start), length $request);
        push @out, { %{ $packets->[$i] },
                     value => substr($request, $new_start,
                                     $new_end - $new_start) };
        $new_start = $new_end;
    }
    return @out;
}

sub _min { $_[0] < $_[1] ? $_[0] : $_[1] }
sub _max { $_[0] > $_[1] ? $_[0] : $_[1] }

# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------

# Connect to nginx, retrying while it comes up (slow under valgrind).
sub _connect {
    my ($block, $timeout) = @_;
    my $addr = $block->server_addr_for_client // server_addr();
    my $port = server_port_for_client();
    my $deadline = time + ($Test::Nginx::Util::NginxChild ? 30 : 5);
    my $wait = 0.01;

    while (1) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr,
                                         PeerPort => $port,
                                         Proto    => 'tcp',
                                         Timeout  => $timeout);
        return $sock if $sock;

        my $err = $!;
        my $child = $Test::Nginx::Util::NginxChild;
        my $dead = defined $child && waitpid($child, WNOHANG) == $child;
        if ($dead || time > $deadline) {
            Test::More::fail($block->name . " - Can't connect to "
                             . "$addr:$port: $err (aborted)");
            return undef;
        }
        sleep $wait;
        $wait *= 2 if $wait < 0.5;
    }
}

# Send one request (an ARRAY of packets) on a new connection and read
# until EOF.  --- timeout is an inactivity timeout: hitting it fails the
# test unless --- abort is given.  Returns (raw response, is HEAD).
sub send_request {
    my ($packets, $block, $timeout) = @_;
    my $name = $block->name;
    my $middle_delay = $block->raw_request_middle_delay;
    my @queue = @$packets;
    my $is_head = $queue[0]{value} =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock = _connect($block, $timeout) or return (undef, $is_head);
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $resp = '';
    my $out = (shift @queue)->{value};
    my $writing = 1;
    my $select = IO::Select->new($sock);

    IO: while (1) {
        my ($readable, $writable) = IO::Select->select(
            $select, $writing ? $select : undef, undef, $timeout);

        if (!$readable && !$writable) {
            next IO if $! == EINTR;
            Test::More::fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            last IO;
        }

        if ($writable && @$writable) {
            my $n = syswrite $sock, $out;
            if (!defined $n) {
                next IO if $! == EAGAIN || $! == EWOULDBLOCK;
                warn "write failed: $!\n";
                $resp = "write failed: $!" if $resp eq '';
                last IO;
            }
            substr($out, 0, $n) = '';

            while ($out eq '') {
                my $next = shift @queue;
                if (!$next) {
                    $writing = 0;
                    _shutdown($sock, scalar $block->shutdown);
                    last;
                }
                my $delay = $next->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                $out = $next->{value};
            }
        }

        if ($readable && @$readable) {
            while (1) {
                my $n = sysread $sock, my $buf, 4096;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    warn "WARNING: $name - HTTP response read failure: $!\n";
                    last IO;
                }
                last IO if $n == 0;
                $resp .= $buf;
            }
        }
    }

    close $sock;
    verbose() and warn "response: [$resp]\n";
    return ($resp, $is_head);
}

# --- shutdown: half-close after the last write (flag = SHUT_WR).
sub _shutdown {
    my ($sock, $how) = @_;
    return unless defined $how;
    shutdown $sock, $how =~ /^\s*$/ ? 1 : $how;
    return;
}

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

# Parse a raw response.  Returns (HTTP::Response, raw header block,
# bytes left after the body) or () after failing on a bad chunked body.
# 101 and 304 responses keep their body raw.
sub parse_response {
    my ($name, $raw, $is_head) = @_;

    my ($raw_headers) = $raw =~ /\A(.*?\r\n)\r\n/s;
    $raw_headers //= '';

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        undef $code;
    }
    return ($res, $raw_headers) if $code && ($code == 101 || $code == 304);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if (defined $te && $te eq 'chunked') {
        my $body = _decode_chunked($name, $res->content // '',
                                   [ $res->header('Trailer') ], \$left);
        return unless defined $body;
        $res->content($body);

    } elsif (defined $len && $len =~ /^\d+$/) {
        my $content = $res->content;
        if (length $content < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . 'but got ' . length($content) . "\n" unless $is_head;
        } elsif (length $content > $len) {
            $left = substr $content, $len;
            $res->content(substr $content, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# Decode a chunked body, skipping the announced trailers.  Sets $$left
# to whatever follows the last chunk; fails and returns undef on bad data.
sub _decode_chunked {
    my ($name, $raw, $trailers, $left) = @_;
    my $decoded = '';
    my $bad = sub {
        Test::More::fail("$name - invalid chunked data received ($_[0])");
        return undef;
    };

    while (1) {
        if ($raw !~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
            return $bad->((pos($raw) // 0) < length $raw
                          ? 'bad chunk size' : 'no last chunk found');
        }
        my $size = hex $1;
        last if $size == 0;

        my $start = pos $raw;
        return $bad->('not enough octets for the data section')
            if length($raw) - $start < $size + 2;
        $decoded .= substr $raw, $start, $size;
        pos($raw) = $start + $size;
        $raw =~ /\G\r\n/gc or return $bad->('expected CRLF');
    }

    for my $trailer (@$trailers) {
        $raw =~ /\G\Q$trailer\E: [^\n]*\r\n/gc
            or return $bad->("expected trailer $trailer");
    }
    $raw =~ /\G\r\n/gc or return $bad->('expected CRLF');
    $$left = substr $raw, pos $raw if pos($raw) < length $raw;
    return $decoded;
}

1;
