#!/usr/bin/env bash
#
# The style gates of "make test": NGINX's C style on our sources (no line
# over 80 columns, no tabs, no // comments, no trailing white space) and
# git's whitespace check over every tracked file.

set -uo pipefail

cd "$(dirname "$0")/.."

fail=0

# check NAME COMMAND...: COMMAND prints offending "file:line" rows
check() {
    local name=$1 out
    shift

    out=$("$@")

    if [ -n "$out" ]; then
        sed "s|\$|: $name|; s|^|style: |" <<< "$out" | head -20 >&2
        fail=1
    fi
}

mapfile -t csrc < <(git ls-files --cached --others --exclude-standard \
                    '*.c' '*.h' | while read -r f; do
                        [ -f "$f" ] && echo "$f"; done)

if [ ${#csrc[@]} -gt 0 ]; then
    check "over 80 columns" \
        awk 'length > 80 { print FILENAME ":" FNR }' "${csrc[@]}"
    check "tab" grep -n -H -P '\t' "${csrc[@]}"
    check "trailing white space" grep -n -H -E '[[:space:]]$' "${csrc[@]}"

    # a // outside string literals and URLs
    check "// comment" \
        awk '{ l = $0; gsub(/"([^"\\]|\\.)*"/, "", l);
               gsub(/[a-z]+:\/\//, "", l) }
             l ~ /\/\// { print FILENAME ":" FNR }' "${csrc[@]}"
fi

# every committed file against the empty tree, and what is not committed
empty=$(git hash-object -t tree /dev/null)

if git rev-parse --verify -q HEAD >/dev/null; then
    git --no-pager diff --check "$empty" HEAD -- . ':!t/fuzz/corpus' \
        || fail=1
fi

git --no-pager diff --check -- . ':!t/fuzz/corpus' || fail=1

if [ $fail = 0 ]; then
    echo "style: ${#csrc[@]} C files checked, 0 failed"
else
    echo "style: failed" >&2
fi

exit $fail
