package Test::Nginx::Socket;

# The project's own, smaller implementation of Test::Nginx::Socket
# (openresty/test-nginx), for CI hosts without CPAN.  The same .t files
# run under either implementation; t/README.md explains how to pick one
# and which sections and environment variables we support.
#
# Test::Base parses the "=== block / --- section" data after __DATA__.
# For every block we (re)start nginx with a generated nginx.conf
# (Test::Nginx::Util), start the mock backends (Test::Nginx::Mock), send
# the requests (Test::Nginx::Client) and check responses and logs here.

use strict;
use warnings;

# Makes us a Test::Base subclass and imports its exports (plan, blocks,
# is, like, diag, ...) into this package, from where our users get them.
use Test::Base -base;

use Digest::MD5 ();
use Digest::SHA ();
use HTTP::Response ();
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Test::More ();
use Time::HiRes qw(sleep);

use Test::Nginx::Util qw(
    add_cleanup_handler add_test_cleanup_handler bail_out
    check_accum_error_log config_preamble env_to_nginx html_dir log_level
    master_off master_on master_process_enabled no_long_string
    no_root_location no_shuffle repeat_each server_addr server_name
    server_port server_port_for_client server_root timeout
    worker_connections workers

    access_log_lines append_error_log_to_total cleanup error_log_lines
    expand_env is_str parse_time reset_block_state reset_error_log_position
    setup_server_root start_nginx stop_nginx write_config_file
    write_user_files
);
use Test::Nginx::Client qw(requests_from_block send_request parse_response);
use Test::Nginx::Mock qw(start_mocks finish_mocks);

our @EXPORT = qw(
    add_block_preprocessor add_cleanup_handler add_response_body_check
    add_test_cleanup_handler bail_out check_accum_error_log config_preamble
    env_to_nginx html_dir is_str log_level master_off master_on
    master_process_enabled no_long_string no_root_location no_shuffle
    repeat_each run_tests server_addr server_name server_port
    server_port_for_client server_root timeout worker_connections workers
);

# Sections we implement; any other section fails its block.  Helpers that
# add sections of their own (read by a block preprocessor, a response
# body check or a cleanup handler, as the real Test::Nginx allows) add
# their names here: $Test::Nginx::Socket::KnownSections{name} = 1.
our %KnownSections = map { $_ => 1 } qw(
    ONLY SKIP LAST

    config http_config main_config post_main_config server_name
    error_log_file log_level must_die suppress_stderr user_files
    post_setup_server_root init

    request raw_request raw_request_middle_delay pipelined_requests
    more_headers shutdown timeout abort server_addr_for_client http09
    ignore_response

    error_code error_code_like raw_response_headers_like
    raw_response_headers_unlike response_headers response_headers_like
    response_body response_body_like response_body_unlike
    response_body_filters

    error_log no_error_log grep_error_log grep_error_log_out access_log
    no_access_log shutdown_error_log no_shutdown_error_log wait

    tcp_listen tcp_reply tcp_reply_delay tcp_query tcp_query_len
    tcp_query_auto_timeout tcp_no_close tcp_shutdown tcp_shutdown_delay
    udp_listen udp_reply udp_reply_delay udp_query
);

# Keys of a Test::Base::Block object that are not sections.
my %BlockFields = map { $_ => 1 }
    qw(name description seq_num is_filtered blocks_object original_values);

# Named --- response_body_filters.
my %BodyFilters = (
    md5_hex  => \&Digest::MD5::md5_hex,
    sha1_hex => \&Digest::SHA::sha1_hex,
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    ucfirst  => sub { ucfirst $_[0] },
    lcfirst  => sub { lcfirst $_[0] },
    length   => sub { length $_[0] },
);

our (@BlockPreprocessors, @ResponseBodyChecks);
our ($PrevBlock, $PrevConfig);
my $MainPid = $$;

sub add_block_preprocessor (&) {
    unshift @BlockPreprocessors, shift;
    return;
}

# The callback gets ($block, $body, $req_idx, $repeat_idx, $dry_run).
sub add_response_body_check {
    push @ResponseBodyChecks, shift;
    return;
}

sub run_tests {
    $ENV{TEST_NGINX_SERVER_PORT} //= server_port();

    my @blocks = blocks();
    @blocks = shuffle @blocks unless $Test::Nginx::Util::NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        _run_block($block);
        $_->($block) for @Test::Nginx::Util::TestCleanupHandlers;
        $PrevBlock = $block;
    }

    cleanup();
    return;
}

END {
    return if $$ != $MainPid;
    local $?;    # keep Test::Builder's exit code
    cleanup();
    if (!$ENV{TEST_NGINX_NO_CLEAN} || $Test::Nginx::Util::UseValgrind) {
        stop_nginx('END');
        _check_shutdown_error_log($PrevBlock) if $PrevBlock;
    }
}

# ---------------------------------------------------------------------------
# One block
# ---------------------------------------------------------------------------

sub _run_block {
    my $block = shift;
    my $name  = $block->name;

    _check_sections($block) or return;
    reset_block_state();
    local $Test::Nginx::Util::LogLevel = $block->log_level || log_level();

    my $config = expand_env(scalar $block->config, $name);
    if (defined $config) {
        if ($Test::Nginx::Util::ForceRestart || !defined $PrevConfig
            || $config ne $PrevConfig)
        {
            $PrevConfig = $config;
            _restart_nginx($block, $config) or return;
        }
    } elsif (!defined $PrevConfig) {
        bail_out("$name - No '--- config' section specified and could not "
                 . 'get previous one.');
    }

    _eval_section($block, 'init');
    reset_error_log_position();

    for my $rep (0 .. repeat_each() - 1) {
        my @mocks = start_mocks($block);
        write_user_files($block) if $rep > 0;
        _run_requests($block, $rep);
        finish_mocks($block, @mocks);
    }

    append_error_log_to_total($name);
    stop_nginx($name) if $Test::Nginx::Util::UseValgrind;
    return;
}

sub _check_sections {
    my $block = shift;
    my @unknown = sort grep { !/^_/ && !$BlockFields{$_}
                              && !$KnownSections{$_} } keys %$block;
    return 1 unless @unknown;

    Test::More::fail($block->name . ' - section(s) not supported by the '
                     . 't/lib runner: ' . join ', ', map { "--- $_" }
                     @unknown);
    return 0;
}

# --- init, --- post_setup_server_root: Perl code run in package main.
sub _eval_section {
    my ($block, $section) = @_;
    my $code = $block->$section or return;
    eval "package main; $code; 1"
        or bail_out($block->name, " - $section failed: $@");
    return;
}

# Stop the previous nginx, prepare the server root and start nginx for
# $block.  Returns true when requests can be sent.
sub _restart_nginx {
    my ($block, $config) = @_;
    my $name = $block->name;

    stop_nginx($name);
    _check_shutdown_error_log($PrevBlock) if $PrevBlock;

    setup_server_root();
    _eval_section($block, 'post_setup_server_root');
    write_user_files($block);
    write_config_file($block, $config);

    if (defined $block->must_die) {
        _run_must_die($block);
        return 0;
    }

    # A failed bind usually means the previous nginx is still exiting.
    my $tries = 25;
    my $valgrind = $Test::Nginx::Util::UseValgrind;
    while (1) {
        my $status = start_nginx($block, { valgrind => $valgrind });
        if ($status == 0) {
            sleep $Test::Nginx::Util::Sleep;
            return 1;
        }

        my $log = _read_file($Test::Nginx::Util::ErrLogFile);
        if ($log =~ /Address already in use/ && --$tries > 0) {
            sleep 0.2;
            next;
        }

        Test::More::fail("$name - nginx failed to start (exit code "
                         . ($status >> 8) . ')');
        my @errors = grep { /\[(?:emerg|alert|crit)\]/ } split /^/, $log;
        Test::More::diag(@errors ? @errors : (split /^/, $log)[-20 .. -1]);
        return 0;
    }
}

sub _read_file {
    my $path = shift;
    open my $in, '<', $path or return '';
    local $/;
    return scalar(<$in>) // '';
}

# --- must_die [exit code]: nginx must fail to start.  Only the error log
# is checked, once per repetition.
sub _run_must_die {
    my $block = shift;
    my $name = $block->name;
    my $expected = $block->must_die;

    reset_error_log_position();
    for my $rep (0 .. repeat_each() - 1) {
        my $status = start_nginx($block, { valgrind => 0 });

        if ($status & 127) {
            Test::More::fail("$name - nginx died from signal "
                             . ($status & 127));
        } elsif (looks_like_number($expected)) {
            Test::More::is($status >> 8, $expected,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        _check_error_log($block, $rep);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $rep)\n";
            for (1 .. 15) {
                last if -f $Test::Nginx::Util::PidFile;
                sleep $Test::Nginx::Util::Sleep;
            }
            stop_nginx($name);
        }
    }
    return;
}

# ---------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------

sub _run_requests {
    my ($block, $rep) = @_;

    my @requests = requests_from_block($block);
    my $timeout = parse_time(scalar $block->timeout) // timeout();
    my $pipelined = $block->pipelined_requests
                    ? scalar @{ $block->pipelined_requests } : 0;
    my $responses = $pipelined || 1;
    my $need_array = $pipelined || @requests > 1;
    my $total = @requests * $responses;
    my $req_idx = 0;

    for my $packets (@requests) {
        my ($raw, $is_head) = send_request($packets, $block, $timeout);
        $raw //= '';

        for (1 .. $responses) {
            my $left = _check_response($block, $raw, $is_head, $req_idx,
                                       $rep, $need_array);
            if ($pipelined) {
                $raw = $left // '';
            } elsif (defined $left && length $left) {
                $left =~ s/([\0-\037\200-\377])/sprintf '\x{%02x}', ord $1/ge;
                warn 'WARNING: ', $block->name, ' - unexpected extra bytes '
                     . "after last chunk in response: \"$left\"\n";
            }

            _check_logs($block, $rep) if ++$req_idx < $total;
        }
    }

    _check_logs($block, $rep);
    return;
}

# Run the response checks for request $req_idx.  Returns the bytes after
# this response (the next pipelined response).
sub _check_response {
    my ($block, $raw, $is_head, $req_idx, $rep, $need_array) = @_;
    return undef if defined $block->ignore_response;

    my ($res, $raw_headers, $left);
    if (defined $block->http09) {
        ($res, $raw_headers) = (HTTP::Response->new(200, 'OK', [], $raw), '');
    } else {
        ($res, $raw_headers, $left) =
            parse_response($block->name, $raw, $is_head);
    }

    my $at = sub { _indexed($block, shift, $req_idx, $need_array) };
    _check_status($block, $res, $at);
    _check_raw_headers($block, $raw_headers // '', $at);
    _check_headers($block, $res, $raw_headers // '', $at);

    my $body = _filter_body($block, $res ? $res->content : undef, $req_idx);
    _check_body($block, $body, $at, "repeated req $rep, req $req_idx");
    $_->($block, $body, $req_idx, $rep, 0) for @ResponseBodyChecks;

    return $left;
}

# The expectation for request $req_idx: with several requests every
# expectation must be an ARRAY with one element per request.
sub _indexed {
    my ($block, $value, $req_idx, $need_array) = @_;
    return $value->[$need_array ? $req_idx : 0] if ref $value eq 'ARRAY';
    bail_out($block->name, ' - You asked for many requests, the expected '
             . 'results should be arrays as well.') if $need_array;
    return $value;
}

sub _check_status {
    my ($block, $res, $at) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';

    if (defined $block->error_code_like) {
        my $pat = $at->(scalar $block->error_code_like);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } else {
        my $want = defined $block->error_code
                   ? $at->(scalar $block->error_code) : 200;
        Test::More::is($code, $want, "$name - status code ok");
    }
    return;
}

sub _check_raw_headers {
    my ($block, $raw_headers, $at) = @_;
    my $name = $block->name;

    if (defined $block->raw_response_headers_like) {
        my $pat = $at->(scalar $block->raw_response_headers_like);
        Test::More::like($raw_headers, qr/$pat/s,
                         "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = $at->(scalar $block->raw_response_headers_unlike);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }
    return;
}

# "Name: value" lines -> [[name, value], ...]; "! Name" gives an undef
# value (header must be absent).  A repeated name keeps its last value.
sub _parse_header_lines {
    my $text = shift;
    my (@order, %value);
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $val) = $line =~ s/^!\s*// ? ($line, undef)
                                             : split /\s*:\s*/, $line, 2;
        push @order, $key unless exists $value{$key};
        $value{$key} = $val;
    }
    return map { [$_, $value{$_}] } @order;
}

sub _expand_ports {
    my $text = shift;
    $text =~ s/\$ServerPortForClient\b/server_port_for_client()/ge;
    $text =~ s/\$ServerPort\b/server_port()/ge;
    return $text;
}

sub _check_headers {
    my ($block, $res, $raw_headers, $at) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $expected = $at->(scalar $block->response_headers);
        for my $h (_parse_header_lines($expected)) {
            my ($key, $want) = @$h;
            if (!defined $want) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                    "$name - header $key not present in the raw headers");
                next;
            }
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', _expand_ports($want),
                           "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $expected = $at->(scalar $block->response_headers_like);
        for my $h (_parse_header_lines($expected)) {
            my ($key, $pat) = ($h->[0], $h->[1] // '');
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$pat$/,
                             "$name - header $key like ok");
        }
    }
    return;
}

# Apply --- response_body_filters (names or CODE refs; a 2-D array has
# one list of filters per request).
sub _filter_body {
    my ($block, $body, $req_idx) = @_;
    my $name = $block->name;
    my $filters = $block->response_body_filters;
    return $body unless defined $filters && defined $body;

    $filters = !ref $filters            ? [split ' ', $filters]
             : ref $filters ne 'ARRAY'  ? [$filters]
             : $filters;

    if (ref $filters->[0] eq 'ARRAY') {
        bail_out("$name - the --- response_body_filters two-dimensional "
                 . 'array must only contain arrays')
            if grep { ref($_) ne 'ARRAY' } @$filters;
        $filters = $filters->[$req_idx]
            // bail_out("$name - no --- response_body_filters for request "
                        . $req_idx);
    }

    for my $filter (@$filters) {
        my $code = ref $filter eq 'CODE' ? $filter
                 : !ref $filter && $BodyFilters{$filter}
                 || bail_out("$name - unknown filter, \"$filter\", "
                             . 'specified in the --- response_body_filters '
                             . 'section');
        $body = $code->($body);
    }
    return $body;
}

sub _check_body {
    my ($block, $body, $at, $which) = @_;
    my $name = $block->name;

    if (defined $block->response_body) {
        my $want = $at->(scalar $block->response_body);
        if (ref $want) {
            Test::More::like($body, $want,
                             "$name - response_body - like ($which)");
        } else {
            $want = expand_env(_expand_ports($want), $name) if defined $want;
            is_str($body, $want,
                   "$name - response_body - response is expected ($which)");
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $section = "response_body_$type";
        my $pat = _expand_ports($at->(scalar $block->$section));
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($body, qr/$pat/s, "$name - ${section} - response is expected");
    }
    return;
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

sub _check_logs {
    my ($block, $rep) = @_;
    my $wait = parse_time(scalar $block->wait);
    sleep $wait if $wait;

    _check_error_log($block, $rep);
    _check_access_log($block, $rep) unless defined $block->ignore_response;
    return;
}

# A pattern section: lines of substrings, or a qr// or an ARRAY of both.
sub _pattern_list {
    my $pats = shift;
    return [$pats] if ref $pats eq 'Regexp';
    return [grep { defined } @$pats] if ref $pats eq 'ARRAY';
    chomp(my $text = $pats);
    return [split /\n+/, $text];
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _fmt {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# One assertion per pattern: it must (or must not, when $present is
# false) match a line of $lines.
sub _check_patterns {
    my ($block, $lines, $pats, $file, $suffix, $present) = @_;
    my $name = $block->name;

    for my $pat (@{ _pattern_list($pats) }) {
        my @hits = grep { _line_matches($_, $pat) } @$lines;
        my $p = _fmt($pat);

        if ($present) {
            Test::More::ok(scalar @hits, @hits
                ? "$name - pattern \"$p\" matches a line in $file$suffix"
                : "$name - pattern \"$p\" should match a line in "
                  . "$file$suffix");
        } elsif (@hits) {
            Test::More::fail("$name - pattern \"$p\" should not match any "
                . "line in $file but matches line \"" . _fmt($hits[0])
                . "\"$suffix");
            Test::More::diag("matching lines:\n",
                             @hits[0 .. ($#hits < 9 ? $#hits : 9)]);
        } else {
            Test::More::pass("$name - pattern \"$p\" does not match a line "
                             . "in $file$suffix");
        }
    }
    return;
}

# Does the (no_)error_log expectation mention $needle?
sub _mentions {
    my ($pats, $needle) = @_;
    return 0 unless defined $pats;
    return grep { index("$_", $needle) >= 0 }
        ref $pats eq 'ARRAY' ? grep { defined } @$pats : ($pats);
}

# Error-log checks, run after each request: grep_error_log(_out),
# error_log, no_error_log.  [alert], [crit] and [emerg] lines only warn
# (unless a pattern mentions them); "Assertion ... failed" lines fail.
sub _check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = error_log_lines();
    my $suffix = " (req $rep)";

    _check_grep_error_log($block, $lines, $rep);

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        _check_patterns($block, $lines, $pats, 'error.log', $suffix,
                        $section eq 'error_log') if defined $pats;
    }

    for my $level (qw(alert crit emerg)) {
        next if grep { _mentions(scalar $block->$_, "[$level") }
                qw(error_log no_error_log);
        warn "WARNING: $name - ", _fmt($_), "\n"
            for grep { /\[$level\]/ } @$lines;
    }

    for my $line (grep { /\bAssertion .*?failed\b/ } @$lines) {
        Test::More::fail("$name - " . _fmt($line));
    }
    return;
}

sub _check_grep_error_log {
    my ($block, $lines, $rep) = @_;
    my $name = $block->name;
    my $pat  = $block->grep_error_log;
    my $want = $block->grep_error_log_out;

    bail_out("$name - --- grep_error_log and --- grep_error_log_out go "
             . 'together') if defined $pat != defined $want;
    return unless defined $pat;

    $pat = $pat->[$rep] if ref $pat eq 'ARRAY';
    return unless defined $pat;
    $want = expand_env($want, $name);
    $want = $want->[$rep] if ref $want eq 'ARRAY';

    # The matched part of every matching line, one per line.
    my $got = '';
    for my $line (@$lines) {
        my $match = ref $pat
            ? ($line =~ $pat ? substr($line, $-[0], $+[0] - $-[0]) : undef)
            : (index($line, $pat) >= 0 ? $pat : undef);
        $got .= "$match\n" if defined $match && $match !~ /\n/;
    }

    is_str($got, $want, "$name - grep_error_log_out (req $rep)");
    return;
}

sub _check_access_log {
    my ($block, $rep) = @_;
    my @sections = grep { defined $block->$_ } qw(access_log no_access_log)
        or return;

    my $lines = access_log_lines();
    for my $section (@sections) {
        _check_patterns($block, $lines, scalar $block->$section,
                        'access.log', " (req $rep)", $section eq 'access_log');
    }
    return;
}

# --- shutdown_error_log / no_shutdown_error_log of a block, checked once
# its nginx has been stopped.
sub _check_shutdown_error_log {
    my $block = shift;
    my @sections = grep { defined $block->$_ }
                   qw(shutdown_error_log no_shutdown_error_log)
        or return;

    my $lines = error_log_lines();
    for my $section (@sections) {
        _check_patterns($block, $lines, scalar $block->$section,
                        'error.log', '', $section eq 'shutdown_error_log');
    }
    for my $line (grep { /\bAssertion .*? failed\.$/ } @$lines) {
        Test::More::fail($block->name . ' - ' . _fmt($line));
    }
    return;
}

1;
