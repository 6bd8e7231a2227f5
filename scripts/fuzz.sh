#!/usr/bin/env bash
#
# Builds the libFuzzer targets of the pure code (t/fuzz/fuzz_*.c) with
# clang's -fsanitize=fuzzer,address,undefined into build/fuzz/, and runs
# each for SECONDS (default 5):
#
#   scripts/fuzz.sh [SECONDS]
#
# Each target starts from a scratch copy of its seed corpus
# (t/fuzz/corpus/TARGET, never written to) in build/fuzz/corpus/TARGET,
# which keeps what the runs find; crashes go to build/fuzz/artifacts/.
# The portable byte-order macros are used (NGX_HAVE_NONALIGNED=0) so
# that UBSan checks the alignment of every access; the unaligned ones
# are covered by scripts/unit.sh.  Only the configured objs/ headers of
# an NGINX tree are needed, as for scripts/unit.sh.
# Exits nonzero if a target does not build or finds a crash.

set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=${NGX_TREE:-$top/build/debian}
out=$top/build/fuzz
secs=${1:-5}
cc=${FUZZ_CC:-clang}

case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

have_objs() {
    [ -f "$tree/objs/ngx_auto_config.h" ] \
        && [ -f "$tree/objs/ngx_auto_headers.h" ]
}

mkdir -p "$out/artifacts"

if ! have_objs && [ -z "${NGX_TREE:-}" ]; then
    echo "fuzz: configuring NGINX with scripts/build.sh" >&2
    bash "$top/scripts/build.sh" >"$out/configure.log" 2>&1 || true
fi

have_objs || {
    echo "fuzz: no $tree/objs/ngx_auto_config.h (see" \
         "build/fuzz/configure.log)" >&2
    echo "fuzz: 0 passed, 1 failed"
    exit 1
}

incs="-I $tree/objs -I $tree/src/core -I $tree/src/event"
incs="$incs -I $tree/src/event/modules -I $tree/src/os/unix"
incs="$incs -I $top/ngx_ws_gateway_module -I $top/t/fuzz"

flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
flags="$flags -fno-omit-frame-pointer -DNGX_HAVE_NONALIGNED=0"
flags="$flags -Wall -Wextra -Werror -Wno-unused-parameter"

# the pure code every target is linked with, and its library
srcs="$top/t/fuzz/ref_utf8.c"
for f in parse record json jwt; do
    srcs="$srcs $top/ngx_ws_gateway_module/ngx_ws_gateway_$f.c"
done
libs="-lcrypto"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0

for src in "$top"/t/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    target=${name#fuzz_}
    bin=$out/$name
    log=$out/$name.log

    # shellcheck disable=SC2086
    if ! $cc $flags $incs "$src" $srcs $libs -o "$bin" >"$log" 2>&1
    then
        echo "FAIL $name: does not build:"
        sed 's/^/    /' "$log" | head -30
        failed=$((failed + 1))
        continue
    fi

    corpus=$out/corpus/$target
    mkdir -p "$corpus"

    if [ -d "$top/t/fuzz/corpus/$target" ]; then
        cp -p "$top/t/fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null || true
    fi

    "$bin" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$target-" "$corpus" >"$log" 2>&1
    rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    units=$(find "$corpus" -type f | wc -l)

    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: exit $rc, see $log:"
        grep -E -A12 'ERROR|failed|SUMMARY' "$log" | head -40 \
            | sed 's/^/    /'
        ls "$out/artifacts/$target-"* 2>/dev/null | sed 's/^/    artifact: /'
        failed=$((failed + 1))
        continue
    fi

    echo "fuzz: $target: ${execs:-?} runs in ${secs}s" \
         "($(( ${execs:-0} / (secs > 0 ? secs : 1) ))/s), corpus $units"
    passed=$((passed + 1))
done

echo "fuzz: $passed passed, $failed failed"

[ "$failed" -eq 0 ]
