#!/usr/bin/env bash
#
# Builds and runs the C unit tests of the pure code (t/unit/test_*.c),
# each linked with ngx_ws_gateway_parse.c, ngx_ws_gateway_record.c,
# ngx_ws_gateway_json.c, ngx_ws_gateway_jwt.c and ngx_ws_gateway_out.c
# only (and OpenSSL's libcrypto), in these builds:
#
#   plain      $CC -O2, as configured (NGX_HAVE_NONALIGNED from objs/)
#   san        AddressSanitizer + UBSan (alignment included), with the
#              portable byte-order macros (NGX_HAVE_NONALIGNED=0)
#   san-na     AddressSanitizer + UBSan with the configured unaligned
#              byte-order macros (UBSan's alignment check off: those
#              loads are unaligned by design, as in NGINX's HTTP/2 code)
#   san-legacy test_jwt.c only, as san, with NGX_WS_GATEWAY_JWT_LEGACY:
#              the key code an OpenSSL 1.1.1 build takes
#
# Only the configured objs/ headers of an NGINX tree are needed, not a
# linked module: if build/debian/objs has none yet, scripts/build.sh is
# run and may fail at its make step.  NGX_TREE=/path overrides the tree.
# Writes into build/unit/ only.  Exits nonzero if any test fails.

set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=${NGX_TREE:-$top/build/debian}
out=$top/build/unit
cc=${CC:-cc}

if command -v clang >/dev/null 2>&1; then
    san_cc=${SAN_CC:-clang}
else
    san_cc=${SAN_CC:-$cc}
fi

have_objs() {
    [ -f "$tree/objs/ngx_auto_config.h" ] \
        && [ -f "$tree/objs/ngx_auto_headers.h" ]
}

mkdir -p "$out"

if ! have_objs && [ -z "${NGX_TREE:-}" ]; then
    echo "unit: configuring NGINX with scripts/build.sh" >&2
    bash "$top/scripts/build.sh" >"$top/build/unit/configure.log" 2>&1 \
        || true
fi

have_objs || {
    echo "unit: no $tree/objs/ngx_auto_config.h (see" \
         "build/unit/configure.log)" >&2
    echo "unit: 0 passed, 1 failed"
    exit 1
}

incs="-I $tree/objs -I $tree/src/core -I $tree/src/event"
incs="$incs -I $tree/src/event/modules -I $tree/src/os/unix"
incs="$incs -I $tree/src/http -I $tree/src/http/modules -I $tree/src/http/v2"
incs="$incs -I $top/ngx_ws_gateway_module -I $top/t/unit"

# the pure code every test is linked with, and its library
srcs=""
for f in parse record json jwt out; do
    srcs="$srcs $top/ngx_ws_gateway_module/ngx_ws_gateway_$f.c"
done
libs="-lcrypto"

warn="-Wall -Wextra -Werror -Wno-unused-parameter"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
san="$san -fno-omit-frame-pointer"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0

run_variant() {
    # run_variant NAME CC FLAGS [TESTS]: TESTS a glob, default all (*)
    local name=$1 compiler=$2 flags=$3 tests=${4:-*} src bin log line p f rc

    mkdir -p "$out/$name"

    for src in "$top"/t/unit/test_$tests.c; do
        bin=$out/$name/$(basename "$src" .c)
        log=$bin.log

        # shellcheck disable=SC2086
        if ! $compiler -g $flags $warn $incs "$src" "$top/t/unit/unit.c" \
             $srcs $libs -o "$bin" >"$log" 2>&1
        then
            echo "FAIL $name/$(basename "$bin"): does not build:"
            sed 's/^/    /' "$log" | head -30
            failed=$((failed + 1))
            continue
        fi

        "$bin" >"$log" 2>&1
        rc=$?

        grep '^FAIL' "$log" | sed "s|^|$name: |"

        line=$(grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log" \
               | tail -1)

        if [ -z "$line" ]; then
            echo "FAIL $name/$(basename "$bin"): exit $rc, no result line:"
            tail -30 "$log" | sed 's/^/    /'
            failed=$((failed + 1))
            continue
        fi

        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')

        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "FAIL $name/$(basename "$bin"): exit $rc:"
            tail -30 "$log" | sed 's/^/    /'
            f=1
        fi

        echo "unit: $name: $line"

        passed=$((passed + p))
        failed=$((failed + f))
    done
}

run_variant plain "$cc" "-O2"
run_variant san "$san_cc" "-O1 $san -DNGX_HAVE_NONALIGNED=0"
run_variant san-na "$san_cc" "-O1 $san -fno-sanitize=alignment"
run_variant san-legacy "$san_cc" \
    "-O1 $san -DNGX_HAVE_NONALIGNED=0 -DNGX_WS_GATEWAY_JWT_LEGACY" jwt

# a 32-bit target, compiled only (this machine may not run 32-bit
# binaries): NGINX's sizes for 32 bits over the configured objs/, the
# module's sources that touch the metrics zone, and the layout checks of
# t/unit/check32_*.c.  Skipped where the compiler has no -m32.
check32() {
    local d32 f name ok=0 bad=0 log=$out/m32.log

    if ! echo 'int main(void) { return 0; }' \
         | $cc -m32 -x c -fsyntax-only - >/dev/null 2>&1
    then
        echo "unit: m32: skipped ($cc has no -m32)"
        return
    fi

    d32="-m32 -fsyntax-only -DNGX_PTR_SIZE=4"
    d32="$d32 -DNGX_MAX_SIZE_T_VALUE=2147483647"
    d32="$d32 -DNGX_SIZE_T_LEN=(sizeof(\"-2147483648\")-1)"
    d32="$d32 -DNGX_TIME_T_SIZE=4 -DNGX_MAX_TIME_T_VALUE=2147483647"
    d32="$d32 -DNGX_TIME_T_LEN=(sizeof(\"-2147483648\")-1)"

    : > "$log"

    for f in "$top"/t/unit/check32_*.c \
             "$top"/ngx_ws_gateway_module/ngx_ws_gateway_{metrics,status}.c \
             "$top"/ngx_ws_gateway_module/ngx_ws_gateway_{session,module}.c
    do
        name=$(basename "$f" .c)

        # shellcheck disable=SC2086
        if $cc $d32 $warn $incs -I "$tree/src/http" \
               -I "$tree/src/http/modules" -I "$tree/src/http/v2" \
               -idirafter "/usr/include/$($cc -dumpmachine)" "$f" \
               >>"$log" 2>&1
        then
            ok=$((ok + 1))
        else
            echo "FAIL m32/$name: does not compile for 32 bits:"
            grep -E 'error|check32_' "$log" | tail -10 | sed 's/^/    /'
            bad=$((bad + 1))
        fi
    done

    echo "unit: m32: $ok passed, $bad failed"

    passed=$((passed + ok))
    failed=$((failed + bad))
}

check32

echo "unit: $passed passed, $failed failed"

[ "$failed" -eq 0 ]
