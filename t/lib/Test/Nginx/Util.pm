package Test::Nginx::Util;

# Settings, server root and nginx process control for the project's own
# Test::Nginx runner (see t/README.md).  Test::Nginx::Socket drives the
# test blocks; this module knows how to turn a block into a running nginx
# and how to read back what nginx logged.
#
# The settings are package variables initialised from TEST_NGINX_* and
# changed through the setter functions that Test::Nginx::Socket
# re-exports (server_port(), log_level(), ...).

use strict;
use warnings;

use Carp ();
use Exporter qw(import);
use File::Path qw(remove_tree make_path);
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(WNOHANG SIGQUIT SIGKILL SIGTERM);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    add_cleanup_handler add_test_cleanup_handler bail_out
    check_accum_error_log config_preamble env_to_nginx html_dir log_level
    master_off master_on master_process_enabled no_long_string
    no_root_location no_shuffle repeat_each server_addr server_name
    server_port server_port_for_client server_root timeout
    worker_connections workers

    access_log_lines append_error_log_to_total cleanup error_log_lines
    expand_env is_str parse_time register_child
    reset_block_state reset_error_log_position start_nginx stop_child
    stop_nginx verbose write_config_file write_user_files
    setup_server_root
);

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

our $NginxBinary    = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerPort     = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                      || 1984;
our $ClientPort     = $ENV{TEST_NGINX_CLIENT_PORT};  # derived when undef
our $ServerAddr;                                      # derived when undef
our $ServerName     = 'localhost';
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep          = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $LogLevel       = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess  = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers        = 1;
our $WorkerConns    = 64;
our $RepeatEach     = 1;
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation = 0;
our $NoLongString   = 0;
our $CheckAccumLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ConfigPreamble = '';
our $UseValgrind    = $ENV{TEST_NGINX_USE_VALGRIND};
our $Verbose        = $ENV{TEST_NGINX_VERBOSE};
our $LoadModules    = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $EventType      = $ENV{TEST_NGINX_EVENT_TYPE};
our $ForceRestart   = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our @EnvToNginx;

# nginx is not daemonized under valgrind: we keep it as our child.
our $DaemonEnabled = $UseValgrind ? 'off' : 'on';

our $ServRoot   = $ENV{TEST_NGINX_SERVROOT}
                  || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

our (@CleanupHandlers, @TestCleanupHandlers);

# Accessors.  Called with an argument they set, otherwise they get.
sub timeout                { $Timeout = shift if @_; $Timeout }
sub repeat_each            { $RepeatEach = shift if @_; $RepeatEach }
sub log_level              { $LogLevel = shift if @_; $LogLevel }
sub workers                { $Workers = shift if @_; $Workers }
sub worker_connections     { $WorkerConns = shift if @_; $WorkerConns }
sub server_name            { $ServerName = shift if @_; $ServerName }
sub server_port            { $ServerPort = shift if @_; $ServerPort }
sub config_preamble        { $ConfigPreamble = shift; return }
sub no_shuffle             { $NoShuffle = 1; return }
sub no_root_location       { $NoRootLocation = 1; return }
sub no_long_string         { $NoLongString = 1; return }
sub check_accum_error_log  { $CheckAccumLog = 1; return }
sub master_on              { $MasterProcess = 'on'; return }
sub master_off             { $MasterProcess = 'off'; return }
sub html_dir               { $HtmlDir }
sub server_root            { $ServRoot }
sub verbose                { $Verbose }
sub add_cleanup_handler      { unshift @CleanupHandlers, shift; return }
sub add_test_cleanup_handler { unshift @TestCleanupHandlers, shift; return }

sub master_process_enabled {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcess;
}

# The port the client connects to: TEST_NGINX_CLIENT_PORT, or the port
# part of the server port ("127.0.0.1:8080" -> 8080).
sub server_port_for_client {
    $ClientPort = shift if @_;
    return $ClientPort if defined $ClientPort;
    return $ServerPort =~ /(\d+)$/ ? $1 : $ServerPort;
}

# The address the client connects to: the host part of the server port
# when it names one, 127.0.0.1 otherwise.
sub server_addr {
    $ServerAddr = shift if @_;
    return $ServerAddr if defined $ServerAddr;
    return $1 if $ServerPort =~ /^(\d+\.\d+\.\d+\.\d+):\d+$/
                 && $1 ne '0.0.0.0';
    return '127.0.0.1';
}

# The value of the "listen" directive: a bare port is bound to loopback.
sub listen_address {
    return $ServerPort =~ /^\d+$/ ? "127.0.0.1:$ServerPort" : $ServerPort;
}

sub env_to_nginx {
    Carp::croak('env_to_nginx: no arguments specified') unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
    return;
}

# "100ms" -> 0.1, "2s" -> 2, "1.5" -> 1.5 (seconds).
sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# Compare strings; on failure report lengths and the first difference
# (in the spirit of Test::LongString, which we do not depend on).
sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc)
        if $NoLongString || !defined $got || !defined $expected;

    my $ok = Test::More::ok($got eq $expected, $desc);
    Test::More::diag(_describe_difference($got, $expected)) unless $ok;
    return $ok;
}

sub _describe_difference {
    my ($got, $expected) = @_;

    my $pos = 0;
    $pos++ while $pos < length $got && $pos < length $expected
                 && substr($got, $pos, 1) eq substr($expected, $pos, 1);

    my $line = 1 + (substr($expected, 0, $pos) =~ tr/\n//);
    my $from = $pos > 20 ? $pos - 20 : 0;
    my $show = sub {
        my $s = substr(shift, $from, 60);
        $s =~ s/([^\x20-\x7e])/sprintf '\\x{%02x}', ord $1/ge;
        return ($from ? '...' : '') . "\"$s\"";
    };

    return sprintf "         got: %s\n      length: %d\n"
                 . "    expected: %s\n      length: %d\n"
                 . "    strings begin to differ at char %d (line %d)",
        $show->($got), length $got, $show->($expected),
        length $expected, $pos + 1, $line;
}

# ---------------------------------------------------------------------------
# $TEST_NGINX_* expansion
# ---------------------------------------------------------------------------

# Ports picked for $TEST_NGINX_RAND_PORT_<N> in the current block.
our %RandPorts;

sub reset_block_state {
    %RandPorts = ();
    return;
}

sub _free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp')
        or bail_out("cannot find a free port: $!");
    return $sock->sockport;
}

# Replace every $TEST_NGINX_NAME by the value of that environment
# variable; an undefined variable aborts the run.
sub expand_env {
    my ($text, $name) = @_;
    return $text if !defined $text || ref $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        $var =~ /^TEST_NGINX_RAND_PORT_\d+$/
            ? ($RandPorts{$var} //= _free_port())
            : $ENV{$var}
              // bail_out("$name - No environment $var defined.\n");
    }ge;

    return $text;
}

# ---------------------------------------------------------------------------
# Server root
# ---------------------------------------------------------------------------

sub setup_server_root {
    if (-d $ServRoot) {
        # Remove only what we create, so that a mistaken TEST_NGINX_SERVROOT
        # cannot wipe real data: rmdir fails on anything else.
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!");
    }

    _write_file("$HtmlDir/index.html",
                '<html><head><title>It works!</title></head>'
                . '<body>It works!</body></html>');
    return;
}

sub _write_file {
    my ($path, $data) = @_;
    open my $out, '>', $path
        or bail_out("Can't open $path for writing: $!");
    binmode $out;
    print $out $data;
    close $out or bail_out("Can't write $path: $!");
    return;
}

# --- user_files: ">>> name [touch-date]" headers, relative names go to
# html/.  An ARRAY of [name, body, date] is accepted as well.
sub write_user_files {
    my $block = shift;
    my $name  = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files must be a string or an ARRAY");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;

        _write_file($path, expand_env($body // '', $name));

        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to touch -t '$date' $path");
        }
    }
    return;
}

# ---------------------------------------------------------------------------
# nginx.conf
# ---------------------------------------------------------------------------

my $NginxPath;

# Absolute path of the nginx binary: TEST_NGINX_BINARY or "nginx" from
# PATH, then /usr/sbin/nginx (not in PATH for non-root users on Debian).
sub nginx_binary {
    return $NginxPath if defined $NginxPath;

    my @candidates = $NginxBinary =~ m{/}
        ? ($NginxBinary)
        : ((map { "$_/$NginxBinary" } grep { length } split /:/,
            $ENV{PATH} // ''),
           ($NginxBinary eq 'nginx' ? '/usr/sbin/nginx' : ()));

    ($NginxPath) = grep { -f && -x } @candidates;
    bail_out("Cannot find the nginx executable \"$NginxBinary\"")
        unless defined $NginxPath;
    return $NginxPath;
}

my $BuildOptions;

# Output of "nginx -V", read once.
sub nginx_build_options {
    return $BuildOptions if defined $BuildOptions;
    my $pid = open my $in, '-|';
    bail_out("fork failed: $!") unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec nginx_binary(), '-V' or POSIX::_exit(127);
    }
    $BuildOptions = do { local $/; <$in> } // '';
    close $in;
    return $BuildOptions;
}

sub _temp_path_directives {
    my $http_config = shift;
    my $build = nginx_build_options();
    my @dirs;

    push @dirs, 'client_body_temp_path'
        unless $http_config =~ /\bclient_body_temp_path\b/;
    push @dirs, 'proxy_temp_path'
        unless $http_config =~ /\bproxy_temp_path\b/;
    for my $m (qw(fastcgi scgi uwsgi)) {
        push @dirs, "${m}_temp_path"
            unless $build =~ /--without-http_${m}_module/;
    }

    return join ' ', map { (my $d = $_) =~ s/_path$//; "$_ $ServRoot/$d;" }
                     @dirs;
}

# Write conf/nginx.conf with the same skeleton as the real
# Test::Nginx::Socket, so that tests may rely on it.
sub write_config_file {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $expand = sub { expand_env($_[0] // '', $name) };
    my $http_config = $expand->(scalar $block->http_config);
    my $post_main   = $expand->(scalar $block->post_main_config);
    my $err_log     = $expand->($block->error_log_file || $ErrLogFile);
    my $main_config = $expand->(join ' ',
        (map { "load_module $_;" } split ' ', $LoadModules),
        $block->main_config // '');

    (my $server_name = $block->server_name // $ServerName)
        =~ s/([\\'])/\\$1/g;
    my $temp_paths = _temp_path_directives($http_config);
    my $listen = listen_address();

    my $env = join '', map { "env $_;\n" }
        qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
           MOCKNOEAGAIN_VERBOSE MOCKNOEAGAIN LD_PRELOAD LD_LIBRARY_PATH
           ASAN_OPTIONS),
        map { /\s/ ? "'$_'" : $_ } @EnvToNginx;

    my $root_location = $NoRootLocation ? '' : <<"EOC";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
EOC
    my $use_events = $EventType ? "    use $EventType;\n" : '';
    my $user = $> == 0 ? "user root;\n" : '';

    _write_file($ConfFile, <<"EOC");
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcess;
error_log $err_log $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile; $temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $listen;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
${\($config // '')}
        # End test case config.

$root_location    }
}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConns;
$use_events}
$user
EOC
    return;
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# Children we forked (mock servers, nginx under valgrind): pid => label.
our %Children;

sub register_child {
    my ($pid, $label) = @_;
    $Children{$pid} = $label;
    return;
}

# True once $pid has exited (reaping it when it is our child).  The
# daemonized nginx is not our child: until its new parent reaps it, an
# exited nginx is a zombie, which kill(0) still reports as alive.
sub _gone {
    my $pid = shift;
    return 1 if waitpid($pid, WNOHANG) == $pid;
    return 1 unless kill 0, $pid;
    open my $stat, '<', "/proc/$pid/stat" or return 0;
    my $line = <$stat> // '';
    return $line =~ /^\d+ \(.*\) Z /s ? 1 : 0;
}

# Send $signal, wait up to timeout() for the exit, then SIGKILL.
sub _terminate {
    my ($pid, $signal, $label) = @_;
    kill $signal, $pid;

    my $deadline = time + $Timeout;
    while (time < $deadline) {
        return if _gone($pid);
        sleep 0.02;
    }

    warn "WARNING: $label - process $pid did not exit, killing it\n";
    kill SIGKILL, $pid;
    sleep 0.02 until _gone($pid);
    return;
}

sub stop_child {
    my $pid = shift;
    my $label = delete $Children{$pid} // 'child';
    _terminate($pid, SIGTERM, $label);
    return;
}

sub _nginx_pid {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return defined $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

# Stop the nginx of the previous block: QUIT, wait, then KILL.
sub stop_nginx {
    my $label = shift // 'nginx';
    my $pid = _nginx_pid();

    if (defined $pid && kill 0, $pid) {
        verbose() and warn "sending QUIT to nginx $pid\n";
        delete $Children{$pid};
        _terminate($pid, SIGQUIT, $label);
    }
    unlink $PidFile;
    reap_nginx_child();
    return;
}

# The valgrind child, when nginx is not daemonized.
our $NginxChild;

sub reap_nginx_child {
    return unless defined $NginxChild;
    _terminate($NginxChild, SIGQUIT, 'valgrind') unless _gone($NginxChild);
    undef $NginxChild;
    return;
}

sub _valgrind_argv {
    return ('valgrind', '-q', split ' ', $UseValgrind)
        if $UseValgrind !~ /^\d+$/;
    return ('valgrind', '--num-callers=100', '-q', '--tool=memcheck',
            '--leak-check=full', '--keep-debuginfo=yes',
            '--show-possibly-lost=no', '--gen-suppressions=all',
            (-f 'valgrind.suppress'
                ? '--suppressions=valgrind.suppress' : ()));
}

# Run nginx for $block.  Returns the wait status of the nginx command
# (0 once the daemon is up), or 0 at once when nginx runs under
# valgrind as our child.  $opts->{valgrind} is false for must_die blocks.
sub start_nginx {
    my ($block, $opts) = @_;
    my @argv = (nginx_binary(), '-e', $ErrLogFile, '-p', "$ServRoot/",
                '-c', $ConfFile);
    unshift @argv, _valgrind_argv() if $opts->{valgrind};

    verbose() and warn "starting: @argv\n";
    my $pid = fork // bail_out("fork failed: $!");
    if (!$pid) {
        setpgrp if $opts->{valgrind};
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null' if defined $block->suppress_stderr;
        exec @argv or POSIX::_exit(127);
    }

    if ($opts->{valgrind}) {
        $NginxChild = $pid;
        warn $block->name, "\n";
        sleep $Sleep;
        return 0;
    }

    waitpid $pid, 0;
    return $?;
}

# Called on exit and by bail_out(): run the cleanup handlers and stop
# every process we forked.  nginx itself is stopped by our END block.
sub cleanup {
    $_->() for @CleanupHandlers;
    stop_child($_) for keys %Children;
    return;
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

# Offset in error.log up to which earlier checks have read.
our $ErrLogPos = 0;

sub reset_error_log_position {
    $ErrLogPos = 0;
    return;
}

# Lines of error.log not seen by the previous call (all of them with
# check_accum_error_log).  Waits a bit first: nginx logs some things
# after the connection is closed.
sub error_log_lines {
    sleep $Sleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 unless $CheckAccumLog;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumLog;
    close $in;
    return \@lines;
}

sub access_log_lines {
    sleep $Sleep * 3;
    open my $in, '<', $AccLogFile
        or bail_out("open $AccLogFile failed: $!");
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# TEST_NGINX_ERROR_LOG: append this block's error.log to one file.
sub append_error_log_to_total {
    my $name = shift;
    my $total = $ENV{TEST_NGINX_ERROR_LOG} or return;
    return unless -s $ErrLogFile;

    open my $in, '<', $ErrLogFile or return;
    open my $out, '>>', $total
        or bail_out("Failed to append to $total: $!");
    print $out "\n=== $name\n", <$in>;
    close $out;
    close $in;
    return;
}

1;
