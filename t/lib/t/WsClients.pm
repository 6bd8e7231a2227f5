package t::WsClients;

# Named WebSocket clients beside a block's own request, for suites that
# need several sessions at once (channels, broadcasts, failover).  Load
# it after the runner (and t::WsFrames, for ::ws_handshake):
#
#     use t::WsGateway;
#     use t::WsLink;
#     use t::WsClients;
#
# The helpers are installed in main:: (eval sections call them as
# ::name, --- init as main::name).  Every call is bounded by its wait
# (seconds) and never dies; errors come back as text.
#
#     ::wsc_open(NAME, REQUEST, FRAMES, WAIT, OPTIONS)  connect to the
#         running nginx, write REQUEST (a handshake, and frames), read the
#         response header and then FRAMES whole server frames (at most
#         WAIT s, 2 by default); returns the status code ("101") or
#         "error: ...".  The frames read are kept for ::wsc_read.
#         OPTIONS (a hash ref): port => another port of 127.0.0.1,
#         rcvbuf => SO_RCVBUF, sndbuf => SO_SNDBUF, set before the
#         connect (a client that does not read, or whose writes are not
#         read, then stalls soon: small buffers are not autotuned).
#     ::wsc_send(NAME, BYTES)         write more (::ws_frame(...) ...)
#     ::wsc_push(NAME, BYTES, WAIT)   write BYTES (after what an earlier
#         push left), without blocking, for at most WAIT s (1 by
#         default): returns the bytes this client has written in all,
#         and what is left is kept for the next push ("" goes on with it)
#     ::wsc_read(NAME, FRAMES, WAIT)  the next FRAMES server frames (or
#         what came within WAIT s, 2 by default), as ::wsc_decode lines
#         joined with " | " ("" if none); they are consumed.
#     ::wsc_drain(NAME, WAIT)         every frame that comes within WAIT
#         s (0.3 by default), the same way
#     ::wsc_closed(NAME, WAIT)        "closed" when the server closed the
#         connection within WAIT s (1 by default), else "open"
#     ::wsc_count(NAME, WAIT)         the frames that come within WAIT s
#         (1 by default), consumed, counted by kind: "text 12, binary 0,
#         close 1000 reason" (the last close frame, or "no close")
#     ::wsc_get(URI)                  GET URI over HTTP/1.0 on a
#         connection of its own: the response body ("error: ..." if none
#         came within 2 s)
#     ::wsc_close(NAME)               close the connection (also done for
#         every client at the end of each block)
#     ::wsc_decode(BYTES)             server frames as lines, as
#         ::ws_decode but binary frames show their bytes in hex
#         ("binary: 00ff01") and lines are joined with " | "
#
# Clients are closed by a test cleanup handler after each block, so that
# they never hold a stopping nginx.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use Socket ();
use Time::HiRes ();

our %Clients;


sub _frames {
    my ($data) = @_;

    my @frames;

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
        push @frames, substr($data, 0, $hdr + $len, '');
    }

    return (\@frames, $data);
}


sub wsc_decode {
    my ($bytes) = @_;

    my ($frames, $rest) = _frames($bytes);
    my @out;

    for my $f (@$frames) {
        my $op = ord($f) & 0x0f;

        if ($op == 0x2) {
            my $len = ord(substr $f, 1, 1) & 0x7f;
            my $hdr = $len == 126 ? 4 : $len == 127 ? 10 : 2;
            push @out, 'binary: ' . unpack('H*', substr $f, $hdr);

        } else {
            (my $line = main::ws_decode($f)) =~ s/\n\z//;
            push @out, $line;
        }
    }

    push @out, 'truncated: ' . length($rest) . ' bytes' if length $rest;

    return join ' | ', @out;
}


# read into $c->{buf} until $want whole frames are there, or EOF, or the
# deadline
sub _fill {
    my ($c, $want, $wait) = @_;

    my $sel = IO::Select->new($c->{sock});
    my $deadline = Time::HiRes::time() + $wait;

    while (1) {
        if (!defined $c->{status}) {
            if ($c->{buf} =~ s/\A(.*?\r\n\r\n)//s) {
                my $head = $1;
                $c->{status} = $head =~ m{^HTTP/1\.\d (\d{3})}
                               ? $1 : 'error: bad status line';
            }
        }

        if (defined $c->{status} && defined $want) {
            my ($frames) = _frames($c->{buf});
            return if @$frames >= $want;
        }

        return if $c->{eof};

        my $left = $deadline - Time::HiRes::time();
        return if $left <= 0;
        next unless $sel->can_read($left);

        my $n = sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf});
        $c->{eof} = 1 unless $n;
    }
}


sub _take {
    my ($c, $n) = @_;

    my ($frames, $rest) = _frames($c->{buf});
    $n = @$frames if !defined $n || $n > @$frames;

    my $out = join '', @$frames[0 .. $n - 1];
    $c->{buf} = join '', @$frames[$n .. $#$frames], $rest;

    return wsc_decode($out);
}


sub wsc_open {
    my ($name, $request, $frames, $wait, $opts) = @_;

    wsc_close($name);

    no warnings 'once';

    my $o = $opts || {};
    my $port = $o->{port} || Test::Nginx::Util::server_port_for_client();

    my $s = IO::Socket::INET->new(Proto => 'tcp')
        or return "error: socket: $!";

    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), $o->{rcvbuf})
        if $o->{rcvbuf};
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_SNDBUF(), $o->{sndbuf})
        if $o->{sndbuf};

    connect($s, Socket::pack_sockaddr_in($port,
                                         Socket::inet_aton('127.0.0.1')))
        or return "error: connect to $port: $!";

    my $c = $Clients{$name} = { sock => $s, buf => '' };

    syswrite($s, $request) if defined $request && length $request;
    _fill($c, $frames || 0, defined $wait ? $wait : 2);

    return defined $c->{status} ? $c->{status} : 'error: no response';
}


sub wsc_send {
    my ($name, $bytes) = @_;

    my $c = $Clients{$name} or return "error: no client $name";
    my $n = syswrite($c->{sock}, $bytes);

    return defined $n && $n == length $bytes ? 'ok' : "error: write: $!";
}


sub wsc_push {
    my ($name, $bytes, $wait) = @_;

    my $c = $Clients{$name} or return "error: no client $name";

    $c->{wpending} = '' unless defined $c->{wpending};
    $c->{wpending} .= $bytes if defined $bytes;
    $c->{written} ||= 0;

    my $sel = IO::Select->new($c->{sock});
    my $deadline = Time::HiRes::time() + (defined $wait ? $wait : 1);

    $c->{sock}->blocking(0);

    while (length $c->{wpending}) {
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0;
        next unless $sel->can_write($left);

        my $n = syswrite($c->{sock}, $c->{wpending}, 65536);

        if (!defined $n) {
            next if $!{EAGAIN} || $!{EWOULDBLOCK};
            $c->{sock}->blocking(1);
            return "error: write: $!";
        }

        substr($c->{wpending}, 0, $n) = '';
        $c->{written} += $n;
    }

    $c->{sock}->blocking(1);

    return $c->{written};
}


sub wsc_read {
    my ($name, $frames, $wait) = @_;

    my $c = $Clients{$name} or return "error: no client $name";
    _fill($c, $frames, defined $wait ? $wait : 2);

    return _take($c, $frames);
}


sub wsc_drain {
    my ($name, $wait) = @_;

    my $c = $Clients{$name} or return "error: no client $name";
    _fill($c, undef, defined $wait ? $wait : 0.3);

    return _take($c);
}


sub wsc_closed {
    my ($name, $wait) = @_;

    my $c = $Clients{$name} or return "error: no client $name";
    _fill($c, undef, defined $wait ? $wait : 1);

    return $c->{eof} ? 'closed' : 'open';
}


sub wsc_count {
    my ($name, $wait) = @_;

    my $c = $Clients{$name} or return "error: no client $name";
    _fill($c, undef, defined $wait ? $wait : 1);

    my ($frames, $rest) = _frames($c->{buf});
    $c->{buf} = $rest;

    my %n = (text => 0, binary => 0);
    my $close = 'no close';

    for my $f (@$frames) {
        my $op = ord($f) & 0x0f;
        $n{text}++ if $op == 0x1;
        $n{binary}++ if $op == 0x2;
        ($close = main::ws_decode($f)) =~ s/\n\z// if $op == 0x8;
    }

    return "text $n{text}, binary $n{binary}, $close";
}


sub wsc_get {
    my ($uri) = @_;

    my $name = "\0get";
    my $status = wsc_open($name, "GET $uri HTTP/1.0\r\nHost: localhost\r\n\r\n",
                          0, 2);
    my $c = $Clients{$name};

    _fill($c, undef, 2) if $c && !$c->{eof};

    my $body = $c ? $c->{buf} : '';
    wsc_close($name);

    return $status =~ /^\d+$/ ? $body : $status;
}


sub wsc_close {
    my ($name) = @_;

    my $c = delete $Clients{$name} or return;
    close $c->{sock};
    return;
}


sub wsc_close_all {
    wsc_close($_) for keys %Clients;
    return;
}


{
    no strict 'refs';

    *{"main::$_"} = \&{$_}
        for qw(wsc_open wsc_send wsc_push wsc_read wsc_drain wsc_closed wsc_close
               wsc_decode wsc_count wsc_get);
}

Test::Nginx::Socket::add_test_cleanup_handler(\&wsc_close_all);

1;
