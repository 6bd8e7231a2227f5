#!/usr/bin/env bash
#
# Installs what building, running and testing the module needs, and only
# what is missing: Debian (or Ubuntu) packages with apt, Node packages into
# the repository's node_modules/ (git-ignored).  Returns in about a second
# when everything is present.
#
#   scripts/deps.sh          everything (build, run, tests)
#   scripts/deps.sh build    only what building and running need

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}

build_pkgs=(
    nginx nginx-dev make gcc libc6-dev libssl-dev zlib1g-dev libpcre2-dev
    curl procps openssl python3
)

test_pkgs=(
    git perl libtest-base-perl libhttp-message-perl libtext-diff-perl
    libtest-longstring-perl liblist-moreutils-perl libipc-run-perl
    liburi-perl libprotocol-websocket-perl
    python3-websockets nodejs npm
    clang libclang-rt-dev prometheus chromium libc6-dev-i386
)

pkgs=("${build_pkgs[@]}")
[ "$what" = build ] || pkgs+=("${test_pkgs[@]}")

# packages dpkg knows as installed
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" \
            2>/dev/null | awk '$2 == "installed" { print $1 }') || true

missing=()
for pkg in "${pkgs[@]}"; do
    case $pkg in
        # Node may come from elsewhere (NodeSource bundles npm with node,
        # and conflicts with Debian's npm): the commands are what count
        nodejs) command -v node >/dev/null && continue ;;
        npm)    command -v npm >/dev/null && continue ;;
    esac

    grep -qx -- "$pkg" <<< "$installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2

    sudo=
    if [ "$(id -u)" != 0 ]; then
        sudo=sudo
    fi

    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

    # the Debian packages start a system nginx (port 80) and a prometheus
    # server (port 9090): the project needs neither running
    if [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now nginx prometheus >/dev/null 2>&1 \
            || true
    fi
fi

# Node packages: one package.json per directory that has tests in Node
if [ "$what" != build ]; then
    for dir in "$top" "$top/t/metrics"; do
        [ -f "$dir/package.json" ] || continue

        if [ ! -f "$dir/node_modules/.package-lock.json" ] \
           || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]
        then
            echo "deps: installing node packages into ${dir#$top/}/node_modules" >&2
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
        fi
    done
fi
