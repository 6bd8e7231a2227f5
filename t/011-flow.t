# Backpressure (issue 11): toward clients, ws_gateway_outbound_policy
# (drop: the backend's messages over a session's cap are dropped and
# reported with DROPPED, the session goes on; close 1008 / 1013: the
# session is closed as a slow consumer); toward backends, the link
# watermarks (a backend that stops reading pauses its sessions' reads
# instead of closing them "backend busy", and everything arrives in
# order once it reads again); the configuration checks.
#
# The clients that do not read, or whose writes must stall, use a server
# of their own on $TEST_NGINX_SLOW_PORT (3992 unless set) with small
# socket buffers, and small buffers of their own (t::WsClients), so that
# the kernel does not absorb what the gateway holds back.  Unless a block
# says otherwise it uses $HttpConfig, $Config and $Script below, and its
# --- init waits until the backend has answered the gateway's HELLO.
use t::WsGateway;
use t::WsLink;
use t::WsClients;

use Digest::MD5 ();
use Time::HiRes ();

repeat_each(1);

$ENV{TEST_NGINX_SLOW_PORT} ||= 3992;

our $WaitLink = "main::ws_link_wait('> HELLO .*', 3)"
                . " && select(undef, undef, undef, 0.1);";

# 200 SENDs of 1000 bytes for "flood"
our $Script = 'on message "flood": '
              . join('; ', ('send text "a"*1000') x 200) . "\n";

# a client on the slow server that sends "flood" and does not read
our $Flooder = q{
    main::wsc_open('A', main::ws_handshake($main::Uri) . main::ws_frame('text', 'flood'),
                   0, 1, { port => $ENV{TEST_NGINX_SLOW_PORT}, rcvbuf => 4096 });
    main::wait_lines('> SEND s1 .*', 200);
    select(undef, undef, undef, 0.5);
};

# 512 binary messages of 16 KB (8 MB), each starting with its number
our @Big = map { pack('N', $_) . ('x' x 16380) } 1 .. 512;
our $Flood = join '', map { ::ws_frame('binary', $_) } @Big;
our @FloodLog = map { 'MESSAGE s1 binary len=16384 md5='
                      . Digest::MD5::md5_hex($_) } @Big;

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

# after the flood: what A got once it reads, the DROPPED lines, and
# whether what it got and what was dropped add up to the 200 SENDs
sub drop_report {
    my $got = main::wsc_count('A', 1.5);
    main::wsc_send('A', main::ws_frame('text', 'hi'));
    my $echo = main::wsc_read('A', 1);

    main::ws_link_wait('DROPPED s1 count=\d+', 2);
    my @dropped = grep { /^DROPPED / } t::WsLink::read_log();
    my $n = 0;
    $n += $_ for map { /count=(\d+)/ ? $1 : () } @dropped;
    my ($texts) = $got =~ /^text (\d+)/;
    $texts ||= 0;

    return "DROPPED: " . (@dropped ? 'yes' : 'no') . "\n"
           . "some dropped: " . ($n > 0 ? 'yes' : 'no') . "\n"
           . "some received: " . ($texts > 0 ? 'yes' : 'no') . "\n"
           . "received + dropped: " . ($texts + $n) . "\n"
           . "then: $echo\n";
}

# the object of the "backend" upstream's server in the totals' "links"
# of a status JSON: the members asked, "name value" lines
sub link_metrics {
    my ($json, @names) = @_;

    return "no link object in: $json\n"
        unless $json =~ /\{"upstream":"backend",(.*?)\}(?=,\{"upstream"|\])/s;

    my $obj = $1;

    return join '', map {
        $obj =~ /"$_":(\d+)/ ? "$_ $1\n" : "$_ missing\n"
    } @names;
}

our $HttpConfig = <<'_EOC_';
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 1;
        ws_gateway_link_connect_timeout 1s;
        ws_gateway_link_heartbeat 500ms;
        ws_gateway_link_backoff 100ms 1s;
    }
_EOC_

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass backend;
    }

    location /status {
        ws_gateway_status;
    }

    location /t {
        return 200 "ok\n";
    }
_EOC_

# the slow server of a block: the location $Uri, with $directives
sub slow_server {
    my ($directives) = @_;

    return <<"_EOC_";
    server {
        listen 127.0.0.1:\$TEST_NGINX_SLOW_PORT rcvbuf=8k sndbuf=8k;

        location /slow {
            ws_gateway_pass backend;
            ws_gateway_outbound_limit 16k;
$directives
        }

        location /status {
            ws_gateway_status;
        }
    }
_EOC_
}

our $Uri = '/slow';

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(http_config => $HttpConfig)
        unless defined $block->http_config;
    $block->set_value(config => $Config) unless defined $block->config;
    $block->set_value(link_script => $Script)
        unless defined $block->link_script;

    $block->set_value(init => $WaitLink)
        unless defined $block->init || defined $block->must_die;
});

# (after the variables: the eval sections of the blocks use them)
plan tests => repeat_each() * ::ws_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: ws_gateway_outbound_policy drop: SENDs over the cap are dropped, the session stays open; once the client reads, DROPPED with the count (one per drained queue), and what came plus what was dropped is all 200
--- http_config eval
$main::HttpConfig . main::slow_server('            ws_gateway_outbound_policy drop;')
--- init eval
$main::WaitLink . $main::Flooder
--- request
GET /t
--- response_body_filters eval
sub { main::drop_report() }
--- response_body
DROPPED: yes
some dropped: yes
some received: yes
received + dropped: 200
then: text: hi
--- link_log
MESSAGE s1 text flood
DROPPED s1 count=[1-9]\d*
MESSAGE s1 text hi
> SEND s1 text hi
--- no_link_log
CLOSE s1 .*
--- no_error_log
[alert]



=== TEST 2: drop: a client that never reads and is closed (send timeout 1s): its unreported drops come in a DROPPED before its CLOSE event
--- http_config eval
$main::HttpConfig . main::slow_server('            ws_gateway_outbound_policy drop;
            ws_gateway_send_timeout 1s;')
--- init eval
$main::WaitLink . $main::Flooder . q{
    main::wsc_send('A', main::ws_close_frame(1000));
    main::ws_link_wait('CLOSE s1 .*', 3);
}
--- request
GET /t
--- link_log
MESSAGE s1 text flood
DROPPED s1 count=[1-9]\d*
CLOSE s1 .*



=== TEST 3: ws_gateway_outbound_policy close 1008: the session is closed with 1008 "slow consumer" (by the gateway), no DROPPED
--- http_config eval
$main::HttpConfig . main::slow_server('            ws_gateway_outbound_policy close 1008;')
--- init eval
$main::WaitLink . $main::Flooder
--- request
GET /t
--- response_body_filters eval
sub { my $r = main::wsc_count('A', 2); $r =~ s/^text \d+, //; "$r\n" }
--- response_body
binary 0, close: 1008 slow consumer
--- link_log
MESSAGE s1 text flood
CLOSE s1 code=1008 by=1 reason=slow consumer
--- no_link_log
DROPPED .*



=== TEST 4: ws_gateway_outbound_policy close 1013: the session is closed with 1013 "slow consumer"
--- http_config eval
$main::HttpConfig . main::slow_server('            ws_gateway_outbound_policy close 1013;')
--- init eval
$main::WaitLink . $main::Flooder
--- request
GET /t
--- response_body_filters eval
sub { my $r = main::wsc_count('A', 2); $r =~ s/^text \d+, //; "$r\n" }
--- response_body
binary 0, close: 1013 slow consumer
--- link_log
MESSAGE s1 text flood
CLOSE s1 code=1013 by=1 reason=slow consumer
--- no_link_log
DROPPED .*



=== TEST 5: "close" without a code is close 1013
--- http_config eval
$main::HttpConfig . main::slow_server('            ws_gateway_outbound_policy close;')
--- init eval
$main::WaitLink . $main::Flooder
--- request
GET /t
--- response_body_filters eval
sub { my $r = main::wsc_count('A', 2); $r =~ s/^text \d+, //; "$r\n" }
--- response_body
binary 0, close: 1013 slow consumer
--- link_log
CLOSE s1 code=1013 by=1 reason=slow consumer



=== TEST 6: no ws_gateway_outbound_policy: close 1013 (today's behaviour)
--- http_config eval
$main::HttpConfig . main::slow_server('')
--- init eval
$main::WaitLink . $main::Flooder
--- request
GET /t
--- response_body_filters eval
sub { my $r = main::wsc_count('A', 2); $r =~ s/^text \d+, //; "$r\n" }
--- response_body
binary 0, close: 1013 slow consumer
--- link_log
CLOSE s1 code=1013 by=1 reason=slow consumer
--- no_link_log
DROPPED .*



=== TEST 7: link watermarks: a backend that stops reading for 3 s: the client's writes stall (its session is paused, the link's queue stays near the high watermark) instead of 1013 "backend busy"; then all 512 messages arrive, in order, and the session closes normally
--- http_config eval
my $c = $main::HttpConfig;
$c =~ s/(ws_gateway_links 1;)/$1
        ws_gateway_link_buffer 1m;
        ws_gateway_link_high_watermark 64k;
        ws_gateway_link_low_watermark 16k;
        ws_gateway_link_send_timeout 20s;
        ws_gateway_link_read_timeout 20s;/;
$c . main::slow_server('            ws_gateway_max_message_size 64k;')
--- link_script
rcvbuf 4096
on message "stall": stop-reading 3
on message *: ignore
--- init eval
$main::WaitLink . q{
    main::wsc_open('A', main::ws_handshake('/slow') . main::ws_frame('text', 'stall'),
                   0, 1, { port => $ENV{TEST_NGINX_SLOW_PORT}, sndbuf => 16384 });
    main::ws_link_wait('LINK 1 stop-reading 3', 2);
    $main::W1 = main::wsc_push('A', $main::Flood, 1.5);
    $main::S1 = main::wsc_get('/status');
    $main::W2 = main::wsc_push('A', '', 15);
    main::wsc_send('A', main::ws_close_frame(1000));
}
--- request
GET /t
--- timeout: 20
--- response_body_filters eval
sub {
    my $total = length $main::Flood;
    my $m = main::link_metrics($main::S1, qw(high_watermark low_watermark
                                             sessions_paused));
    my ($q) = main::link_metrics($main::S1, 'queued_bytes') =~ /(\d+)/;
    my ($p) = main::link_metrics($main::S1, 'pauses') =~ /(\d+)/;
    "stalled: " . ($main::W1 =~ /^\d+$/ && $main::W1 < $total ? 'yes' : "no ($main::W1)") . "\n"
    . "then all written: " . ($main::W2 eq $total ? 'yes' : "no ($main::W2)") . "\n"
    . $m
    . "paused: " . (defined $p && $p >= 1 ? 'yes' : 'no') . "\n"
    . "queued within 256k: " . (defined $q && $q <= 262144 ? 'yes' : 'no') . "\n"
    . "A: " . main::wsc_count('A', 15) . "\n"
}
--- response_body
stalled: yes
then all written: yes
high_watermark 65536
low_watermark 16384
sessions_paused 1
paused: yes
queued within 256k: yes
A: text 0, binary 0, close: 1000
--- link_log eval
['LINK 1 stop-reading 3', 'LINK 1 resume-reading', @main::FloodLog,
 'CLOSE s1 code=1000 by=0 reason=']
--- no_error_log
backend link buffer is full
reset:



=== TEST 8: ws_gateway_link_low_watermark equal to the high watermark is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_high_watermark 64k;
        ws_gateway_link_low_watermark 64k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_link_(?:low|high)_watermark"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 9: ws_gateway_link_low_watermark above the high watermark (defaults: high 1m) is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_low_watermark 2m;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_link_(?:low|high)_watermark"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 10: ws_gateway_link_high_watermark above ws_gateway_link_buffer is refused
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_buffer 128k;
        ws_gateway_link_high_watermark 256k;
        ws_gateway_link_low_watermark 16k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_link_(?:high_watermark|buffer)"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 11: ws_gateway_link_buffer 512k without watermarks is accepted: the default watermarks follow the buffer (the code's high = min(1m, buffer / 2), low = high / 4; the spec's fixed 1m default would be refused)
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_buffer 512k;
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]



=== TEST 12: ws_gateway_link_high_watermark in a location is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_high_watermark 64k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_link_high_watermark" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 13: ws_gateway_outbound_policy close 1011 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy close 1011;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_outbound_policy"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 14: ws_gateway_outbound_policy block is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy block;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_outbound_policy"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 15: ws_gateway_outbound_policy drop 1008 is refused
--- config
    location /ws {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy drop 1008;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: (?!unknown directive)[^\n]*"ws_gateway_outbound_policy"[^\n]* in \S+nginx\.conf:\d+/



=== TEST 16: the new directives with good values are accepted (watermarks at low < high = buffer; policies drop, close, close 1008, close 1013)
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_link_buffer 256k;
        ws_gateway_link_high_watermark 256k;
        ws_gateway_link_low_watermark 255k;
    }
--- config
    location /a {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy drop;
    }
    location /b {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy close;
    }
    location /c {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy close 1008;
    }
    location /d {
        ws_gateway_pass backend;
        ws_gateway_outbound_policy close 1013;
    }
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
