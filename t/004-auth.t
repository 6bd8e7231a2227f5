# Token authentication (ws_gateway_auth_jwt): every algorithm with a
# valid token, every reason to refuse one (with the exact 401 answer and
# the one [info] line), the token sources, the variables, composition
# with allow/deny, satisfy and auth_request, the counters of the status
# handler, the configuration errors, and the close of a session whose
# token expires.  Keys and tokens come from t::WsJwt.  The tokens of the
# eval sections are made when the file is loaded (valid for 6 hours,
# time margins of 10 minutes or more); the short-lived ones of the
# session-expiry blocks are made and used in "--- init", once nginx is
# up, since the real runner may take seconds to restart nginx.
use t::WsGateway;
use t::WsJwt;

repeat_each(1);

# an HS256 token signed with the secret of hs1, unless told otherwise
sub tok_hs { ::jwt_token(alg => 'HS256', key => 'hs1', @_) }

# a token whose text does not depend on the time it is made (for blocks
# that look for it in the logs from another eval section)
sub tok_fixed {
    my (%o) = @_;
    my $claims = delete $o{claims} || {};
    ::jwt_token(alg => 'HS256', key => 'hs1', %o,
                claims => { iat => 1700000000, exp => 4000000000, %$claims })
}

sub bearer { 'Authorization: Bearer ' . $_[0] }

# a handshake, a text message and a close: the session of a valid token
sub ws_session {
    my ($uri, @headers) = @_;
    ::ws_handshake($uri, @headers) . ::ws_frame('text', 'hello')
    . ::ws_close_frame(1000)
}

# an RSA key over the default ws_gateway_auth_jwt_max_rsa_bits (4096)
t::WsJwt::_genkey('rsa4100', '-algorithm', 'RSA',
                  '-pkeyopt', 'rsa_keygen_bits:4100');
$t::WsJwt::KEYS{rsa4100} = {
    type => 'rsa', bits => 4100,
    key => ::jwt_dir() . '/rsa4100.key', pem => ::jwt_dir() . '/rsa4100.pem',
};

::jwt_write_file('jwks-all.json',
                 ::jwks_json(qw(rsa1 ec256 ec384 ec521 ed1 hs2)));
::jwt_write_file('jwks-rot.json',
                 ::jwks_json({ key => 'rsa1', kid => 'k1' },
                             { key => 'rsa2', kid => 'k2' }));
::jwt_write_file('jwk-one.json',
                 JSON::PP->new->canonical->encode(
                     ::jwk({ key => 'ec256', kid => 'solo' })) . "\n");
::jwt_write_file('jwks-private.json',
                 ::jwks_json({ key => 'rsa1', private => 1 }));
::jwt_write_file('jwks-bad.json', qq({"keys": [{"kty": "RSA", "n": "x"\n));
::jwt_write_file('jwks-alg.json',
                 ::jwks_json({ key => 'rsa1', kid => 'r',
                               extra => { alg => 'RS256' } },
                             { key => 'rsa2', kid => 'p' }));
{
    # an EC key whose point is not on the curve
    my $jwk = ::jwk('ec256');
    my $y = ::b64url_decode($jwk->{y});
    substr($y, -1, 1) = chr(ord(substr($y, -1, 1)) ^ 0x01);
    $jwk->{y} = ::b64url($y);
    ::jwt_write_file('jwks-offcurve.json',
                     JSON::PP->new->canonical->encode({ keys => [$jwk] }));
}
::jwt_write_file('jwks-enc.json',
                 ::jwks_json({ key => 'rsa1', extra => { use => 'enc' } }));
::jwt_write_file('noalg.conf', <<"_EOC_");
location /ws {
    ws_gateway_pass builtin:echo;
    ws_gateway_auth_jwt ws;
    ws_gateway_auth_jwt_key_file ${\ ::jwt_dir()}/hs1.secret hmac;
}
_EOC_
::jwt_write_file('jwks-enc-private.json',
                 ::jwks_json({ key => 'rsa1', private => 1,
                               extra => { use => 'enc' } }));

our $HttpConfig = <<'_EOC_';
    ws_gateway_auth_jwt_claim_set $jwt_tenant org tenant;
    ws_gateway_auth_jwt_header_set $jwt_typ typ;
    log_format jwtlog 'jwt sub=$ws_gateway_jwt_claim_sub err=$ws_gateway_auth_error req="$ws_gateway_redacted_request"';
    log_format early 'early=$early late=[$jwt_tenant] err=[$ws_gateway_auth_error]';
_EOC_

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /all {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt all;
        ws_gateway_auth_jwt_alg HS256 HS384 HS512 RS256 RS384 RS512
                                PS256 PS384 PS512 ES256 ES384 ES512 EdDSA;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ec256.pem;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ec384.pem;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ec521.pem pem;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ed1.pem;
    }

    location /jwks-all {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt jwks;
        ws_gateway_auth_jwt_alg HS256 RS256 PS256 ES256 ES384 ES512 EdDSA;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-all.json;
    }

    location /rotation {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt rotation;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-rot.json jwks;
    }

    location /rotation-mixed {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt mixed;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem kid=k1;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa2.pem;
    }

    location /pem-kid {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt pem;
        ws_gateway_auth_jwt_alg RS256 HS512;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem kid=k1;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa2.pem pem kid=k2;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs2.secret hmac kid=h2;
    }

    location /one-jwk {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt one;
        ws_gateway_auth_jwt_alg ES256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwk-one.json;
    }

    location /cert {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt cert;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.crt;
    }

    location /narrow {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt narrow;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem;
    }

    location /confusion {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt confusion;
        ws_gateway_auth_jwt_alg HS256 RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem kid=rsa;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac kid=hs;
    }

    location /leeway {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_leeway 1h;
    }

    location /max-age {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_max_age 1h;
    }

    location /iss {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_issuer https://issuer.example https://other.example;
    }

    location /aud {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_audience chat api;
    }

    location /claim {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_claim role admin ops;
        ws_gateway_auth_jwt_claim tenant;
        ws_gateway_auth_jwt_claim level 3;
        ws_gateway_auth_jwt_claim verified true;
    }

    location /small {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_max_size 1k;
    }

    location /arg {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt arg token=$arg_access_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /cookie {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt "cookie jar" token=$cookie_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /header {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt header token=$http_x_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /proto {
        ws_gateway_pass builtin:echo;
        ws_gateway_subprotocols chat superchat;
        ws_gateway_auth_jwt proto token=$ws_gateway_protocol_token;
        ws_gateway_auth_jwt_protocol_prefix access_token.;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /proto-named {
        ws_gateway_pass builtin:echo;
        ws_gateway_subprotocols access_token. chat;
        ws_gateway_auth_jwt proto token=$ws_gateway_protocol_token;
        ws_gateway_auth_jwt_protocol_prefix access_token.;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        add_header X-Proto-Token $ws_gateway_protocol_token always;
    }

    location /vars {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        add_header X-Sub $ws_gateway_jwt_claim_sub always;
        add_header X-Roles $ws_gateway_jwt_claim_roles always;
        add_header X-Level $ws_gateway_jwt_claim_level always;
        add_header X-Obj $ws_gateway_jwt_claim_obj always;
        add_header X-Flag $ws_gateway_jwt_claim_flag always;
        add_header X-Missing $ws_gateway_jwt_claim_nothere always;
        add_header X-Alg $ws_gateway_jwt_header_alg always;
        add_header X-Kid $ws_gateway_jwt_header_kid always;
        add_header X-Payload $ws_gateway_jwt_payload always;
        add_header X-Auth-Error $ws_gateway_auth_error always;
        add_header X-Tenant $jwt_tenant always;
        add_header X-Typ $jwt_typ always;
    }

    location /hs32 {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs32.secret hmac;
    }

    location /jwk-alg {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256 PS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-alg.json;
    }

    location /redact {
        ws_gateway_pass builtin:echo;
        ws_gateway_redact_args one two;
        access_log logs/access.log jwtlog;
    }

    location /log {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt log token=$arg_access_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_redact_args secret;
        access_log logs/access.log jwtlog;
    }

    location /any {
        ws_gateway_pass builtin:echo;
        satisfy any;
        allow 127.0.0.1;
        deny all;
        ws_gateway_auth_jwt any;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /any-deny {
        ws_gateway_pass builtin:echo;
        satisfy any;
        deny all;
        ws_gateway_auth_jwt any;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /deny {
        ws_gateway_pass builtin:echo;
        deny all;
        ws_gateway_auth_jwt deny;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /authreq-ok {
        ws_gateway_pass builtin:echo;
        auth_request /authz-yes;
        ws_gateway_auth_jwt areq;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location /authreq-no {
        ws_gateway_pass builtin:echo;
        auth_request /authz-no;
        ws_gateway_auth_jwt areq;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }

    location = /authz-yes {
        internal;
        return 204;
    }

    location = /authz-no {
        internal;
        return 403;
    }

    location /expiry {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_session_expiry 4001 "token expired";
        ws_gateway_close_timeout 300ms;
    }

    location /expiry-on {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_session_expiry on;
        ws_gateway_close_timeout 300ms;
    }

    location /expiry-off {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_close_timeout 300ms;
    }

    location /log2 {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt log "token=${arg_access_token}";
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        access_log logs/access.log jwtlog;
    }

    location /ep {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ep token=$arg_access_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        error_page 401 /e/401.html;
    }

    location /e/ {
        access_log logs/access.log jwtlog;
    }

    location /argcase {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt log token=$ARG_access_token;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        access_log logs/access.log jwtlog;
    }

    location /early {
        set $early "[$jwt_tenant]";
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        access_log logs/access.log early;
    }

    location = /status {
        ws_gateway_status;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    unless (defined $block->config) {
        $block->set_value(config => $Config);
        $block->set_value(http_config => $HttpConfig)
            unless defined $block->http_config;
    }
});

plan tests => repeat_each() * ::jwt_count_checks(blocks());

run_tests();

__DATA__

=== TEST 1: HS256: a valid token gets 101, and the session echoes
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'HS256', key => 'hs1')))
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!WWW-Authenticate
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
WebSocket token refused
[error]



=== TEST 2: HS384: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'HS384', key => 'hs1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 3: HS512: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'HS512', key => 'hs1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 4: RS256: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 5: RS384: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'RS384', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 6: RS512: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'RS512', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 7: PS256: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'PS256', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 8: PS384: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'PS384', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 9: PS512: a valid token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'PS512', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 10: ES256: a valid token (r||s, 64 bytes) gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'ES256', key => 'ec256')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 11: ES384: a valid token (r||s, 96 bytes) gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'ES384', key => 'ec384')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 12: ES512: a valid token (P-521, r||s, 132 bytes) gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'ES512', key => 'ec521')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 13: EdDSA: a valid Ed25519 token gets 101
--- raw_request eval
::ws_session('/all', ::bearer(::jwt_token(alg => 'EdDSA', key => 'ed1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 14: JWKS: an RSA key (n, e) by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', kid => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 15: JWKS: the RSA key also verifies PS256
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'PS256', key => 'rsa1', kid => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 16: JWKS: an EC P-256 key (crv, x, y) by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'ES256', key => 'ec256', kid => 'ec256')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 17: JWKS: an EC P-384 key by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'ES384', key => 'ec384', kid => 'ec384')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 18: JWKS: an EC P-521 key (66-byte coordinates) by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'ES512', key => 'ec521', kid => 'ec521')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 19: JWKS: an OKP Ed25519 key (crv, x) by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'EdDSA', key => 'ed1', kid => 'ed1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 20: JWKS: an oct key (k) by its kid
--- raw_request eval
::ws_session('/jwks-all',
             ::bearer(::jwt_token(alg => 'HS256', key => 'hs2', kid => 'hs2')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 21: a file with one JWK object (not a set) is a key
--- raw_request eval
::ws_session('/one-jwk',
             ::bearer(::jwt_token(alg => 'ES256', key => 'ec256', kid => 'solo')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 22: a certificate's public key verifies
--- raw_request eval
::ws_session('/cert', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 23: key rotation: a token of the first kid is accepted
--- raw_request eval
::ws_session('/rotation',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', kid => 'k1')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 24: key rotation: a token of the second kid is accepted
--- raw_request eval
::ws_session('/rotation',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2', kid => 'k2')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 25: key rotation: a token without kid is not tried with keys that have kids
--- raw_request eval
::ws_handshake('/rotation', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="rotation", error="invalid_token", error_description="unknown key"
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/WebSocket token refused: .*?(?=, client: )/
--- grep_error_log_out
WebSocket token refused: unknown key, no "kid", and no key without one
--- no_error_log
[error]



=== TEST 26: key rotation: a token signed by the other key than its kid's is refused
--- raw_request eval
::ws_handshake('/rotation',
               ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2', kid => 'k1')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="rotation", error="invalid_token", error_description="invalid signature"
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 27: an unknown kid is refused (unknown key)
--- raw_request eval
::ws_handshake('/rotation',
               ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', kid => 'k9')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="rotation", error="invalid_token", error_description="unknown key"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: unknown key
--- no_error_log
[error]



=== TEST 28: a key without a kid verifies tokens with any kid
--- raw_request eval
::ws_session('/ws', ::bearer(::tok_hs(kid => 'whatever')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 29: kid= on PEM and hmac keys: each kid selects its key
--- raw_request eval
::ws_session('/pem-kid',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2', kid => 'k2')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 30: kid= on PEM keys: the other key's kid does not verify
--- raw_request eval
::ws_handshake('/pem-kid',
               ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2', kid => 'k1')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="pem", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 31: kid= on an hmac key
--- raw_request eval
::ws_session('/pem-kid',
             ::bearer(::jwt_token(alg => 'HS512', key => 'hs2', kid => 'h2')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 32: a JWK's "alg" narrows its key: the algorithm it names is accepted
--- raw_request eval
::ws_session('/jwk-alg',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', kid => 'r')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 33: a JWK's "alg" narrows its key: another algorithm of its family finds no key
--- raw_request eval
::ws_handshake('/jwk-alg',
               ::bearer(::jwt_token(alg => 'PS256', key => 'rsa1', kid => 'r')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="unknown key"
--- no_error_log
[error]



=== TEST 34: a bad HS256 signature is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(tamper => 1)))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid signature"
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 35: a bad RS256 signature is refused
--- raw_request eval
::ws_handshake('/all',
               ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', tamper => 1)))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="all", error="invalid_token", error_description="invalid signature"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 36: a bad ES256 signature is refused
--- raw_request eval
::ws_handshake('/all',
               ::bearer(::jwt_token(alg => 'ES256', key => 'ec256', tamper => 1)))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="all", error="invalid_token", error_description="invalid signature"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 37: a bad EdDSA signature is refused
--- raw_request eval
::ws_handshake('/all',
               ::bearer(::jwt_token(alg => 'EdDSA', key => 'ed1', tamper => 1)))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="all", error="invalid_token", error_description="invalid signature"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 38: a token signed with another secret is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::jwt_token(alg => 'HS256', key => 'hs2')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 39: the payload changed after signing is a bad signature
--- raw_request eval
my ($h, $p, $s) = ::jwt_segments(::tok_hs());
my ($h2, $p2) = ::jwt_segments(::tok_hs(claims => { sub => 'mallory' }));
::ws_handshake('/ws', ::bearer("$h.$p2.$s"))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 40: expired (exp in the past) is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(claims => { exp => time - 600 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token expired"
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: token expired
--- no_error_log
[error]



=== TEST 41: not yet valid (nbf in the future) is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(claims => { nbf => time + 3600 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token not yet valid"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: token not yet valid
--- no_error_log
[error]



=== TEST 42: iat in the future is not yet valid
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(claims => { iat => time + 3600 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token not yet valid"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: token not yet valid
--- no_error_log
[error]



=== TEST 43: a token without exp, nbf or iat is valid
--- raw_request eval
::ws_session('/ws', ::bearer(::tok_hs(claims => { exp => undef, iat => undef })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 44: leeway: exp passed by less than the leeway is accepted
--- raw_request eval
::ws_session('/leeway', ::bearer(::tok_hs(claims => { exp => time - 600 })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 45: leeway: exp passed by more than the leeway is refused
--- raw_request eval
::ws_handshake('/leeway', ::bearer(::tok_hs(claims => { exp => time - 7200 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token expired"
--- no_error_log
[error]



=== TEST 46: leeway: nbf ahead by less than the leeway is accepted
--- raw_request eval
::ws_session('/leeway', ::bearer(::tok_hs(claims => { nbf => time + 600 })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 47: leeway: nbf ahead by more than the leeway is refused
--- raw_request eval
::ws_handshake('/leeway', ::bearer(::tok_hs(claims => { nbf => time + 7200 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token not yet valid"
--- no_error_log
[error]



=== TEST 48: leeway: iat ahead by less than the leeway is accepted
--- raw_request eval
::ws_session('/leeway', ::bearer(::tok_hs(claims => { iat => time + 600 })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 49: max_age: a recent iat is accepted
--- raw_request eval
::ws_session('/max-age', ::bearer(::tok_hs(claims => { iat => time - 60 })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 50: max_age: an iat older than max_age is expired, even with exp ahead
--- raw_request eval
::ws_handshake('/max-age',
               ::bearer(::tok_hs(claims => { iat => time - 7200 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token expired"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: token expired
--- no_error_log
[error]



=== TEST 51: max_age: a token without iat is refused
--- raw_request eval
::ws_handshake('/max-age', ::bearer(::tok_hs(claims => { iat => undef })))
--- shutdown
--- error_code: 401
--- response_headers_like
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="[a-z ]+"
--- error_log
WebSocket token refused:
--- no_error_log
[error]



=== TEST 52: issuer: the first configured iss is accepted
--- raw_request eval
::ws_session('/iss',
             ::bearer(::tok_hs(claims => { iss => 'https://issuer.example' })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 53: issuer: another configured iss is accepted
--- raw_request eval
::ws_session('/iss',
             ::bearer(::tok_hs(claims => { iss => 'https://other.example' })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 54: issuer: a wrong iss is refused
--- raw_request eval
::ws_handshake('/iss',
               ::bearer(::tok_hs(claims => { iss => 'https://evil.example' })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid issuer"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid issuer
--- no_error_log
[error]



=== TEST 55: issuer: a missing iss is refused
--- raw_request eval
::ws_handshake('/iss', ::bearer(::tok_hs()))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid issuer"
--- no_error_log
[error]



=== TEST 56: audience: a string aud that is configured is accepted
--- raw_request eval
::ws_session('/aud', ::bearer(::tok_hs(claims => { aud => 'api' })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 57: audience: an array aud with a configured member is accepted
--- raw_request eval
::ws_session('/aud',
             ::bearer(::tok_hs(claims => { aud => ['billing', 'chat'] })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 58: audience: a wrong string aud is refused
--- raw_request eval
::ws_handshake('/aud', ::bearer(::tok_hs(claims => { aud => 'billing' })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid audience"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid audience
--- no_error_log
[error]



=== TEST 59: audience: an array aud without a configured member is refused
--- raw_request eval
::ws_handshake('/aud',
               ::bearer(::tok_hs(claims => { aud => ['billing', 'chatx'] })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid audience"
--- no_error_log
[error]



=== TEST 60: audience: a missing aud is refused
--- raw_request eval
::ws_handshake('/aud', ::bearer(::tok_hs()))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="invalid audience"
--- no_error_log
[error]



=== TEST 61: required claims: all present with allowed values is accepted
--- raw_request eval
::ws_session('/claim',
             ::bearer(::tok_hs(claims => { role => 'admin', tenant => 'x',
                                           level => 3,
                                           verified => JSON::PP::true })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 62: required claims: an array claim matches when one element does
--- raw_request eval
::ws_session('/claim',
             ::bearer(::tok_hs(claims => { role => ['user', 'ops'],
                                           tenant => 7, level => 3,
                                           verified => JSON::PP::true })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 63: required claims: a missing claim is refused
--- raw_request eval
::ws_handshake('/claim',
               ::bearer(::tok_hs(claims => { role => 'admin', level => 3,
                                             verified => JSON::PP::true })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="required claim missing or invalid"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: required claim missing or invalid
--- no_error_log
[error]



=== TEST 64: required claims: a wrong string value is refused
--- raw_request eval
::ws_handshake('/claim',
               ::bearer(::tok_hs(claims => { role => 'user', tenant => 'x',
                                             level => 3,
                                             verified => JSON::PP::true })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="required claim missing or invalid"
--- no_error_log
[error]



=== TEST 65: required claims: an array without an allowed element is refused
--- raw_request eval
::ws_handshake('/claim',
               ::bearer(::tok_hs(claims => { role => ['user', 'guest'],
                                             tenant => 'x', level => 3,
                                             verified => JSON::PP::true })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="required claim missing or invalid"
--- no_error_log
[error]



=== TEST 66: required claims: a wrong number is refused
--- raw_request eval
::ws_handshake('/claim',
               ::bearer(::tok_hs(claims => { role => 'admin', tenant => 'x',
                                             level => 4,
                                             verified => JSON::PP::true })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="required claim missing or invalid"
--- no_error_log
[error]



=== TEST 67: required claims: false where true is required is refused
--- raw_request eval
::ws_handshake('/claim',
               ::bearer(::tok_hs(claims => { role => 'admin', tenant => 'x',
                                             level => 3,
                                             verified => JSON::PP::false })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="required claim missing or invalid"
--- no_error_log
[error]



=== TEST 68: alg "none" is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::jwt_token(alg => 'none')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="algorithm not allowed"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: algorithm not allowed
--- no_error_log
[error]



=== TEST 69: alg "none" with a signature is refused too
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_token(alg => 'none', sign_alg => 'HS256',
                                    key => 'hs1')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="algorithm not allowed"
--- no_error_log
[error]



=== TEST 70: an algorithm not in the allow-list is refused, with a key that could verify it
--- raw_request eval
::ws_handshake('/narrow', ::bearer(::jwt_token(alg => 'RS384', key => 'rsa1')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="narrow", error="invalid_token", error_description="algorithm not allowed"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: algorithm not allowed
--- no_error_log
[error]



=== TEST 71: an unknown algorithm name is refused
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::tok_hs(header => { alg => 'HS999' },
                                 sign_alg => 'HS256')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="algorithm not allowed"
--- no_error_log
[error]



=== TEST 72: algorithm confusion: HS256 signed with the RSA public key's PEM is refused
--- raw_request eval
::ws_handshake('/confusion',
               ::bearer(::jwt_token(alg => 'HS256', kid => 'hs',
                                    secret => ::jwt_pem('rsa1'))))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="confusion", error="invalid_token", error_description="invalid signature"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: invalid signature
--- no_error_log
[error]



=== TEST 73: algorithm confusion: HS256 naming the RSA key's kid is refused
--- raw_request eval
::ws_handshake('/confusion',
               ::bearer(::jwt_token(alg => 'HS256', kid => 'rsa',
                                    secret => ::jwt_pem('rsa1'))))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="confusion", error="invalid_token", error_description="unknown key"
--- no_error_log
[error]



=== TEST 74: algorithm confusion: the PEM without its final newline as secret is refused
--- raw_request eval
(my $pem = ::jwt_pem('rsa1')) =~ s/\n\z//;
::ws_handshake('/confusion',
               ::bearer(::jwt_token(alg => 'HS256', kid => 'hs',
                                    secret => $pem)))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="confusion", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 75: algorithm confusion location: its real RS256 tokens are accepted
--- raw_request eval
::ws_session('/confusion',
             ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1', kid => 'rsa')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 76: algorithm confusion location: its real HS256 tokens are accepted
--- raw_request eval
::ws_session('/confusion',
             ::bearer(::jwt_token(alg => 'HS256', key => 'hs1', kid => 'hs')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 77: malformed: a character outside base64url
--- raw_request eval
my ($h, $p, $s) = ::jwt_segments(::tok_hs());
substr($p, 4, 1) = '+';
::ws_handshake('/ws', ::bearer("$h.$p.$s"))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: malformed token
--- no_error_log
[error]



=== TEST 78: malformed: base64 padding is not base64url
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                  header_b64 => ::b64url('{"alg":"HS256"}') . '=')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 79: malformed: the header is not JSON
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                  header => '{"alg":"HS256","typ":"JWT"')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: malformed token
--- no_error_log
[error]



=== TEST 80: malformed: the payload is not JSON
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                  payload => '{"sub":"alice",}')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: malformed token
--- no_error_log
[error]



=== TEST 81: malformed: one segment
--- raw_request eval
my ($h) = ::jwt_segments(::tok_hs());
::ws_handshake('/ws', ::bearer($h))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 82: malformed: two segments
--- raw_request eval
my ($h, $p) = ::jwt_segments(::tok_hs());
::ws_handshake('/ws', ::bearer("$h.$p"))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 83: malformed: four segments
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs() . '.' . ::b64url('more')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 84: malformed: base64url with non-zero unused bits (a second spelling of the same signature)
--- raw_request eval
my ($h, $p, $s) = ::jwt_segments(::tok_hs());
my $abc = CORE::join '', 'A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_';
my $i = index $abc, substr($s, -1);
substr($s, -1) = substr($abc, $i ^ 1, 1);
::ws_handshake('/ws', ::bearer("$h.$p.$s"))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 85: malformed: a duplicate "alg" in the header
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                  header => '{"alg":"HS256","alg":"none"}')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 86: malformed: a duplicate claim
--- raw_request eval
::ws_handshake('/ws',
               ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                  payload => '{"exp":1,"sub":"a","exp":4000000000}')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 87: malformed: a time claim that is not a number
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(claims => { exp => '4000000000' })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="malformed token"
--- no_error_log
[error]



=== TEST 88: a "crit" header (no extension is understood) is refused
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_hs(header => { crit => ['exp'] })))
--- shutdown
--- error_code: 401
--- response_headers_like
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="[a-z ]+"
--- error_log
WebSocket token refused:
--- no_error_log
[error]



=== TEST 89: a token larger than ws_gateway_auth_jwt_max_size is refused
--- raw_request eval
::ws_handshake('/small', ::bearer(::tok_hs(claims => { pad => 'x' x 1200 })))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws", error="invalid_token", error_description="token too large"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: token too large
--- no_error_log
[error]



=== TEST 90: a token within ws_gateway_auth_jwt_max_size is accepted
--- raw_request eval
::ws_session('/small', ::bearer(::tok_hs(claims => { pad => 'x' x 500 })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 91: a 32-byte secret, the shortest, verifies HS256
--- raw_request eval
::ws_session('/hs32', ::bearer(::jwt_token(alg => 'HS256', key => 'hs32')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 92: no token: 401 with a challenge without error
--- raw_request eval
::ws_handshake('/ws')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws"
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: no token
--- no_error_log
[error]



=== TEST 93: no token: another scheme than Bearer is no token
--- raw_request eval
::ws_handshake('/ws', 'Authorization: Basic dXNlcjpwYXNz')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="ws"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: no token
--- no_error_log
[error]



=== TEST 94: the Bearer scheme is case-insensitive
--- raw_request eval
::ws_session('/ws', 'authorization: bEARER ' . ::tok_hs())
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 95: token=$arg_access_token: the token in the query string
--- raw_request eval
::ws_session('/arg?x=1&access_token=' . ::tok_hs())
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 96: token=$arg_access_token: the Authorization header is not looked at
--- raw_request eval
::ws_handshake('/arg', ::bearer(::tok_hs()))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="arg"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: no token
--- no_error_log
[error]



=== TEST 97: token=$arg_access_token: an empty value is no token
--- raw_request eval
::ws_handshake('/arg?access_token=')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="arg"
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: no token
--- no_error_log
[error]



=== TEST 98: token=$cookie_token: the token in a cookie
--- raw_request eval
::ws_session('/cookie', 'Cookie: a=1; token=' . ::tok_hs() . '; b=2')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 99: token=$cookie_token: no cookie is no token; a realm with a space
--- raw_request eval
::ws_handshake('/cookie', 'Cookie: a=1')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="cookie jar"
--- no_error_log
[error]



=== TEST 100: token=$cookie_token: a bad token in the cookie is refused
--- raw_request eval
::ws_handshake('/cookie', 'Cookie: token=' . ::tok_hs(tamper => 1))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="cookie jar", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 101: token=$http_x_token: the token in a header of its own
--- raw_request eval
::ws_session('/header', 'X-Token: ' . ::tok_hs())
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 102: protocol token: accepted, the real subprotocol selected, the token entry never echoed
--- raw_request eval
::ws_session('/proto',
             'Sec-WebSocket-Protocol: access_token.' . ::tok_hs() . ', chat')
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat
--- raw_response_headers_unlike: access_token
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 103: protocol token: the only entry: accepted, no Sec-WebSocket-Protocol in the answer
--- raw_request eval
::ws_session('/proto', 'Sec-WebSocket-Protocol: access_token.' . ::tok_hs())
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 104: protocol token: in a second Sec-WebSocket-Protocol line, after the subprotocols
--- raw_request eval
::ws_session('/proto', 'Sec-WebSocket-Protocol: superchat',
             '+Sec-WebSocket-Protocol: access_token.' . ::tok_hs())
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: superchat
--- raw_response_headers_unlike: access_token
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 105: protocol token: subprotocols without a token entry is no token
--- raw_request eval
::ws_handshake('/proto', 'Sec-WebSocket-Protocol: chat')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="proto"
!Sec-WebSocket-Protocol
--- grep_error_log eval
qr/WebSocket token refused: [^,]*/
--- grep_error_log_out
WebSocket token refused: no token
--- no_error_log
[error]



=== TEST 106: protocol token: a bad token there is refused
--- raw_request eval
::ws_handshake('/proto', 'Sec-WebSocket-Protocol: chat, access_token.'
                         . ::tok_hs(claims => { exp => time - 600 }))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="proto", error="invalid_token", error_description="token expired"
!Sec-WebSocket-Protocol
--- no_error_log
[error]



=== TEST 107: the [info] line of a refused token never contains the token (Authorization)
--- log_level: info
--- raw_request eval
::ws_handshake('/ws', ::bearer(::tok_fixed(tamper => 1)))
--- shutdown
--- error_code: 401
--- error_log eval
qr/\[info\] .*WebSocket token refused: invalid signature/
--- no_error_log eval
[(::jwt_segments(::tok_fixed(tamper => 1)))[1],
 ::jwt_sig(::tok_fixed(tamper => 1)), '[error]']



=== TEST 108: the [info] line of a refused token never contains the token (query string)
--- log_level: info
--- raw_request eval
::ws_handshake('/arg?access_token=' . ::tok_fixed(claims => { nbf => 4000000000 }))
--- shutdown
--- error_code: 401
--- error_log eval
qr/\[info\] .*WebSocket token refused: token not yet valid/
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { nbf => 4000000000 })), '[error]']



=== TEST 109: the [info] line of a refused token never contains the token (protocol entry)
--- log_level: info
--- raw_request eval
::ws_handshake('/proto', 'Sec-WebSocket-Protocol: chat, access_token.'
                         . ::tok_fixed(claims => { iss => 'x' }, header => { typ => 'at+jwt' }, tamper => 1))
--- shutdown
--- error_code: 401
--- error_log eval
qr/\[info\] .*WebSocket token refused: invalid signature/
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { iss => 'x' }, header => { typ => 'at+jwt' }, tamper => 1)),
 '[error]']



=== TEST 110: an accepted token is not logged at info either
--- log_level: info
--- raw_request eval
::ws_session('/ws', ::bearer(::tok_fixed(claims => { sub => 'bob' })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'bob' })), 'WebSocket token refused',
 '[error]']



=== TEST 111: claim and header variables of an accepted token
--- raw_request eval
::ws_session('/vars',
             ::bearer(::jwt_token(alg => 'HS256', key => 'hs1', kid => undef,
                                  defaults => 0,
                                  claims => { sub => 'alice',
                                              roles => ['admin', 'ops'],
                                              level => 3,
                                              obj => { a => 1 },
                                              flag => JSON::PP::true,
                                              org => { tenant => 'acme' },
                                              exp => 4000000000 })))
--- error_code: 101
--- response_headers
X-Sub: alice
X-Roles: admin,ops
X-Level: 3
X-Obj: {"a":1}
X-Flag: true
X-Alg: HS256
X-Typ: JWT
X-Tenant: acme
X-Payload: {"exp":4000000000,"flag":true,"level":3,"obj":{"a":1},"org":{"tenant":"acme"},"roles":["admin","ops"],"sub":"alice"}
!X-Missing
!X-Kid
!X-Auth-Error
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 112: claim variables hold decoded strings
--- raw_request eval
::ws_session('/vars',
             ::bearer(::jwt_raw(alg => 'HS256', key => 'hs1',
                                header => '{"alg":"HS256","kid":"k\u0031"}',
                                payload => '{"sub":"al\u0069ce \"A\"","exp":4000000000}')))
--- error_code: 101
--- response_headers
X-Sub: alice "A"
X-Kid: k1
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 113: $ws_gateway_auth_error names the reason; no claim variables for a refused token
--- raw_request eval
::ws_handshake('/vars', ::bearer(::tok_hs(claims => { exp => time - 600 })))
--- shutdown
--- error_code: 401
--- response_headers
X-Auth-Error: expired
!X-Sub
!X-Payload
--- no_error_log
[error]



=== TEST 114: $ws_gateway_auth_error of a missing token
--- raw_request eval
::ws_handshake('/vars')
--- shutdown
--- error_code: 401
--- response_headers
X-Auth-Error: missing
--- no_error_log
[error]



=== TEST 115: access log: claims, no error, and the token hidden by $ws_gateway_redacted_request
--- raw_request eval
::ws_session('/log?a=1&access_token=' . ::tok_fixed(claims => { sub => 'carol' })
             . '&secret=s3cr3t&b=2')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- access_log
jwt sub=carol err= req="GET /log?a=1&access_token=REDACTED&secret=REDACTED&b=2 HTTP/1.1"
--- no_access_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'carol' })), 's3cr3t']
--- no_error_log
[error]



=== TEST 116: access log: a refused token's reason, and the token hidden
--- raw_request eval
::ws_handshake('/log?access_token=' . ::tok_fixed(claims => { sub => 'dave' }, tamper => 1))
--- shutdown
--- error_code: 401
--- access_log
jwt sub=- err=bad_signature req="GET /log?access_token=REDACTED HTTP/1.1"
--- no_access_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'dave' }, tamper => 1))]
--- no_error_log
[error]



=== TEST 117: ws_gateway_redact_args: every listed arg is hidden
--- raw_request eval
::ws_session('/redact?one=1111&x=1&two=2222&one=1112')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- access_log
jwt sub=- err= req="GET /redact?one=REDACTED&x=1&two=REDACTED&one=REDACTED HTTP/1.1"
--- no_access_log
1111
2222
1112
--- no_error_log
[error]



=== TEST 118: satisfy any: allow 127.0.0.1 lets a request without token in, without a challenge
--- raw_request eval
::ws_session('/any')
--- error_code: 101
--- response_headers
!WWW-Authenticate
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 119: satisfy any with deny all: no token is 401 with the challenge
--- raw_request eval
::ws_handshake('/any-deny')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="any"
--- no_error_log
[error]



=== TEST 120: satisfy any with deny all: a valid token lets the request in
--- raw_request eval
::ws_session('/any-deny', ::bearer(::tok_hs()))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 121: deny all (satisfy all): a valid token is still 403
--- raw_request eval
::ws_handshake('/deny', ::bearer(::tok_hs()))
--- shutdown
--- error_code: 403
--- response_headers
!Sec-WebSocket-Accept
!WWW-Authenticate
--- error_log
access forbidden by rule
--- no_error_log
WebSocket token refused



=== TEST 122: auth_request that allows, and a valid token: 101
--- raw_request eval
::ws_session('/authreq-ok', ::bearer(::tok_hs()))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 123: auth_request that allows, and no token: 401
--- raw_request eval
::ws_handshake('/authreq-ok')
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="areq"
--- no_error_log
[error]



=== TEST 124: auth_request that denies, and a valid token: 403
--- raw_request eval
::ws_handshake('/authreq-no', ::bearer(::tok_hs()))
--- shutdown
--- error_code: 403
--- no_error_log
[error]



=== TEST 125: the status handler counts every auth result and the 401 handshakes
--- init
my $hs = sub { ::jwt_token(alg => 'HS256', key => 'hs1', @_) };
my $req = sub {
    my ($uri, @h) = @_;
    ::ws_handshake($uri, map { "Authorization: Bearer $_" } @h)
};
$main::Sent = ::jwt_send(
    $req->('/ws', $hs->()) . ::ws_close_frame(1000),
    $req->('/ws'),
    $req->('/small', $hs->(claims => { pad => 'x' x 1200 })),
    $req->('/ws', 'a.b'),
    $req->('/ws', ::jwt_token(alg => 'none')),
    $req->('/rotation', ::jwt_token(alg => 'RS256', key => 'rsa1',
                                    kid => 'k9')),
    $req->('/ws', $hs->(tamper => 1)),
    $req->('/ws', $hs->(claims => { exp => time - 600 })),
    $req->('/ws', $hs->(claims => { nbf => time + 600 })),
    $req->('/iss', $hs->(claims => { iss => 'nobody' })),
    $req->('/aud', $hs->(claims => { aud => 'nobody' })),
    $req->('/claim', $hs->()),
);
--- request
GET /status?format=json
--- error_code: 200
--- response_body_filters eval
sub { "sent: $main::Sent\n" . ::jwt_status_summary($_[0]) }
--- response_body
sent: 101 401 401 401 401 401 401 401 401 401 401 401
auth.bad_alg=1
auth.bad_audience=1
auth.bad_claim=1
auth.bad_issuer=1
auth.bad_signature=1
auth.expired=1
auth.malformed=1
auth.missing=1
auth.not_yet_valid=1
auth.ok=1
auth.too_large=1
auth.unknown_kid=1
handshakes.accepted=1
handshakes.unauthorized=11
handshakes.forbidden=0
ends.token_expired=0
--- no_error_log
[error]



=== TEST 126: the status handler in Prometheus format has the auth and unauthorized series
--- init
$main::Sent = ::jwt_send(::ws_handshake('/ws'),
                         ::ws_handshake('/ws', 'Authorization: Bearer x.y.z'));
--- request
GET /status?format=prometheus
--- error_code: 200
--- response_body_like eval
qr/\A(?=.*^ws_gateway_auth_total\{result="missing"[^}]*\} 1$)(?=.*^ws_gateway_auth_total\{result="malformed"[^}]*\} 1$)(?=.*^ws_gateway_auth_total\{result="ok"[^}]*\} 0$)(?=.*^ws_gateway_handshakes_total\{result="unauthorized"[^}]*\} 2$)/ms
--- no_error_log
[error]



=== TEST 127: session expiry: the session gets close 4001 "token expired" when the token expires, counted as token_expired
--- init
$main::Session = ::jwt_session(
    ::ws_handshake('/expiry',
                   'Authorization: Bearer '
                   . ::jwt_token(alg => 'HS256', key => 'hs1',
                                 claims => { exp => time + 2 }))
    . ::ws_frame('text', 'a'),
    ::ws_frame('text', 'b'));
--- request
GET /status?format=json
--- response_body_filters eval
sub { $main::Session . CORE::join '', grep { /token_expired/ }
      split /^/, ::jwt_status_summary($_[0]) }
--- response_body
status: 101
text: a
text: b
close: 4001 token expired
ends.token_expired=1
--- error_log eval
qr/\[info\] .*token expired, closing WebSocket session/
--- no_error_log
[error]



=== TEST 128: session expiry on: close 1008 "token expired"
--- init
$main::Session = ::jwt_session(
    ::ws_handshake('/expiry-on',
                   'Authorization: Bearer '
                   . ::jwt_token(alg => 'HS256', key => 'hs1',
                                 claims => { exp => time + 2 }))
    . ::ws_frame('text', 'a'));
--- request
GET /status?format=json
--- response_body_filters eval
sub { $main::Session }
--- response_body
status: 101
text: a
close: 1008 token expired
--- error_log
token expired, closing WebSocket session
--- no_error_log
[error]



=== TEST 129: session expiry off (the default): the session outlives its token
--- init
$main::Session = ::jwt_session(delay => 3.1,
    ::ws_handshake('/expiry-off',
                   'Authorization: Bearer '
                   . ::jwt_token(alg => 'HS256', key => 'hs1',
                                 claims => { exp => time + 2 }))
    . ::ws_frame('text', 'a'),
    ::ws_frame('text', 'late') . ::ws_close_frame(1000));
--- request
GET /status?format=json
--- response_body_filters eval
sub { $main::Session . CORE::join '', grep { /token_expired/ }
      split /^/, ::jwt_status_summary($_[0]) }
--- response_body
status: 101
text: a
text: late
close: 1000
ends.token_expired=0
--- no_error_log
token expired, closing WebSocket session
[error]



=== TEST 130: session expiry: a session whose token has no exp is not closed
--- init
$main::Session = ::jwt_session(delay => 1.2,
    ::ws_handshake('/expiry-on',
                   'Authorization: Bearer '
                   . ::jwt_token(alg => 'HS256', key => 'hs1',
                                 claims => { exp => undef }))
    . ::ws_frame('text', 'a'),
    ::ws_frame('text', 'b') . ::ws_close_frame(1000));
--- request
GET /status?format=json
--- response_body_filters eval
sub { $main::Session }
--- response_body
status: 101
text: a
text: b
close: 1000
--- no_error_log
token expired, closing WebSocket session
[error]



=== TEST 131: the directives are inherited from the server level
--- config
    ws_gateway_auth_jwt inherited;
    ws_gateway_auth_jwt_alg ES256;
    ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ec256.pem;
    ws_gateway_auth_jwt_audience chat;

    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_session('/ws', ::bearer(::jwt_token(alg => 'ES256', key => 'ec256',
                                         claims => { aud => 'chat' })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 132: an inner "ws_gateway_auth_jwt off" turns auth off
--- config
    ws_gateway_auth_jwt outer;
    ws_gateway_auth_jwt_alg HS256;
    ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;

    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt off;
    }
--- raw_request eval
::ws_session('/ws')
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 133: config: auth on without ws_gateway_auth_jwt_alg
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt")(?=.*"ws_gateway_auth_jwt_alg").* in \S+nginx\.conf:\d+/



=== TEST 134: config: alg "none" is refused
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256 none;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_alg")(?=.*\bnone\b).* in \S+nginx\.conf:\d+/



=== TEST 135: config: an unknown alg name
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256 RS257;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_alg")(?=.*RS257).* in \S+nginx\.conf:\d+/



=== TEST 136: config: a key file that does not exist
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/nope.pem;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*ws_gateway_auth_jwt_key_file)(?=.*\Q$ENV{TEST_NGINX_JWT_DIR}\E\/nope\.pem).* in \S+nginx\.conf:\d+/



=== TEST 137: config: a PEM that does not parse
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/bad.pem;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/bad\.pem").* in \S+nginx\.conf:\d+/



=== TEST 138: config: an RSA key of 1024 bits
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1024.pem;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/rsa1024\.pem")(?=.*RSA key.*\b2048\b).* in \S+nginx\.conf:\d+/



=== TEST 139: config: an HMAC secret shorter than 32 bytes
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/short.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/short\.secret")(?=.*\b32\b).* in \S+nginx\.conf:\d+/



=== TEST 140: config: a raw secret without "hmac" is not a known format
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/hs1\.secret").* in \S+nginx\.conf:\d+/



=== TEST 141: config: a JWKS that is not valid JSON
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-bad.json;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/jwks-bad\.json").* in \S+nginx\.conf:\d+/



=== TEST 142: config: a JWKS with a private key ("d") is refused
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-private.json;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/jwks-private\.json")(?=.*\bprivate\b).* in \S+nginx\.conf:\d+/



=== TEST 143: config: a private PEM key is refused
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg ES256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/ec256.key;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/ec256\.key")(?=.*\bprivate\b).* in \S+nginx\.conf:\d+/



=== TEST 144: config: an allowed alg without any key that can verify it
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256 RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_alg")(?=.*"HS256").* in \S+nginx\.conf:\d+/



=== TEST 145: config: a session expiry code that may not be sent
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_session_expiry 1005;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_session_expiry")(?=.*1005).* in \S+nginx\.conf:\d+/



=== TEST 146: config: a session expiry reason longer than 123 bytes
--- config eval
"    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file \$TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_session_expiry 4000 " . ('r' x 124) . ";
    }
"
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_auth_jwt_session_expiry".* in \S+nginx\.conf:\d+/



=== TEST 147: config: ws_gateway_auth_jwt_max_size above 64k
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
        ws_gateway_auth_jwt_max_size 65k;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_auth_jwt_max_size".* in \S+nginx\.conf:\d+/



=== TEST 148: config: a secret too short for an allowed HS384 (RFC 7518: at least the hash size)
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256 HS384;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs32.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_alg")(?=.*"HS384").* in \S+nginx\.conf:\d+/



=== TEST 149: config: a JWKS key for encryption ("use": "enc") is skipped, and a JWKS without a signing key is an error
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-enc.json;
    }
--- must_die
--- suppress_stderr
--- error_log eval
[qr/\[warn\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/jwks-enc\.json")(?=.*skipped).* in \S+nginx\.conf:\d+/,
 qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/jwks-enc\.json").* in \S+nginx\.conf:\d+/]



=== TEST 150: config: a JWK EC point that is not on its curve
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg ES256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-offcurve.json;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"?ws_gateway_auth_jwt_key_file"?)(?=.*"\Q$ENV{TEST_NGINX_JWT_DIR}\E\/jwks-offcurve\.json").* in \S+nginx\.conf:\d+/



=== TEST 151: config: a realm with a quote
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt 'a"b';
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt")(?=.*a"b).* in \S+nginx\.conf:\d+/



=== TEST 152: a token in the query stays out of the module's other log lines (a plain request, 426)
--- raw_request eval
"GET /log?access_token=" . ::tok_fixed(claims => { sub => 'erin' })
. " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 426
--- log_level: info
--- error_log
client sent plain HTTP request to a WebSocket location
request: "GET /log?access_token=REDACTED HTTP/1.1"
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'erin' })), '[error]']



=== TEST 153: token="${arg_access_token}" is redacted too, in the access log and the error log
--- raw_request eval
::ws_handshake('/log2?access_token=' . ::tok_fixed(claims => { sub => 'fay' }, tamper => 1))
--- shutdown
--- error_code: 401
--- log_level: info
--- access_log
jwt sub=- err=bad_signature req="GET /log2?access_token=REDACTED HTTP/1.1"
--- error_log
WebSocket token refused: invalid signature
request: "GET /log2?access_token=REDACTED HTTP/1.1"
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'fay' }, tamper => 1)), '[error]']



=== TEST 154: a claim variable read before the access phase (set) is not stuck empty in the access log
--- raw_request eval
::ws_session('/early', ::bearer(::tok_hs(claims => { org => { tenant => 'acme' } })))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- access_log
early=[] late=[acme] err=[]
--- no_error_log
[error]



=== TEST 155: config: a PEM public key given as a raw HMAC secret is refused (algorithm confusion)
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_key_file")(?=.*rsa1\.pem)(?=.*PEM or JWKS file given as a raw HMAC secret).* in \S+nginx\.conf:\d+/



=== TEST 156: config: a missing alg list names the line of ws_gateway_auth_jwt, not the end of the block
--- config
    include $TEST_NGINX_JWT_DIR/noalg.conf;

    location /other {
        return 204;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_auth_jwt_alg".* in \S+\/noalg\.conf:3$/m



=== TEST 157: config: a leeway of more than 10 years
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg HS256;
        ws_gateway_auth_jwt_leeway 3651d;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/hs1.secret hmac;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_leeway")(?=.*10 years).* in \S+nginx\.conf:\d+/



=== TEST 158: config: a JWK for encryption that holds a private key is refused, not skipped
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt ws;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/jwks-enc-private.json;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] (?=.*"ws_gateway_auth_jwt_key_file")(?=.*private key).* in \S+nginx\.conf:\d+/



=== TEST 159: after an error_page redirect to a location that redacts nothing, the token stays out of both logs
--- raw_request eval
::ws_handshake('/ep?access_token=' . ::tok_fixed(claims => { sub => 'gus' }, tamper => 1))
--- shutdown
--- error_code: 404
--- log_level: info
--- error_log
WebSocket token refused: invalid signature
open()
request: "GET /ep?access_token=REDACTED HTTP/1.1"
--- access_log
req="GET /ep?access_token=REDACTED HTTP/1.1"
--- no_error_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'gus' }, tamper => 1))]
--- no_access_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'gus' }, tamper => 1))]



=== TEST 160: token=$ARG_name is the query argument too (variable names ignore case), and is redacted
--- raw_request eval
::ws_session('/argcase?access_token=' . ::tok_fixed(claims => { sub => 'hal' }))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- access_log
jwt sub=hal err= req="GET /argcase?access_token=REDACTED HTTP/1.1"
--- no_access_log eval
[::jwt_sig(::tok_fixed(claims => { sub => 'hal' }))]
--- no_error_log
[error]



=== TEST 161: one rule for a token entry: the prefix alone carries no token, and is negotiated like any name
--- raw_request eval
::ws_session('/proto-named', 'Sec-WebSocket-Protocol: access_token., access_token.'
                             . ::tok_fixed())
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: access_token.
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 162: the entry that carries the token is the one $ws_gateway_protocol_token returns, never the one selected
--- raw_request eval
::ws_session('/proto-named', 'Sec-WebSocket-Protocol: chat, access_token.'
                             . ::tok_fixed())
--- error_code: 101
--- response_headers eval
"Sec-WebSocket-Protocol: chat\nX-Proto-Token: " . ::tok_fixed() . "\n"
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 163: a token without kid is tried with the keys without a kid only: the key without one verifies
--- raw_request eval
::ws_session('/rotation-mixed', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa2')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 164: a token without kid signed by a key that has a kid is refused, though that key would verify it
--- raw_request eval
::ws_handshake('/rotation-mixed', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa1')))
--- shutdown
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="mixed", error="invalid_token", error_description="invalid signature"
--- no_error_log
[error]



=== TEST 165: an RSA key over 4096 bits fails the configuration by default
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt big;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa4100.pem kid=big;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_auth_jwt_key_file" RSA key "big" of 4100 bits is longer than "ws_gateway_auth_jwt_max_rsa_bits" 4096, for "ws_gateway_auth_jwt" in \S+nginx\.conf:\d+/



=== TEST 166: ws_gateway_auth_jwt_max_rsa_bits raises the bound: the same key verifies
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt big;
        ws_gateway_auth_jwt_alg RS256;
        ws_gateway_auth_jwt_max_rsa_bits 8192;
        ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa4100.pem;
    }
--- raw_request eval
::ws_session('/ws', ::bearer(::jwt_token(alg => 'RS256', key => 'rsa4100')))
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hello
close: 1000
--- no_error_log
[error]



=== TEST 167: ws_gateway_auth_jwt_max_rsa_bits is from 2048 to 16384
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_auth_jwt_max_rsa_bits 32768;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*value must be between 2048 and 16384 in \S+nginx\.conf:\d+/



=== TEST 168: a query token sent where the token comes from a header is redacted in the refusal's line, every argument
--- raw_request eval
::ws_handshake('/ws?token=QUERYSECRET1&x=QUERYSECRET2')
--- shutdown
--- error_code: 401
--- log_level: info
--- error_log
WebSocket token refused: no token
request: "GET /ws?token=REDACTED&x=REDACTED HTTP/1.1"
--- no_error_log
QUERYSECRET
[error]
