# Review of the backend links (h-review10): approvals (ws_gateway_link_approve)
# and a backend's or a client's abuse of a link.  Blocks whose title ends
# with "[main]" failed against main (f54b0bf) when they were written; the
# others pin down what worked.  See /work/notes/h-review10-report.md.
use t::WsGateway;
use t::WsLink;

use IO::Select ();
use IO::Socket::INET ();
use Socket ();
use Time::HiRes ();

repeat_each(1);

# the port of TEST 9's server of its own
$ENV{TEST_NGINX_HOLD_PORT} ||= 3989;

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
    }
_EOC_

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass backend;
    }

    location /t {
        return 200 "$arg_r\n";
    }

    location /approve {
        ws_gateway_pass backend;
        ws_gateway_link_approve on;
        ws_gateway_link_approve_timeout 1s;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;

    $block->set_value(init => "main::ws_link_wait('> HELLO .*', 3)"
                              . " && select(undef, undef, undef, 0.1);")
        unless defined $block->init || defined $block->must_die;
});

# ::probe($request, $seconds): writes $request on a connection of its own
# and reads until the server closes it or $seconds pass; then closes it.
# Returns "closed" or "open", and the status line's code if any came.
sub probe {
    my ($request, $wait) = @_;

    my $port = Test::Nginx::Util::server_port_for_client();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or return "error: connect: $!";

    syswrite($s, $request);

    my ($resp, $state) = ('', 'open');
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + $wait;

    while ((my $left = $deadline - Time::HiRes::time()) > 0) {
        next unless $sel->can_read($left);
        my $n = sysread($s, $resp, 65536, length $resp);
        if (!$n) {
            $state = 'closed';
            last;
        }
    }

    close $s;

    my $status = $resp =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 'none';

    return "$state, status $status";
}

# ::hold($port, $n, $request): $n connections to $port with a 4 KB
# receive buffer that write $request and then never read; kept open in
# @main::Held until the block's end
our @Held;

sub hold {
    my ($port, $n, $request) = @_;

    @Held = ();

    for (1 .. $n) {
        my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
        setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
        connect($s, Socket::pack_sockaddr_in($port,
                                             Socket::inet_aton('127.0.0.1')))
            or die "connect: $!";
        syswrite($s, $request);
        push @Held, $s;
    }
}

# the "queued_bytes" of the status JSON's totals against a bound
sub queued_within {
    my ($json, $bound) = @_;

    return "no totals in: $json" unless $json =~ /"totals":\{.*?"queued_bytes":(\d+)/s;
    return $1 <= $bound ? "within\n" : "queued $1 > $bound\n";
}

run_tests();

__DATA__

=== TEST 1: approval: ACCEPT, then the session works
--- link_script
on open: accept
--- raw_request eval
[::ws_handshake('/approve'), ::ws_frame('text', 'hi'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.2
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- link_log
OPEN s1 flags=2 .*
> ACCEPT s1
MESSAGE s1 text hi
CLOSE s1 code=1000 by=0 reason=
--- no_error_log
[error]



=== TEST 2: approval: REJECT 403: a 403 page, with its body, and none of the 101's headers [main]
--- link_script
on open: reject 403 "banned"
--- raw_request eval
::ws_handshake('/approve')
--- timeout: 1
--- error_code: 403
--- response_headers
! Upgrade
! Sec-WebSocket-Accept
--- response_body_like: 403 Forbidden
--- error_log
backend refused the WebSocket handshake with 403: "banned"



=== TEST 3: approval: REJECT 408 does not leave the client hanging (NGINX closes a 408 without a response) [main]
--- link_script
on open: reject 408 "slow"
--- init
main::ws_link_wait('> HELLO .*', 3);
$main::Probe = main::probe(main::ws_handshake('/approve'), 1.5);
--- request
GET /t
--- response_body_filters eval
sub { "$main::Probe\n" }
--- response_body_like: ^closed
--- error_log
backend refused the WebSocket handshake with 408: "slow"



=== TEST 4: approval: REJECT 444 does not leave the client hanging (444: closed without a response, as "return 444") [main]
--- link_script
on open: reject 444
--- init
main::ws_link_wait('> HELLO .*', 3);
$main::Probe = main::probe(main::ws_handshake('/approve'), 1.5);
--- request
GET /t
--- response_body_filters eval
sub { "$main::Probe\n" }
--- response_body_like: ^closed
--- error_log
backend refused the WebSocket handshake with 444



=== TEST 5: approval: no verdict: 503 with Retry-After and a body, CLOSE 1011 to the backend, a late ACCEPT gets GONE [main]
--- link_script
on close: accept
--- raw_request eval
::ws_handshake('/approve')
--- timeout: 2
--- error_code: 503
--- response_headers
Retry-After: 1
! Upgrade
! Sec-WebSocket-Accept
--- response_body_like: 503 Service
--- link_log
OPEN s1 flags=2 .*
CLOSE s1 code=1011 by=1 reason=approval timeout
> ACCEPT s1
GONE s1 command=0x22



=== TEST 6: approval: the link is lost while waiting: 503 with a body [main]
--- link_script
on open: hangup
--- raw_request eval
::ws_handshake('/approve')
--- timeout: 1
--- error_code: 503
--- response_headers
Retry-After: 1
! Upgrade
--- response_body_like: 503 Service



=== TEST 7: approval: ACCEPT twice, then REJECT: both answered with GONE; SEND and CLOSE right after the ACCEPT reach the client after the 101
--- link_script
on open: accept; accept; reject 403; send text "early"; close 4000 "bye"
--- raw_request eval
[::ws_handshake('/approve'), ::ws_close_frame(4000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: early
close: 4000 bye
--- link_log
> ACCEPT s1
> ACCEPT s1
> REJECT s1 .*
GONE s1 command=0x22
GONE s1 command=0x23
CLOSE s1 code=4000 by=2 reason=bye
--- no_error_log
[error]



=== TEST 8: approval: the client goes while the backend thinks: CLOSE 1006 by=0 "connection lost"
--- link_script
on open: ignore
--- init
main::ws_link_wait('> HELLO .*', 3);
$main::Probe = main::probe(main::ws_handshake('/approve'), 0.3);
--- request
GET /t
--- response_body_filters eval
sub { "$main::Probe\n" }
--- response_body
open, status none
--- link_log
OPEN s1 flags=2 .*
CLOSE s1 code=1006 by=0 reason=connection lost
--- no_link_log
CLOSE s1 code=1011 .*



=== TEST 9: a backend that sends to clients that do not read is held to ws_gateway_worker_outbound_limit [main]
--- http_config
    ws_gateway_worker_outbound_limit 1m;

    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_HOLD_PORT sndbuf=8k;

        location /flood {
            ws_gateway_pass backend;
            ws_gateway_outbound_limit 1m;
            ws_gateway_max_message_size 64k;
            ws_gateway_send_timeout 30s;
        }
    }
--- config
    location /status {
        ws_gateway_status;
    }
--- link_script eval
'on message "flood": ' . CORE::join('; ', ('send text "a"*16000') x 64)
--- init
main::ws_link_wait('> HELLO .*', 3);
main::hold($ENV{TEST_NGINX_HOLD_PORT}, 6, main::ws_handshake('/flood') . main::ws_frame('text', 'flood'));
main::ws_link_wait('MESSAGE s6 text flood', 3);
select(undef, undef, undef, 0.5);
--- request
GET /status
--- response_body_filters eval
sub { main::queued_within($_[0], 1024 * 1024 * 9 / 8 + 6 * (64 + 64 + 12) * 1024) }
--- response_body
within



=== TEST 10: approval: SENDs between the ACCEPT and the start over ws_gateway_outbound_limit: 1013 by the gateway (by=1), not by the backend [main]
--- config
    location /approve {
        ws_gateway_pass backend;
        ws_gateway_link_approve on;
        ws_gateway_outbound_limit 16k;
    }
--- link_script eval
'on open: accept; ' . CORE::join('; ', ('send text "a"*8000') x 8)
--- raw_request eval
[::ws_handshake('/approve'), ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.3
--- error_code: 101
--- response_body_filters eval
sub { my $d = ::ws_decode($_[0]); $d =~ s/^text: .*\n//mg; $d }
--- response_body_like: ^close: 1013
--- link_log
> ACCEPT s1
CLOSE s1 code=1013 by=1 reason=slow consumer
