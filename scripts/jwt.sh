#!/usr/bin/env bash
#
# Prints an HS256 JWT, made with the openssl command, for the demo and
# the end-to-end tests:
#
#   scripts/jwt.sh KEY-FILE SECONDS SUB
#
# KEY-FILE holds the HMAC secret (as ws_gateway_auth_jwt_key_file ...
# hmac reads it: the file's bytes); the token has "sub": SUB, "iat": now
# and "exp": now + SECONDS.  SUB must need no JSON escaping.

set -euo pipefail

if [ $# -ne 3 ] || ! [[ $2 =~ ^[0-9]+$ ]] || ! [[ $3 =~ ^[A-Za-z0-9_.@-]+$ ]]
then
    echo "usage: $0 KEY-FILE SECONDS SUB (SUB: letters, digits, _.@-)" >&2
    exit 2
fi

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

key=$(cat "$1")
now=$(date +%s)
head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
body=$(printf '{"sub":"%s","iat":%s,"exp":%s}' "$3" "$now" "$((now + $2))" \
       | b64url)
sig=$(printf '%s.%s' "$head" "$body" \
      | openssl dgst -sha256 -mac HMAC -macopt "key:$key" -binary | b64url)

printf '%s.%s.%s\n' "$head" "$body" "$sig"
