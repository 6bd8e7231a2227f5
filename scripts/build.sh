#!/usr/bin/env bash
#
# Builds ngx_ws_gateway_module.so.
#
#   scripts/build.sh                  against the system NGINX (Debian's
#                                     nginx-dev tree, copied into build/)
#   NGINX_SRC=/path scripts/build.sh  against an NGINX source tree (an
#                                     nginx.org release or a git checkout),
#                                     configured --with-compat
#   TEST_HOOKS=1 scripts/build.sh     builds into build/*-test a module with
#                                     the test-only hooks (a stall of known
#                                     length, for the metrics tests); never
#                                     for production
#   POLL=1 scripts/build.sh           builds NGINX 1.22.1 itself (the
#                                     source Debian packages, fetched from
#                                     Debian's archive and checked against
#                                     its SHA-256) with the poll and select
#                                     event modules, and the module, into
#                                     build/nginx-1.22.1-poll: for the tests
#                                     under level-triggered event methods;
#                                     prints the nginx binary, then the .so
#   SANITIZE=1 scripts/build.sh       builds the module with AddressSanitizer
#                                     and UBSan into build/*-asan, beside an
#                                     nginx wrapper preloading their
#                                     runtimes (for the tests)
#
# Every variant first builds build/backend/echo-backend, the C echo
# backend of the link protocol (scripts/backend/Makefile).
#
# Everything is written under build/; nothing under /usr or in NGINX_SRC.
# Our sources are compiled with -Werror.  Prints the path of the .so last.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# flags for our files: NGINX's own -W -Wall plus a few more, as errors
cc_opt="-g -O2 -fPIC -Werror -Wall -Wextra -Wno-unused-parameter"
cc_opt="$cc_opt -Wformat -Werror=format-security -fstack-protector-strong"
ld_opt="-fPIC"

log() { echo "build: $*" >&2; }

copy_tree() {
    # copy_tree SRC DST: a private copy of an NGINX tree, refreshed when
    # the source changes
    local src=$1 dst=$2 stamp

    stamp=$(stat -c %Y "$src/src/core/nginx.h")

    if [ -f "$dst/.copied-from" ] \
       && [ "$(cat "$dst/.copied-from")" = "$src $stamp" ]
    then
        return
    fi

    log "copying $src to $dst"
    rm -rf "$dst"
    mkdir -p "$dst"
    (cd "$src" && tar --exclude=./objs --exclude=./Makefile -cf - .) \
        | (cd "$dst" && tar -xf -)
    echo "$src $stamp" > "$dst/.copied-from"
}

configure_tree() {
    # configure_tree DIR ARGS...: (re)configures when the arguments,
    # our config script or the list of our sources changed
    local dir=$1 key
    shift

    key=$(printf '%s\n' "$@" "$(cat "$top/config")" | md5sum | cut -d' ' -f1)

    if [ -f "$dir/objs/Makefile" ] && [ -f "$dir/.configured" ] \
       && [ "$(cat "$dir/.configured")" = "$key" ]
    then
        return
    fi

    log "configuring $dir"

    local conf=./configure
    [ -x "$dir/configure" ] || conf=./auto/configure

    (cd "$dir" && $conf "$@" >"$dir/configure.log" 2>&1) || {
        tail -30 "$dir/configure.log" >&2
        log "configure failed, see $dir/configure.log"
        exit 1
    }

    echo "$key" > "$dir/.configured"
}

# the echo backend: its make output goes to stderr, stdout is for paths
make -s -C "$top/scripts/backend" >&2 || {
    log "building build/backend/echo-backend failed"
    exit 1
}

if [ "${POLL:-0}" = 1 ]; then
    # Debian's nginx is built without poll and select; its nginx-dev tree
    # has headers only.  The same release's source, from Debian's archive:
    ver=1.22.1
    sum=9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31
    url=http://deb.debian.org/debian/pool/main/n/nginx/nginx_$ver.orig.tar.gz
    srcdir=$top/build/src
    tarball=$srcdir/nginx_$ver.orig.tar.gz
    mkdir -p "$srcdir"

    if [ ! -f "$tarball" ] \
       || ! echo "$sum  $tarball" | sha256sum -c --status -
    then
        log "fetching $url"
        curl -sSf -o "$tarball.part" "$url" || {
            log "could not fetch $url"
            exit 1
        }
        echo "$sum  $tarball.part" | sha256sum -c --status - || {
            log "$url: SHA-256 mismatch"
            exit 1
        }
        mv "$tarball.part" "$tarball"
    fi

    if [ ! -f "$srcdir/nginx-$ver/src/core/nginx.h" ]; then
        tar -xzf "$tarball" -C "$srcdir"
    fi

    dir=$top/build/nginx-$ver-poll
    copy_tree "$srcdir/nginx-$ver" "$dir"
    configure_tree "$dir" --with-compat --with-poll_module \
        --with-select_module --with-http_ssl_module --with-threads \
        --with-http_auth_request_module --with-http_realip_module \
        --with-http_stub_status_module --with-http_v2_module \
        --with-debug --prefix="$dir" --error-log-path=stderr \
        --with-cc-opt="-g -O2" --add-dynamic-module="$top"

    make -C "$dir" -f objs/Makefile -j"$jobs" >"$dir/make.log" 2>&1 || {
        grep -E -A3 'error|warning' "$dir/make.log" | head -60 >&2
        log "build failed, see $dir/make.log"
        exit 1
    }

    echo "$dir/objs/nginx"
    echo "$dir/objs/ngx_ws_gateway_module.so"
    exit 0
fi

if [ -n "${NGINX_SRC:-}" ]; then
    src=$(cd "$NGINX_SRC" && pwd)
    [ -f "$src/src/core/nginx.h" ] || {
        log "NGINX_SRC=$NGINX_SRC is not an NGINX source tree"
        exit 1
    }
    ver=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
          "$src/src/core/nginx.h")
    dir=$top/build/nginx-$ver
    flags=(--with-compat --with-http_ssl_module --with-threads)

else
    src=/usr/share/nginx/src
    [ -f "$src/conf_flags" ] || {
        log "$src/conf_flags not found: install nginx-dev" \
            "(scripts/deps.sh does)"
        exit 1
    }
    dir=$top/build/debian
    # shellcheck disable=SC1091
    . "$src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

if [ "${TEST_HOOKS:-0}" = 1 ]; then
    dir=$dir-test
    cc_opt="$cc_opt -DNGX_WS_GATEWAY_TEST_HOOKS=1"
fi

copy_tree "$src" "$dir"

if [ "${SANITIZE:-0}" = 1 ]; then
    # The module alone is instrumented (Debian's tree has headers, not
    # sources, so there is no nginx binary to build): the nginx beside it
    # is a wrapper that preloads the ASan and UBSan runtimes into the
    # system nginx.  Workers are forked, so they keep the preload.
    # unaligned loads are deliberate where NGX_HAVE_NONALIGNED allows
    # them (as in NGINX's HTTP/2 code): UBSan's alignment check is off
    san="-fsanitize=address,undefined -fno-sanitize=alignment"
    san="$san -fno-omit-frame-pointer"
    dir=$dir-asan
    copy_tree "$src" "$dir"
    configure_tree "$dir" "${flags[@]}" \
        --with-cc-opt="$cc_opt $san" --with-ld-opt="$ld_opt $san" \
        --add-dynamic-module="$top"
    make -C "$dir" -f objs/Makefile -j"$jobs" modules \
        >"$dir/make.log" 2>&1 || {
        grep -E -A3 'error|warning' "$dir/make.log" | head -60 >&2
        log "build failed, see $dir/make.log"
        exit 1
    }

    cc=$(sed -n 's/^CC *= *//p' "$dir/objs/Makefile")
    preload="$($cc -print-file-name=libasan.so)"
    preload="$preload $($cc -print-file-name=libubsan.so)"
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

    cat > "$dir/objs/nginx" <<WRAPPER
#!/bin/sh
# nginx with the ASan and UBSan runtimes preloaded (scripts/build.sh)
LD_PRELOAD="$preload\${LD_PRELOAD:+ \$LD_PRELOAD}"
export LD_PRELOAD
exec $nginx_bin "\$@"
WRAPPER
    chmod +x "$dir/objs/nginx"

    echo "$dir/objs/nginx"
    echo "$dir/objs/ngx_ws_gateway_module.so"
    exit 0
fi

configure_tree "$dir" "${flags[@]}" \
    --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
    --add-dynamic-module="$top"

make -C "$dir" -f objs/Makefile -j"$jobs" modules >"$dir/make.log" 2>&1 || {
    grep -E -A3 'error|warning' "$dir/make.log" | head -60 >&2
    log "build failed, see $dir/make.log"
    exit 1
}

echo "$dir/objs/ngx_ws_gateway_module.so"
