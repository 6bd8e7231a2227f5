#!/usr/bin/env bash
#
# WebSocket handshakes per second through ngx_ws_gateway_module with
# JWT token auth at the handshake, side by side in one run, loopback
# only.  One NGINX, one server, four locations, each
# "ws_gateway_pass builtin:echo;":
#
#   /none    no auth
#   /hs256   ws_gateway_auth_jwt bench; ws_gateway_auth_jwt_alg HS256;
#            ws_gateway_auth_jwt_key_file SECRET hmac;  (32-byte secret)
#   /rs256   ... RS256, an RSA 2048 PEM public key
#   /es256   ... ES256, an EC P-256 PEM public key
#
# Keys and one token per algorithm (exp an hour ahead) are made at the
# start in a temporary directory (openssl CLI, perl's core Digest::SHA),
# and removed at the end.  Every run sends "Authorization: Bearer TOKEN"
# (the /none location ignores it).
#
# Before measuring, each location is checked with raw handshakes: the
# token gets 101; no token, a token with a damaged signature and a token
# of another algorithm get 401 (/none: 101 with and without a token).
# Anything else stops the benchmark.
#
# Measured: ws-load's churn mode (-c slots, each: connect, handshake,
# one 16-byte echo, close, reconnect), --duration seconds per location,
# round after round; the order of the locations rotates every round.
# Around every run the status page (location = /status
# { ws_gateway_status; }) is read: the handshakes it accepted must
# cover ws-load's, with no 401 and no refused token ("auth" object:
# only "ok" grows, and only for the auth locations), and ws-load must
# have seen no status other than 101.  Otherwise the benchmark stops:
# it never reports a rate of 401s.
#
# The table (stderr) shows, per location, the median over the rounds
# of handshakes/s, its ratio to /none (the median of the per-round
# ratios: a location and /none of one round run close in time), the
# handshake latency, and the server's CPU per handshake (the worker's
# run time from /proc/PID/schedstat over the run, divided by the
# cycles) with its ratio to /none.  When other processes took
# --disturb-pct of a pinned CPU during some runs (a shared machine),
# the same figures over the undisturbed runs only follow.  One JSON
# line goes to stdout and is appended to build/bench/results.jsonl;
# files of the last run are in build/bench/last-handshake/.
#
# usage: scripts/bench/handshake-bench.sh [--quick | --full] [options]
#
#   --quick            1 round, 2 s per location (about 20 s)
#   (default)          3 rounds, 3 s per location (about 1 min)
#   --full             5 rounds, 5 s per location (about 2 min)
#   --rounds N         rounds
#   --duration SEC     seconds per location and round
#   --slots N          concurrent churn slots of ws-load (default 100)
#   --workers N        worker_processes (default 1)
#   --disturb-pct N    flag a run when other processes took N% or more
#                      of a pinned CPU (default 15)
#   --server-cpu LIST  CPUs for NGINX (default 0)
#   --client-cpu LIST  CPUs for ws-load (default 1)
#   --no-pin           no taskset
#   --so PATH          use this ngx_ws_gateway_module.so instead of
#                      building one with scripts/build.sh
#   -h, --help         this text
#
# Port: 127.0.0.1:2370 only.  Nothing else on the machine is touched:
# the script stops only the NGINX it started (by its pid file) and its
# own ws-load.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=handshake-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
out=$top/build/bench/last-handshake

mode=default
rounds=
duration=
slots=100
workers=1
disturb_pct=15
server_cpu=0
client_cpu=1
pin=1
so=
port=2370
realm=bench

locs=(none hs256 rs256 es256)
declare -A alg_of=([none]=- [hs256]=HS256 [rs256]=RS256 [es256]=ES256)

# the options of every benchmark (--quick, --rounds, --so, ...) are
# common_opt's, in lib.sh
while [ $# -gt 0 ]; do
    case $1 in
    --slots)        need_arg "$@"; slots=$2; shift 2 ;;
    *)              common_opt "$@"
                    [ "$opt_words" -gt 0 ] \
                        || die "unknown option \"$1\" (see --help)"
                    shift "$opt_words" ;;
    esac
done

case $mode in
quick)   : "${rounds:=1}" "${duration:=2}" ;;
full)    : "${rounds:=5}" "${duration:=5}" ;;
*)       : "${rounds:=3}" "${duration:=3}" ;;
esac

need_uints rounds duration slots workers disturb_pct
[ "$duration" -le 60 ] || die "--duration is at most 60"
[ "$rounds" -le 50 ] || die "--rounds is at most 50"
[ "$slots" -le 2000 ] || die "--slots is at most 2000"
[ "$workers" -le 16 ] || die "--workers is at most 16"

setup_host
command -v openssl >/dev/null || die "openssl not found"
command -v perl >/dev/null || die "perl not found"
perl -MJSON::PP -MDigest::SHA -MIO::Socket::INET -e 1 2>/dev/null \
    || die "perl lacks JSON::PP, Digest::SHA or IO::Socket::INET"

build_module
grep -q ws_gateway_auth_jwt "$so" \
    || die "$so has no ws_gateway_auth_jwt (a build without token auth)"
build_loadgen

ports_free "$port"

rm -rf "$out"
mkdir -p "$out/runs" "$out/nginx/logs" "$out/nginx/tmp"
copy_module

# what we started: the NGINX master (its pid file must name it) and the
# running ws-load, each the leader of its own process group (setsid)

tmp=
nginx_master=
load_pid=

stop_group() {
    # stop_group PID: TERM its group, KILL after 5 s
    local pid=$1 i

    kill -TERM -- "-$pid" 2>/dev/null || return 0
    for (( i = 0; i < 50; i++ )); do
        kill -0 -- "-$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
}

stop_own_nginx() {
    # the master named by our pid file (it must be the one we started),
    # TERM and 5 s to exit with its workers; then KILL what is left of
    # its process group (ours alone: it was started with setsid)
    local pf=$out/nginx/logs/nginx.pid pid i

    [ -n "$nginx_master" ] || return 0
    pid=$(cat "$pf" 2>/dev/null || true)
    if [ "$pid" = "$nginx_master" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for (( i = 0; i < 50; i++ )); do
            kill -0 -- "-$nginx_master" 2>/dev/null || break
            sleep 0.1
        done
    fi
    kill -KILL -- "-$nginx_master" 2>/dev/null || true
    wait "$nginx_master" 2>/dev/null || true
    nginx_master=
}

cleanup() {
    trap - EXIT INT TERM
    [ -z "$load_pid" ] || stop_group "$load_pid"
    stop_own_nginx
    [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/handshake-bench.XXXXXX")
chmod 700 "$tmp"

# helpers in perl (core modules only): base64url, HS256, DER ECDSA
# signatures to JWS r||s, raw handshakes, the status page, ws-load's JSON

cat > "$tmp/helper.pl" <<'PERL'
use strict;
use warnings;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(hmac_sha256);
use IO::Socket::INET;
use JSON::PP;

sub b64url {
    my $s = encode_base64(shift, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

sub slurp {
    my ($f) = @_;
    local $/;
    my $fh;
    if (defined $f) { open($fh, '<:raw', $f) or die "$f: $!\n"; }
    else { $fh = \*STDIN; binmode $fh; }
    my $d = <$fh>;
    return defined $d ? $d : '';
}

sub http {
    # http PORT REQUEST: the status line's code, the headers (lower-case
    # names) and, with $all, the body up to EOF
    my ($port, $req, $all) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $!\n";
    $s->autoflush(1);
    print $s $req;
    my $buf = '';
    my $end = time + 5;
    while (1) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $left = $end - time;
        die "no answer in 5 s\n" if $left <= 0;
        select(my $rout = $rin, undef, undef, $left) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        die "read: $!\n" unless defined $n;
        last if $n == 0;
        last if !$all && index($buf, "\r\n\r\n") >= 0;
        die "answer too large\n" if length $buf > 4 << 20;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    die "no HTTP answer\n" unless defined $head && $head =~ m{^HTTP/1\.\d (\d{3})};
    my $code = $1;
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*?)\s*$/;
    }
    return ($code, \%h, $body);
}

sub put_flat {
    # prints "a.b.c value" for every number (and string) of a structure
    my ($p, $v) = @_;
    if (ref $v eq 'HASH') {
        put_flat($p eq '' ? $_ : "$p.$_", $v->{$_}) for sort keys %$v;
    } elsif (!ref $v || JSON::PP::is_bool($v)) {
        my $x = defined $v ? "$v" : 'null';
        $x =~ s/\s/_/g;
        print "$p $x\n";
    }
}

my $cmd = shift @ARGV // '';

if ($cmd eq 'b64url') {
    print b64url(slurp());

} elsif ($cmd eq 'hs256') {
    # hs256 SECRET_FILE < SIGNING_INPUT: the key is the file's bytes,
    # one final "\n" or "\r\n" excluded (as ws_gateway_auth_jwt_key_file
    # ... hmac reads it)
    my $k = slurp($ARGV[0]);
    $k =~ s/\r?\n\z//;
    print b64url(hmac_sha256(slurp(), $k));

} elsif ($cmd eq 'der2raw') {
    # der2raw BYTES < DER ECDSA-Sig-Value: base64url of r || s, each
    # left-padded to BYTES (JWS, RFC 7518 3.4)
    my $n = $ARGV[0];
    my $d = slurp();
    my $i = 0;
    my $byte = sub { die "short DER\n" if $i >= length $d;
                     return ord substr($d, $i++, 1) };
    my $len = sub { my $l = $byte->();
                    if ($l & 0x80) { my $k = $l & 0x7f; $l = 0;
                                     $l = $l * 256 + $byte->() for 1 .. $k; }
                    return $l };
    die "not a DER SEQUENCE\n" unless $byte->() == 0x30;
    $len->();
    my $raw = '';
    for (1, 2) {
        die "not a DER INTEGER\n" unless $byte->() == 0x02;
        my $l = $len->();
        my $v = substr($d, $i, $l);
        $i += $l;
        $v =~ s/^\x00+//;
        die "integer longer than $n bytes\n" if length $v > $n;
        $raw .= ("\x00" x ($n - length $v)) . $v;
    }
    print b64url($raw);

} elsif ($cmd eq 'handshake') {
    # handshake PORT PATH [TOKEN]: "CODE ACCEPT_OK WWW-Authenticate"
    my ($port, $path, $token) = @ARGV;
    my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
            . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            . "Sec-WebSocket-Version: 13\r\n";
    $req .= "Authorization: Bearer $token\r\n" if defined $token;
    $req .= "\r\n";
    my ($code, $h) = http($port, $req, 0);
    my $ok = ($h->{'sec-websocket-accept'} // '')
             eq 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' ? 1 : 0;
    print "$code $ok ", $h->{'www-authenticate'} // '-', "\n";

} elsif ($cmd eq 'status') {
    # status PORT FILE: GET /status?format=json into FILE, then the
    # totals' handshakes.* and auth.* as "KEY VALUE" lines
    my ($port, $file) = @ARGV;
    my ($code, $h, $body) = http($port,
        "GET /status?format=json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 1);
    open(my $fh, '>', $file) or die "$file: $!\n";
    print $fh $body // '';
    close $fh;
    die "GET /status: $code\n" unless $code == 200;
    my $j = decode_json($body);
    my $t = $j->{totals} or die "status: no totals\n";
    print "workers ", $t->{workers} // 0, "\n";
    put_flat('handshakes', $t->{handshakes} // {});
    put_flat('auth', $t->{auth} // $j->{auth}) if ($t->{auth} // $j->{auth});

} elsif ($cmd eq 'flat') {
    # flat FILE: every scalar of a JSON object as "a.b KEY" lines
    my $d = slurp($ARGV[0]);
    $d =~ s/\n.*//s;
    put_flat('', decode_json($d));

} else {
    die "helper: unknown command \"$cmd\"\n";
}
PERL

helper() {
    perl "$tmp/helper.pl" "$@"
}

b64url_str() {
    printf '%s' "$1" | helper b64url
}

# keys and tokens

say "keys: HMAC secret (32 bytes), RSA 2048, EC P-256; one token each"

openssl rand -hex 32 > "$tmp/hs256.secret"        # 64 bytes + "\n"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$tmp/rs256.key" 2>/dev/null || die "openssl: no RSA key"
openssl pkey -in "$tmp/rs256.key" -pubout -out "$tmp/rs256.pub" \
    || die "openssl: no RSA public key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$tmp/es256.key" 2>/dev/null || die "openssl: no EC key"
openssl pkey -in "$tmp/es256.key" -pubout -out "$tmp/es256.pub" \
    || die "openssl: no EC public key"
chmod 600 "$tmp"/*.key "$tmp/hs256.secret"

declare -A key_of=([hs256]="$tmp/hs256.secret hmac" [rs256]="$tmp/rs256.pub"
                   [es256]="$tmp/es256.pub")
declare -A token=()

now=$(date +%s)
claims=$(b64url_str "{\"sub\":\"bench\",\"iat\":$now,\"exp\":$(( now + 3600 ))}")

make_token() {
    # make_token LOC: token[LOC]
    local loc=$1 alg=${alg_of[$1]} input sig

    input=$(b64url_str "{\"alg\":\"$alg\",\"typ\":\"JWT\"}").$claims
    case $alg in
    HS256) sig=$(printf '%s' "$input" | helper hs256 "$tmp/hs256.secret") ;;
    RS256) sig=$(printf '%s' "$input" \
                 | openssl dgst -sha256 -sign "$tmp/rs256.key" -binary \
                 | helper b64url) ;;
    ES256) sig=$(printf '%s' "$input" \
                 | openssl dgst -sha256 -sign "$tmp/es256.key" -binary \
                 | helper der2raw 32) ;;
    esac
    [ -n "$sig" ] || die "cannot sign the $alg token"
    token[$loc]=$input.$sig
}

for loc in hs256 rs256 es256; do
    make_token "$loc"
done
# /none gets a token too (ignored there): the same request size as HS256
token[none]=${token[hs256]}

# our own check of the RS256 and ES256 signatures (r||s back to DER)
printf '%s' "${token[rs256]%.*}" > "$tmp/input"
sig=${token[rs256]##*.}
printf '%s' "$sig" | tr '_-' '/+' | awk '{ while (length($0) % 4) $0 = $0 "="
    print }' | openssl base64 -d -A > "$tmp/sig"
openssl dgst -sha256 -verify "$tmp/rs256.pub" -signature "$tmp/sig" \
    "$tmp/input" >/dev/null || die "the RS256 token does not verify"

damaged() {
    # a token whose signature has one character changed (still
    # base64url, so the signature is wrong, not malformed)
    local t=$1 sig head i c
    sig=${t##*.}
    head=${t%.*}
    i=$(( ${#sig} / 2 ))
    c=${sig:i:1}
    [ "$c" = A ] && c=B || c=A
    echo "$head.${sig:0:i}$c${sig:i+1}"
}

# the NGINX configuration

prefix=$out/nginx
{
    conf_common "$prefix" "$workers" 1 10000 info
    cat <<CONF

    server {
        listen 127.0.0.1:$port backlog=4096$(listen_opts "$workers");

        location = /none {
            ws_gateway_pass builtin:echo;
        }
CONF
    for loc in hs256 rs256 es256; do
        cat <<CONF

        location = /$loc {
            ws_gateway_pass builtin:echo;
            ws_gateway_auth_jwt $realm;
            ws_gateway_auth_jwt_alg ${alg_of[$loc]};
            ws_gateway_auth_jwt_key_file ${key_of[$loc]};
        }
CONF
    done
    cat <<CONF

        location = /status {
            ws_gateway_status;
        }
    }
}
CONF
} > "$prefix/nginx.conf"

# info level: refused tokens are logged there (one line each, without
# the token), and only the sanity checks refuse any

"$nginx_bin" -t -q -p "$prefix" -c "$prefix/nginx.conf" \
    -e "$prefix/logs/error.log" >"$prefix/logs/nginx-t.log" 2>&1 || {
    cat "$prefix/logs/nginx-t.log" >&2
    die "nginx -t failed for $prefix/nginx.conf"
}

setsid ${on_server_cpu[@]+"${on_server_cpu[@]}"} "$nginx_bin" \
    -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
    -g 'daemon off;' >"$prefix/logs/stdout.log" 2>&1 &
nginx_master=$!

for (( i = 0; ; i++ )); do
    kill -0 "$nginx_master" 2>/dev/null || {
        tail -n 5 "$prefix/logs/error.log" >&2
        die "nginx exited at start"
    }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
       && [ "$(cat "$prefix/logs/nginx.pid" 2>/dev/null)" = "$nginx_master" ]
    then
        break
    fi
    [ "$i" -lt 100 ] || die "nginx does not listen on $port"
    sleep 0.05
done

workers_now() {
    ps -o pid= --ppid "$nginx_master" 2>/dev/null | tr -s ' \n' ' '
}
worker_pids=$(workers_now)
[ -n "$worker_pids" ] || die "nginx has no worker"

# the status page: st[KEY] = totals' handshakes.* and auth.*

declare -A st=()

read_status() {
    # read_status FILE: fills st[]
    local k v
    st=()
    while read -r k v; do
        st[$k]=$v
    done < <(helper status "$port" "$1" 2>"$1.err" || true)
    [ -n "${st[handshakes.accepted]:-}" ] || die "GET /status failed or" \
        "has no handshakes.accepted: $(cat "$1.err")"
    [ -n "${st[handshakes.unauthorized]:-}" ] \
        || die "the status page has no handshakes.unauthorized ($1)"
    [ -n "${st[auth.ok]:-}" ] \
        || die "the status page has no \"auth\" object with \"ok\" ($1)"
}

reasons=()
read_status "$out/status-start.json"
for k in "${!st[@]}"; do
    [[ $k == auth.* ]] && [ "$k" != auth.ok ] && reasons+=("${k#auth.}")
done
# shellcheck disable=SC2207
reasons=($(printf '%s\n' "${reasons[@]}" | sort))

# sanity checks: raw handshakes, before anything is measured

warnings=()

warn() {
    warnings+=("$*")
    say "WARNING: $*"
}

expect() {
    # expect LOC WHAT CODE [TOKEN] [DESC]: the handshake gets CODE (101:
    # with a valid Sec-WebSocket-Accept; 401: with a Bearer challenge of
    # our realm, whose error_description should be DESC)
    local loc=$1 what=$2 want=$3 tok=${4:-} desc=${5:-} r code acc wa

    if [ -n "$tok" ]; then
        r=$(helper handshake "$port" "/$loc" "$tok" 2>&1) || r="000 0 $r"
    else
        r=$(helper handshake "$port" "/$loc" 2>&1) || r="000 0 $r"
    fi
    read -r code acc wa <<< "$r"
    echo "/$loc $what: $r" >> "$out/sanity.txt"
    [ "$code" = "$want" ] || die "sanity: /$loc $what: got \"$r\"," \
        "expected $want (see $prefix/logs/error.log)"
    if [ "$want" = 101 ]; then
        [ "$acc" = 1 ] || die "sanity: /$loc $what: 101 without a valid" \
            "Sec-WebSocket-Accept"
    elif [ "$want" = 401 ]; then
        [[ $wa == "Bearer realm=\"$realm\""* ]] || die "sanity: /$loc" \
            "$what: 401 without WWW-Authenticate: Bearer realm=\"$realm\"" \
            "(got \"$wa\")"
        if [ -z "$desc" ]; then
            [[ $wa != *error=* ]] || warn "/$loc $what: \"$wa\" (no error" \
                "expected without a token)"
        else
            [[ $wa == *"error=\"invalid_token\""*"error_description=\"$desc\""* ]] \
                || warn "/$loc $what: \"$wa\" (expected error=\"invalid_token\"," \
                        "error_description=\"$desc\")"
        fi
    fi
}

say "sanity: token -> 101; no token, damaged signature, other alg -> 401"
: > "$out/sanity.txt"
declare -A other=([hs256]=rs256 [rs256]=es256 [es256]=hs256)
expect none "with a token" 101 "${token[none]}"
expect none "without a token" 101
for loc in hs256 rs256 es256; do
    expect "$loc" "with its token" 101 "${token[$loc]}"
    expect "$loc" "without a token" 401
    expect "$loc" "with a damaged signature" 401 \
        "$(damaged "${token[$loc]}")" "invalid signature"
    expect "$loc" "with the ${alg_of[${other[$loc]}]} token" 401 \
        "${token[${other[$loc]}]}" "algorithm not allowed"
done

declare -A st0=()
for k in "${!st[@]}"; do st0[$k]=${st[$k]}; done
read_status "$out/status-sanity.json"

delta() {
    echo $(( ${st[$1]:-0} - ${st0[$1]:-0} ))
}

# the sanity checks as the status page counted them
[ "$(delta handshakes.accepted)" -ge 5 ] \
    || die "sanity: the status page counted $(delta handshakes.accepted)" \
           "accepted handshakes, 5 were made"
[ "$(delta handshakes.unauthorized)" = 9 ] \
    || warn "sanity: handshakes.unauthorized grew by" \
            "$(delta handshakes.unauthorized), 9 refusals were made"
[ "$(delta auth.ok)" = 3 ] \
    || warn "sanity: auth.ok grew by $(delta auth.ok), 3 tokens were valid"
for k in missing:3 bad_signature:3 bad_alg:3; do
    [ "$(delta "auth.${k%:*}")" = "${k#*:}" ] \
        || warn "sanity: auth.${k%:*} grew by $(delta "auth.${k%:*}")," \
                "${k#*:} expected"
done

# measuring

cpu_ns() {
    # run time of the given pids in ns: /proc/PID/schedstat, or
    # utime + stime in clock ticks
    local p t=0 s
    for p in "$@"; do
        if [ -r "/proc/$p/schedstat" ]; then
            read -r s _ < "/proc/$p/schedstat" || s=0
        else
            s=$(awk -v hz="$hz" '{ sub(/^.*\) /, "")
                printf "%.0f", ($12 + $13) / hz * 1e9 }' \
                "/proc/$p/stat" 2>/dev/null) || s=0
        fi
        t=$(( t + ${s:-0} ))
    done
    echo "$t"
}

time_wait() {
    # sockets of our port in TIME_WAIT (the server closes first, so
    # every churn cycle leaves one until the kernel's limit), or "?"
    if command -v ss >/dev/null; then
        ss -Htan state time-wait "( sport = :$port or dport = :$port )" \
            2>/dev/null | wc -l
    else
        echo "?"
    fi
}

# disturbed[LOC-rROUND]: other processes took --disturb-pct of a pinned
# CPU during that run (this machine may be shared)
declare -A vals=() W=() disturbed=()
anomalies=()

run_churn() {
    # run_churn TAG LOC SECONDS: one ws-load churn run against /LOC,
    # checked against the status page; sets W[] (ws-load's figures),
    # srv_cpu, srv_ns, cli_cpu, oth_srv, oth_cli
    local tag=$1 loc=$2 d=$3 f=$out/runs/$1 rc=0 w0 w1 t0 t1 s0=0 s1=0 \
          c0=0 c1=0 k v pids

    pids=$(workers_now)
    [ "$pids" = "$worker_pids" ] || die "$tag: the NGINX workers changed" \
        "($worker_pids -> $pids): a worker died? see $prefix/logs/error.log"

    for k in "${!st[@]}"; do st0[$k]=${st[$k]}; done
    tw=$(time_wait)
    # shellcheck disable=SC2086
    t0=$(cpu_ns $pids)
    if [ "$watch_cpus" = 1 ]; then
        s0=$(cpu_busy "$server_cpu")
        c0=$(cpu_busy "$client_cpu")
    fi
    w0=$EPOCHREALTIME

    local tcmd=()
    [ ${#timer[@]} -gt 0 ] && tcmd=("${timer[@]}" -o "$f.time")
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} \
        ${tcmd[@]+"${tcmd[@]}"} \
        "$ws_load" churn "ws://127.0.0.1:$port/$loc" -c "$slots" -P 1 \
        -d "$d" -s 16 --binary -q \
        -H "Authorization: Bearer ${token[$loc]}" \
        >"$f.json" 2>"$f.stderr" &
    load_pid=$!
    wait "$load_pid" || rc=$?
    load_pid=

    w1=$EPOCHREALTIME
    # shellcheck disable=SC2086
    t1=$(cpu_ns $pids)
    if [ "$watch_cpus" = 1 ]; then
        s1=$(cpu_busy "$server_cpu")
        c1=$(cpu_busy "$client_cpu")
    fi

    [ "$rc" = 0 ] && [ -s "$f.json" ] || die "$tag: ws-load exited with" \
        "$rc: $(tail -n 3 "$f.stderr" | tr '\n' ' ')"

    W=()
    while read -r k v; do
        W[$k]=$v
    done < <(helper flat "$f.json")

    read_status "$f.status.json"

    # a benchmark of refusals is impossible: ws-load saw only 101s, the
    # status page counted no 401 and no refused token, and accepted at
    # least the sessions ws-load established (for the auth locations,
    # each with a verified token)
    local est=${W[counters.established]:-0} att=${W[counters.attempts]:-0}
    local acc ok unauth bad=
    acc=$(delta handshakes.accepted)
    ok=$(delta auth.ok)
    unauth=$(delta handshakes.unauthorized)
    for k in "${!W[@]}"; do
        [[ $k == http_status.* ]] && bad+=" ${k#http_status.}:${W[$k]}"
    done
    [ -z "$bad" ] || die "$tag: ws-load got handshake answers other than" \
        "101:$bad (see $f.json)"
    [ "$unauth" = 0 ] || die "$tag: the status page counted $unauth" \
        "unauthorized handshakes"
    for k in "${reasons[@]}"; do
        [ "$(delta "auth.$k")" = 0 ] || die "$tag: the status page counted" \
            "$(delta "auth.$k") tokens refused as $k"
    done
    [ "$est" -gt 0 ] || die "$tag: no session established"
    [ "$acc" -ge "$est" ] && [ "$acc" -le "$att" ] || die "$tag: the" \
        "status page accepted $acc handshakes, ws-load established $est" \
        "of $att attempts"
    if [ "$loc" = none ]; then
        [ "$ok" = 0 ] || die "$tag: auth.ok grew by $ok on /none"
    else
        [ "$ok" = "$acc" ] || die "$tag: $acc handshakes accepted but" \
            "auth.ok grew by $ok"
    fi
    echo "$tag: accepted +$acc, auth.ok +$ok, unauthorized +$unauth;" \
         "ws-load: $att attempts, $est established; TIME_WAIT before:" \
         "$tw" >> "$out/checks.txt"

    local failed=${W[counters.failed]:-0} errors=${W[errors.total]:-0}
    if [ "$failed" != 0 ] || [ "$errors" != 0 ]; then
        local e=
        for k in "${!W[@]}"; do
            [[ $k == errors.* ]] && [ "$k" != errors.total ] \
                && [ "${W[$k]}" != 0 ] && e+=" ${k#errors.}:${W[$k]}"
        done
        anomalies+=("$tag: failed=$failed errors=$errors$e")
    fi

    srv_cpu=$(awk -v a="$t0" -v b="$t1" -v w0="$w0" -v w1="$w1" \
              'BEGIN { printf "%.0f", (b - a) / 1e9 / (w1 - w0) * 100 }')
    srv_ns=null
    if is_uint "${W[counters.cycles]:-x}" && [ "${W[counters.cycles]}" -gt 0 ]
    then
        srv_ns=$(awk -v t="$((t1 - t0))" -v n="${W[counters.cycles]}" \
                 'BEGIN { printf "%.0f", t / n }')
    fi
    read_cli_cpu "$f.time"
    oth_srv=null
    oth_cli=null
    if [ "$watch_cpus" = 1 ]; then
        oth_srv=$(awk -v s="$((s1 - s0))" -v t="$((t1 - t0))" -v hz="$hz" \
                      -v w0="$w0" -v w1="$w1" 'BEGIN {
                      o = (s / hz - t / 1e9) / (w1 - w0) * 100
                      printf "%.0f", o < 0 ? 0 : o }')
        if [ "$cli_cpu" != null ]; then
            oth_cli=$(awk -v c="$((c1 - c0))" -v l="$cli_cpu" -v hz="$hz" \
                          -v w0="$w0" -v w1="$w1" 'BEGIN {
                          o = c / hz / (w1 - w0) * 100 - l
                          printf "%.0f", o < 0 ? 0 : o }')
        fi
        if [ "${tag#warmup}" = "$tag" ]; then
            if [ "$oth_srv" -ge "$disturb_pct" ]; then
                anomalies+=("$tag: other processes took ${oth_srv}% of\
 server CPU $server_cpu")
                disturbed[$tag]=1
            fi
            if [ "$oth_cli" != null ] && [ "$oth_cli" -ge "$disturb_pct" ]
            then
                anomalies+=("$tag: other processes took ${oth_cli}% of\
 client CPU $client_cpu")
                disturbed[$tag]=1
            fi
        fi
    fi
}

started=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
nginx_version=$($nginx_bin -v 2>&1 | sed 's/.*\///')
say "mode $mode: $rounds round(s) of ${duration}s per location, $slots" \
    "churn slots; nginx $nginx_version, worker_processes $workers," \
    "pinned: $([ "$pin" = 1 ] && echo "NGINX CPU $server_cpu, ws-load CPU" \
    "$client_cpu" || echo no)"
say "module $module_id; load average before: $load_before"

# warm up every location (not measured, but checked the same way)
for loc in "${locs[@]}"; do
    run_churn "warmup-$loc" "$loc" 1
done

for (( r = 1; r <= rounds; r++ )); do
    # rotate the order: none hs rs es, hs rs es none, ...
    for (( j = 0; j < ${#locs[@]}; j++ )); do
        loc=${locs[$(( (j + r - 1) % ${#locs[@]} ))]}
        run_churn "$loc-r$r" "$loc" "$duration"
        add "$loc.hs" "${W[rates.handshakes_per_s]:-null}"
        add "$loc.p50" "${W[handshake_us.p50]:-null}"
        add "$loc.p99" "${W[handshake_us.p99]:-null}"
        add "$loc.srvns" "$srv_ns"
        add "$loc.srvcpu" "$srv_cpu"
        add "$loc.clicpu" "$cli_cpu"
        add "$loc.othsrv" "$oth_srv"
        add "$loc.othcli" "$oth_cli"
        say "round $r /$loc: ${W[rates.handshakes_per_s]:-null}" \
            "handshakes/s, handshake p50/p99" \
            "${W[handshake_us.p50]:-null}/${W[handshake_us.p99]:-null} us," \
            "server ${srv_cpu}% CPU, $srv_ns ns/handshake, ws-load" \
            "${cli_cpu}%, others on server/client CPU ${oth_srv}%/${oth_cli}%," \
            "TIME_WAIT before $tw"
    done
done

pids=$(workers_now)
[ "$pids" = "$worker_pids" ] || die "the NGINX workers changed" \
    "($worker_pids -> $pids): a worker died? see $prefix/logs/error.log"
stop_own_nginx

elapsed=$(( SECONDS - started ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A loglines=()
for lvl in emerg alert crit error warn; do
    loglines[$lvl]=$(grep -c "\[$lvl\]" "$prefix/logs/error.log" || true)
done
grep -E '\[(emerg|alert|crit|error)\]' "$prefix/logs/error.log" \
    | head -n 5 > "$out/log-excerpts.txt" || true

# medians, and the per-round ratios to /none with their median

stats() {
    # stats "V1 V2 ..." ["N1 N2 ..."]: the median of the values, or with
    # a second list the median of the per-round ratios V/N (3 decimals)
    awk -v a="$1" -v b="${2:-}" 'BEGIN {
        na = split(a, A, " "); split(b, B, " "); n = 0
        for (i = 1; i <= na; i++) {
            if (A[i] == "null") continue
            if (b != "") {
                if (B[i] == "" || B[i] == "null" || B[i] == 0) continue
                x = A[i] / B[i]
            } else x = A[i] + 0
            for (j = n; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
            v[j + 1] = x
            n++
        }
        if (n == 0) { print "null"; exit }
        m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        if (b != "") printf "%.3f\n", m
        else if (m == int(m)) printf "%d\n", m
        else printf "%.1f\n", m
    }'
}

round_ratios() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, A, " "); split(b, B, " ")
        for (i = 1; i <= na; i++) {
            s = (A[i] == "null" || B[i] == "" || B[i] == "null" \
                 || B[i] == 0) ? "null" : sprintf("%.3f", A[i] / B[i])
            printf "%s%s", (i > 1 ? "," : ""), s
        }
    }'
}

declare -A med=() rat=()
for loc in "${locs[@]}"; do
    for m in hs p50 p99 srvns srvcpu clicpu othsrv othcli; do
        med[$loc.$m]=$(stats "${vals[$loc.$m]:-}")
    done
    rat[$loc.hs]=$(stats "${vals[$loc.hs]:-}" "${vals[none.hs]:-}")
    rat[$loc.srvns]=$(stats "${vals[$loc.srvns]:-}" "${vals[none.srvns]:-}")
done

# the same over the undisturbed runs only: a location's run, and for
# the ratios /none's run of the same round too ("null" values are skipped)

undisturbed() {
    # undisturbed LOC KEY [BOTH]: the values of LOC.KEY, "null" for the
    # rounds in which LOC's run (with BOTH, or /none's) was disturbed
    local loc=$1 key=$2 both=${3:-} r=0 v l=
    for v in ${vals[$loc.$key]:-}; do
        r=$(( r + 1 ))
        if [ -n "${disturbed[$loc-r$r]:-}" ] \
           || { [ -n "$both" ] && [ -n "${disturbed[none-r$r]:-}" ]; }; then
            v=null
        fi
        l+="${l:+ }$v"
    done
    echo "$l"
}

declare -A umed=() urat=() un=()
for loc in "${locs[@]}"; do
    umed[$loc.hs]=$(stats "$(undisturbed "$loc" hs)")
    umed[$loc.srvns]=$(stats "$(undisturbed "$loc" srvns)")
    urat[$loc.hs]=$(stats "$(undisturbed "$loc" hs 1)" \
                          "$(undisturbed none hs 1)")
    urat[$loc.srvns]=$(stats "$(undisturbed "$loc" srvns 1)" \
                             "$(undisturbed none srvns 1)")
    un[$loc]=$(undisturbed "$loc" hs | tr ' ' '\n' | grep -vc '^null$' \
               || true)
done

# ws-load at its CPU limit: the rates measured the generator as much as
# the server; the server's CPU per handshake is then the figure to read
client_bound=()
for loc in "${locs[@]}"; do
    c=${med[$loc.clicpu]}
    [ "$c" != null ] && [ "${c%.*}" -ge 85 ] && client_bound+=("$loc")
done

us() {
    # ns -> us, one decimal
    [ "$1" = null ] && echo null \
        || awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'
}

{
    echo
    echo "ngx_ws_gateway_module handshake benchmark ($mode, $rounds" \
         "round(s) of ${duration}s per location, medians; ${elapsed}s)"
    echo "  ws-load churn, $slots slots: connect, handshake with" \
         "\"Authorization: Bearer TOKEN\", one 16-byte echo, close"
    echo "  one NGINX $nginx_version, worker_processes $workers; $([ \
         "$pin" = 1 ] && echo "NGINX on CPU $server_cpu, ws-load on CPU" \
         "$client_cpu" || echo "not pinned"); $(nproc) CPUs" \
         "($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))"
    echo "  x none = median of the per-round ratios to /none (order rotated" \
         "every round); server CPU = worker run time per handshake cycle"
    echo "  load average $load_before -> $load_after; module .so md5" \
         "$module_id"
    echo
    printf '%-8s %-6s %10s %8s %9s %9s %12s %8s %7s %8s %11s\n' \
        location alg "hs/s" "x none" "p50 us" "p99 us" "server us/hs" \
        "x none" "srv %" "ws-load%" "others%"
    printf '%-8s %-6s %10s %8s %9s %9s %12s %8s %7s %8s %11s\n' \
        "" "" "" "" "handshake" "handshake" "" "" "CPU" "CPU" "srv/cli"
    printf '%.0s-' {1..108}
    echo
    for loc in "${locs[@]}"; do
        printf '%-8s %-6s %10s %8s %9s %9s %12s %8s %7s %8s %11s\n' \
            "/$loc" "${alg_of[$loc]}" "${med[$loc.hs]}" "${rat[$loc.hs]}" \
            "${med[$loc.p50]}" "${med[$loc.p99]}" \
            "$(us "${med[$loc.srvns]}")" "${rat[$loc.srvns]}" \
            "${med[$loc.srvcpu]}" "${med[$loc.clicpu]}" \
            "${med[$loc.othsrv]}/${med[$loc.othcli]}"
    done
    echo
    for loc in "${locs[@]}"; do
        l=
        r=0
        for v in ${vals[$loc.hs]}; do
            r=$(( r + 1 ))
            l+="${l:+, }$v${disturbed[$loc-r$r]:+*}"
        done
        printf '  per round /%-6s hs/s %s (x none %s)\n' "$loc" "$l" \
            "$(round_ratios "${vals[$loc.hs]}" "${vals[none.hs]}")"
    done
    if [ ${#disturbed[@]} -gt 0 ]; then
        echo "  * disturbed: other processes took ${disturb_pct}% or more" \
             "of a pinned CPU during that run"
        echo
        echo "undisturbed runs only (ratios: rounds where neither the" \
             "location's run nor /none's was disturbed):"
        printf '%-8s %-6s %7s %10s %8s %12s %8s\n' location alg runs \
            "hs/s" "x none" "server us/hs" "x none"
        for loc in "${locs[@]}"; do
            printf '%-8s %-6s %7s %10s %8s %12s %8s\n' "/$loc" \
                "${alg_of[$loc]}" "${un[$loc]}/$rounds" "${umed[$loc.hs]}" \
                "${urat[$loc.hs]}" "$(us "${umed[$loc.srvns]}")" \
                "${urat[$loc.srvns]}"
        done
    fi
    if [ ${#client_bound[@]} -gt 0 ]; then
        echo "ws-load at 85% of its CPU or more for: ${client_bound[*]}" \
             "(the rate is bounded by the generator there; read server us/hs)"
    fi
    echo "checks: every run saw only 101 (ws-load), no 401 and no refused" \
         "token (status page); per run: $out/checks.txt"
    if [ ${#warnings[@]} -gt 0 ]; then
        echo "warnings (sanity checks):"
        printf '  %s\n' "${warnings[@]}"
    fi
    if [ ${#anomalies[@]} -gt 0 ]; then
        echo "anomalies:"
        printf '  %s\n' "${anomalies[@]}"
    else
        echo "anomalies: none (no failed session, no ws-load error, no" \
             "disturbed run)"
    fi
    echo "error log lines: emerg=${loglines[emerg]} alert=${loglines[alert]}" \
         "crit=${loglines[crit]} error=${loglines[error]}" \
         "warn=${loglines[warn]}"
    [ ! -s "$out/log-excerpts.txt" ] || head -n 5 "$out/log-excerpts.txt"
} >&2

# the JSON line

j='{"bench":"handshake-bench","mode":"'$mode'","rounds":'$rounds
j+=',"duration_s":'$duration',"slots":'$slots',"worker_processes":'$workers
j+=',"pinned":'$([ "$pin" = 1 ] && echo true || echo false)
j+=',"cpus":'$(nproc)',"module":'$(json_str "$module_id")
j+=',"nginx":"'$nginx_version'","results":{'
first=1
for loc in "${locs[@]}"; do
    [ "$first" = 1 ] || j+=','
    first=0
    j+='"'$loc'":{"alg":"'${alg_of[$loc]}'","handshakes_per_s":'${med[$loc.hs]}
    j+=',"ratio_to_none":'${rat[$loc.hs]}
    j+=',"handshake_us_p50":'${med[$loc.p50]}',"handshake_us_p99":'
    j+=${med[$loc.p99]}',"server_ns_per_handshake":'${med[$loc.srvns]}
    j+=',"server_cpu_ratio_to_none":'${rat[$loc.srvns]}
    j+=',"server_cpu_pct":'${med[$loc.srvcpu]}
    j+=',"wsload_cpu_pct":'${med[$loc.clicpu]}
    j+=',"undisturbed_runs":'${un[$loc]}
    j+=',"undisturbed":{"handshakes_per_s":'${umed[$loc.hs]}
    j+=',"ratio_to_none":'${urat[$loc.hs]}',"server_ns_per_handshake":'
    j+=${umed[$loc.srvns]}',"server_cpu_ratio_to_none":'${urat[$loc.srvns]}'}'
    j+=',"rounds_handshakes_per_s":['${vals[$loc.hs]// /,}']'
    j+=',"rounds_ratio_to_none":['$(round_ratios "${vals[$loc.hs]}" \
                                                  "${vals[none.hs]}")']}'
done
j+='},"client_bound":['$(json_strs ${client_bound[@]+"${client_bound[@]}"})
j+='],"warnings":['$(json_strs ${warnings[@]+"${warnings[@]}"})
j+='],"disturbed_runs":['$(json_strs "${!disturbed[@]}")']'
j+=',"disturb_pct":'$disturb_pct
j+=',"anomalies":['$(json_strs ${anomalies[@]+"${anomalies[@]}"})
j+='],"log_lines":{"emerg":'${loglines[emerg]}',"alert":'${loglines[alert]}
j+=',"crit":'${loglines[crit]}',"error":'${loglines[error]}',"warn":'
j+=${loglines[warn]}'},"load_before":"'$load_before'","load_after":"'
j+=$load_after'","elapsed_s":'$elapsed'}'

put_result "$j"
