# Review of issue 11 (h-review11): failing tests for findings of
# /work/notes/h-review11-report.md.  TEST 1 (finding 1): a failover onto
# a link whose backend reads slowly: link_pick refuses the link once its
# queue is at ws_gateway_link_buffer, adopt stops, and nothing posts it
# again when the queue drains: the orphans wait for the failover timeout
# although a ready link has room again.
use t::WsGateway;
use t::WsLink;
use t::WsClients;

use Time::HiRes ();

repeat_each(1);

our $N = 60;
our $Pad = 'p' x 60000;

plan tests => repeat_each() * ::ws_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: a failover onto a link whose backend stops reading for 1 s: its queue stays within the link buffer + one record, and once it reads again every orphan is re-announced (no orphan left 7 s later)
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_LINK_PORT;
        ws_gateway_links 2;
        ws_gateway_link_buffer 64k;
        ws_gateway_link_high_watermark 16k;
        ws_gateway_link_low_watermark 8k;
        ws_gateway_link_heartbeat 5s;
        ws_gateway_link_send_timeout 10s;
        ws_gateway_link_backoff 5s;
    }
--- config
    large_client_header_buffers 4 64k;

    location /ws {
        ws_gateway_pass backend;
        ws_gateway_link_param pad $http_x_pad;
        ws_gateway_failover_timeout 10s;
    }

    location /status {
        ws_gateway_status;
    }
--- link_script
rcvbuf 4096
on reannounce: stop-reading 1
on message "die": hangup
--- init eval
q{
    main::ws_link_wait('> HELLO .*', 3);
    select(undef, undef, undef, 0.3);
    for my $i (1 .. $main::N) {
        main::wsc_open("c$i", main::ws_handshake("/ws?$main::Pad",
                                                 "X-Pad: $main::Pad"),
                       0, 2);
    }
    select(undef, undef, undef, 1);
    main::wsc_send('c1', main::ws_frame('text', 'die'));
    main::ws_link_wait('LINK \d+ hangup', 3);
    select(undef, undef, undef, 0.5);
    $main::Early = main::wsc_get("/status");
    select(undef, undef, undef, 7);
    $main::Status = main::wsc_get("/status");
}
--- request
GET /status
--- response_body_filters eval
sub {
    my ($q) = $main::Early =~ /"queued_bytes":(\d+)/;
    my ($o) = $main::Status =~ /"orphaned":(\d+)/;
    my ($r) = $main::Status =~ /"reannounced":(\d+)/;
    my ($l) = $main::Status =~ /"sessions_lost_link":(\d+)/;
    "queue within the link buffer + one record: "
    . (defined $q && $q <= 64 * 1024 + 130000 ? 'yes' : "no ($q)") . "\n"
    . "orphans left 3 s after the backend reads again: " . ($o // 'none') . "\n"
    . "all re-announced: "
    . (defined $r && defined $l && $r == $l ? 'yes' : "no ($r of $l)") . "\n"
}
--- response_body
queue within the link buffer + one record: yes
orphans left 3 s after the backend reads again: 0
all re-announced: yes
--- timeout: 20



=== TEST 2: sessions paused for ws_gateway_worker_outbound_limit with nothing queued wait on the worker's timers: two clients each half-way through a 1.5 MB message, over a 1m budget; the worker lives (its timers' debug lines took the event's data for a connection) and answers
--- http_config
    ws_gateway_worker_outbound_limit 1m;
--- config
    location /echo {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_message_size 2m;
    }

    location /status {
        ws_gateway_status;
    }
--- init eval
q{
    my $half = substr(main::ws_frame('binary', 'b' x (1536 * 1024)), 0, 700 * 1024);
    for my $c ('A', 'B') {
        main::wsc_open($c, main::ws_handshake('/echo'), 0, 1);
        main::wsc_push($c, $half, 0.5);
    }
    select(undef, undef, undef, 0.5);
}
--- request
GET /status
--- response_body_filters eval
sub {
    my ($w) = $_[0] =~ /"pauses":\{[^}]*"worker":(\d+)/;
    "paused for the budget: " . (defined $w && $w >= 1 ? "yes" : "no: $_[0]") . "\n"
}
--- response_body
paused for the budget: yes
--- no_error_log
[alert]
