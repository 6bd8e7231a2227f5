#!/usr/bin/env bash
#
# Installs what is missing (make among it), then runs every check and
# suite: the same as "make test".

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/deps.sh"

exec make -C "$top" test
