package Test::Nginx::Mock;

# One-shot mock backends of our Test::Nginx runner (--- tcp_listen,
# --- udp_listen).  A mock runs in a forked child for one repetition of a
# block: it takes one connection (or datagram), records what it received
# in a file for the tcp_query / udp_query checks, replies and exits.

use strict;
use warnings;

use Exporter qw(import);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use POSIX ();
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use Test::More ();
use Time::HiRes qw(sleep);

use Test::Nginx::Util qw(
    bail_out expand_env is_str parse_time register_child stop_child verbose
);

our @EXPORT_OK = qw(start_mocks finish_mocks);

# Start the mocks a block asks for.  Returns a list of mock records for
# finish_mocks().
sub start_mocks {
    my $block = shift;
    my @mocks;

    if (defined $block->tcp_listen) {
        bail_out($block->name, ' - no --- tcp_reply specified but ',
                 '--- tcp_listen is specified')
            unless defined $block->tcp_reply || defined $block->tcp_shutdown;
        push @mocks, _start($block, 'tcp', scalar $block->tcp_listen,
                            \&_serve_tcp);
    }

    if (defined $block->udp_listen) {
        bail_out($block->name, ' - no --- udp_reply specified but ',
                 '--- udp_listen is specified')
            unless defined $block->udp_reply;
        push @mocks, _start($block, 'udp', scalar $block->udp_listen,
                            \&_serve_udp);
    }

    return @mocks;
}

# Run the query checks (tcp_query, tcp_query_len, udp_query), then stop
# the mocks.
sub finish_mocks {
    my ($block, @mocks) = @_;
    my $name = $block->name;

    for my $mock (@mocks) {
        my $got = _slurp($mock->{query_file});
        if ($mock->{proto} eq 'tcp') {
            is_str($got, scalar $block->tcp_query, "$name - tcp_query ok")
                if defined $block->tcp_query;
            Test::More::is(length $got, scalar $block->tcp_query_len,
                           "$name - TCP query length ok")
                if defined $block->tcp_query_len;
        } elsif (defined $block->udp_query) {
            is_str($got, scalar $block->udp_query, "$name - udp_query ok");
        }

        stop_child($mock->{pid});
        close $mock->{socket};
        unlink $mock->{target} if $mock->{target} =~ /\.sock$/;
    }
    return;
}

sub _slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    binmode $in;
    local $/;
    return scalar(<$in>) // '';
}

sub _listen {
    my ($proto, $target) = @_;
    my $type = $proto eq 'tcp' ? SOCK_STREAM : SOCK_DGRAM;

    if ($target =~ /^\d+$/) {
        return IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $target, Proto => $proto,
            ReuseAddr => 1, ($proto eq 'tcp' ? (Listen => 5) : ()));
    }
    unlink $target;
    return IO::Socket::UNIX->new(
        Local => $target, Type => $type,
        ($proto eq 'tcp' ? (Listen => 5) : ()));
}

sub _start {
    my ($block, $proto, $target, $serve) = @_;
    my $name = $block->name;
    $target = expand_env($target, $name);
    bail_out("$name - bad ${proto}_listen target: $target")
        unless $target =~ /^\d+$/ || $target =~ /\S+\.sock$/;

    my $socket;
    for (1 .. 25) {
        $socket = _listen($proto, $target) and last;
        last unless $!{EADDRINUSE};
        warn "WARNING: $name - $target: $!, retrying\n";
        sleep 0.2;
    }
    $socket or bail_out("$name - failed to create the $proto listening "
                        . "socket on $target: $!");

    my (undef, $query_file) = File::Temp::tempfile(UNLINK => 1);

    my $pid = fork // bail_out("$name - fork() failed: $!");
    if (!$pid) {
        # The child must never return into the test script.
        $SIG{TERM} = 'DEFAULT';
        my $ok = eval { $serve->($block, $socket, $query_file); 1 };
        warn "$name - $proto mock on $target: $@" unless $ok;
        POSIX::_exit($ok ? 0 : 1);
    }

    verbose() and warn "$proto mock $pid listening on $target\n";
    register_child($pid, "$name - $proto mock");
    return { proto => $proto, pid => $pid, socket => $socket,
             target => $target, query_file => $query_file };
}

# Record what was received so far; the rename makes it atomic for the
# reader in the parent.
sub _record {
    my ($file, $data) = @_;
    open my $out, '>', "$file.tmp" or die "cannot write $file.tmp: $!\n";
    binmode $out;
    print $out $data;
    close $out;
    rename "$file.tmp", $file or die "cannot rename to $file: $!\n";
    return;
}

# tcp_reply / udp_reply: a string, an ARRAY (one send each) or a CODE
# ref called with the received bytes and returning either.
sub _replies {
    my ($reply, $received) = @_;
    $reply = $reply->($received) if ref $reply eq 'CODE';
    return () unless defined $reply;
    return @$reply if ref $reply eq 'ARRAY';
    die "bad reply value: $reply\n" if ref $reply;
    return ($reply);
}

sub _serve_tcp {
    my ($block, $server, $query_file) = @_;

    my $client;
    until ($client = $server->accept) {
        warn "WARNING: TCP mock: failed to accept: $!\n";
        sleep 0.015;
    }

    # --- tcp_shutdown: 0 (read side), 1 (write side) or 2 (both).
    my ($no_read, $no_write);
    if (defined(my $how = $block->tcp_shutdown)) {
        my $delay = parse_time(scalar $block->tcp_shutdown_delay);
        sleep $delay if $delay;
        $client->shutdown($how);
        $how == 1 ? ($no_write = 1) : ($no_read = 1);
    }

    my $received = '';
    _read_query($block, $client, $query_file, \$received) unless $no_read;

    my $delay = parse_time(scalar $block->tcp_reply_delay);
    sleep $delay if $delay;

    if (!$no_write) {
        for my $chunk (_replies(scalar $block->tcp_reply, $received)) {
            defined $client->send($chunk)
                or warn "WARNING: TCP mock failed to send reply: $!\n";
        }
    }

    sleep 1 while defined $block->tcp_no_close;    # until we are killed
    close $client;
    return;
}

# Read the query: one recv, or until tcp_query_len (default: the length
# of tcp_query) bytes arrived, or - with tcp_query_auto_timeout - until
# the peer is silent for that long (default 0.1 s).
sub _read_query {
    my ($block, $client, $query_file, $received) = @_;
    my $want = $block->tcp_query_len
               // (defined $block->tcp_query ? length $block->tcp_query : 0);
    my $auto = $block->tcp_query_auto_timeout;
    my $idle = defined $auto && $auto ne '' ? $auto + 0 : 0.1;
    my $select = IO::Select->new($client);

    while (1) {
        last if defined $auto && !$select->can_read($idle);
        defined $client->recv(my $buf, 4096)
            or die "failed to receive: $!\n";
        $$received .= $buf;
        _record($query_file, $$received);
        last if $buf eq '';
        last if !defined $auto && length $$received >= $want;
    }
    return;
}

sub _serve_udp {
    my ($block, $socket, $query_file) = @_;

    my $peer = $socket->recv(my $received, 65536);
    defined $peer or die "udp recv failed: $!\n";
    _record($query_file, $received);

    my $delay = parse_time(scalar $block->udp_reply_delay);
    sleep $delay if $delay;

    for my $chunk (_replies(scalar $block->udp_reply, $received)) {
        defined $socket->send($chunk, 0, $peer)
            or warn "WARNING: UDP mock failed to send reply: $!\n";
    }
    return;
}

1;
