package t::WsJwt;

# Keys and JSON Web Tokens for the token-auth suites (t/004-auth.t,
# t/005-origin.t), made with Perl core, Digest::SHA, JSON::PP and the
# openssl command only.  "use t::WsJwt;" after "use t::WsGateway;".
#
# At load, a temporary directory (removed at exit) gets a fixed set of
# keys; $TEST_NGINX_JWT_DIR names it, so that configurations can say
#     ws_gateway_auth_jwt_key_file $TEST_NGINX_JWT_DIR/rsa1.pem;
#
#   rsa1 rsa2      RSA 2048: rsa1.key (private PEM), rsa1.pem (public PEM)
#   rsa1024        RSA 1024 (too small: a configuration error)
#   ec256 ec384 ec521   EC P-256, P-384, P-521
#   ed1            Ed25519
#   hs1 hs2        HMAC secrets of 64 bytes: hs1.secret, hs2.secret (with
#                  a final "\n", which is not part of the secret)
#   hs32           a 32-byte HMAC secret (enough for HS256 only)
#   short          a 31-byte HMAC secret, short.secret
#   rsa1.crt       a self-signed certificate of rsa1
#   bad.pem        a PEM public key whose base64 is broken
#
# The helpers are installed in main:: (eval sections run in other
# packages: call them as ::name):
#
#   ::jwt_token(alg => 'RS256', key => 'rsa1', claims => {...},
#               header => {...}, kid => 'k1', secret => $bytes,
#               signature => $bytes, tamper => 1, defaults => 0,
#               sign_alg => 'HS256')
#       A compact JWS.  The claims are merged over the defaults
#       {sub => "alice", iat => now, exp => now + 6 h} (defaults => 0:
#       none), the header over {alg => ALG, typ => "JWT"}; a member set to
#       undef is removed, a CODE value is called at signing time.
#       key names a key above (hs* for HS*, rsa* for RS*/PS*, ec* for ES*,
#       ed1 for EdDSA); secret => bytes signs HS* with those bytes instead.
#       signature replaces the signature, tamper => 1 flips one bit of it;
#       sign_alg signs with another algorithm than the header names (alg
#       "none" without key or secret gets an empty signature).
#   ::jwt_raw(alg => ..., key => ..., header => TEXT, payload => TEXT)
#       A token from raw JSON text (malformed JSON, duplicate members...),
#       signed; header_b64 / payload_b64 give raw segments instead, and
#       signature / signature_b64 a raw signature.
#   ::jwt_sig($token), ::jwt_segments($token), ::b64url($bytes),
#   ::b64url_decode($text)
#   ::jwt_pem('rsa1')      the public PEM text of a key
#   ::jwt_dir()            $TEST_NGINX_JWT_DIR
#   ::jwks_json(SPEC, ...) a JWKS: each SPEC is a key name (its kid is the
#       name) or {key => NAME, kid => ID (undef: none), private => 1 (add
#       the private members), extra => {...}}
#   ::jwk(SPEC)            one JWK, as a hash
#   ::jwt_write_file(NAME, TEXT)  writes a file in the key directory,
#       returns its path (for .t files' own fixtures, at load time)
#   ::jwt_verify(alg => ..., key => ..., token => ...)  checks a token
#       with openssl (self-tests)
#   ::jwt_send(REQUEST, ...)  for "--- init": sends each raw request on a
#       connection of its own to the running nginx, reads until the server
#       closes (at most 5 s), and returns the statuses, " "-separated
#   ::jwt_session(WRITE, ...)  for "--- init": one connection to the
#       running nginx; writes each WRITE, reading for 0.5 s between
#       them, reads until the server closes (at most 6 s), and
#       returns "status: NNN" and the server's frames as ::ws_decode lines.
#       For short-lived tokens: the eval sections of every block run when
#       the file is loaded (and the real runner may take seconds to
#       restart nginx), while "--- init" runs once nginx is up.
#       ::jwt_session(delay => 2.2, WRITE, ...) sets the delay.
#   ::jwt_status_summary($json)  a --- response_body_filters for the
#       status handler's JSON: the totals' "auth.NAME=N" lines (every
#       member), "handshakes.NAME=N" for accepted, unauthorized and
#       forbidden, and "ends.token_expired=N" ("none" when absent)
#   ::jwt_count_checks(blocks())  as ::ws_count_checks, also counting
#       access_log, no_access_log, response_headers_like and
#       raw_response_headers_like

use strict;
use warnings;

use Digest::SHA ();
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Time::HiRes ();

our $DIR = File::Temp::tempdir('ws-jwt-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $DIR;

$ENV{TEST_NGINX_JWT_DIR} = $DIR;

our %KEYS;        # name => { type, bits|curve, key, pem, secret }

my %curves = (
    ec256 => { curve => 'P-256', width => 32, crv => 'P-256' },
    ec384 => { curve => 'P-384', width => 48, crv => 'P-384' },
    ec521 => { curve => 'P-521', width => 66, crv => 'P-521' },
);

my %hash_of = (256 => 'sha256', 384 => 'sha384', 512 => 'sha512');

my $JSON = JSON::PP->new->canonical(1);

sub _run {
    my (@cmd) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$DIR/openssl.err";
        exec @cmd or POSIX::_exit(127);
    }

    waitpid $pid, 0;

    if ($?) {
        my $err = _slurp("$DIR/openssl.err");
        die "t::WsJwt: @cmd failed ($?): $err";
    }

    return;
}

sub _capture {
    my (@cmd) = @_;

    open my $fh, '-|', @cmd or die "t::WsJwt: @cmd: $!";
    local $/;
    my $out = <$fh>;
    close $fh or die "t::WsJwt: @cmd failed ($?)";

    return $out;
}

sub _slurp {
    my ($path) = @_;

    open my $in, '<:raw', $path or return '';
    local $/;
    my $s = <$in>;
    return defined $s ? $s : '';
}

sub _spew {
    my ($path, $data) = @_;

    open my $out, '>:raw', $path or die "t::WsJwt: $path: $!";
    print {$out} $data;
    close $out or die "t::WsJwt: $path: $!";
    chmod 0644, $path;

    return $path;
}

sub jwt_write_file {
    my ($name, $text) = @_;

    die "t::WsJwt: bad file name $name" if $name =~ m{/|^\.};

    return _spew("$DIR/$name", $text);
}

sub jwt_dir { return $DIR }


# ---------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------

sub _genkey {
    my ($name, @opts) = @_;

    _run('openssl', 'genpkey', @opts, '-out', "$DIR/$name.key");
    _run('openssl', 'pkey', '-in', "$DIR/$name.key", '-pubout',
         '-out', "$DIR/$name.pem");
    chmod 0644, "$DIR/$name.key", "$DIR/$name.pem";

    return;
}

sub _make_keys {
    for my $k ([rsa1 => 2048], [rsa2 => 2048], [rsa1024 => 1024]) {
        _genkey($k->[0], '-algorithm', 'RSA',
                '-pkeyopt', "rsa_keygen_bits:$k->[1]");
        $KEYS{$k->[0]} = { type => 'rsa', bits => $k->[1] };
    }

    for my $name (sort keys %curves) {
        _genkey($name, '-algorithm', 'EC',
                '-pkeyopt', "ec_paramgen_curve:$curves{$name}{curve}",
                '-pkeyopt', 'ec_param_enc:named_curve');
        $KEYS{$name} = { type => 'ec', %{ $curves{$name} } };
    }

    _genkey('ed1', '-algorithm', 'ED25519');
    $KEYS{ed1} = { type => 'ed25519' };

    for my $name (keys %KEYS) {
        $KEYS{$name}{key} = "$DIR/$name.key";
        $KEYS{$name}{pem} = "$DIR/$name.pem";
    }

    # printable, a final "\n" in the file; 64 bytes verify every HS*
    # (RFC 7518, 3.2: at least the size of the hash), 32 bytes only HS256
    for my $k ([hs1 => 64], [hs2 => 64], [hs32 => 32]) {
        my ($name, $len) = @$k;
        my $secret = substr(Digest::SHA::sha512_base64("ws-jwt $name $$"),
                            0, $len);
        _spew("$DIR/$name.secret", "$secret\n");
        $KEYS{$name} = { type => 'hmac', secret => $secret,
                         file => "$DIR/$name.secret" };
    }

    _spew("$DIR/short.secret", ('s' x 31) . "\n");
    $KEYS{short} = { type => 'hmac', secret => 's' x 31,
                     file => "$DIR/short.secret" };

    _run('openssl', 'req', '-x509', '-new', '-key', "$DIR/rsa1.key",
         '-subj', '/CN=ws-jwt test', '-days', '2', '-out', "$DIR/rsa1.crt");
    chmod 0644, "$DIR/rsa1.crt";

    my $pem = _slurp("$DIR/rsa1.pem");
    $pem =~ s/^(-----BEGIN PUBLIC KEY-----\n.{10})./$1*/;
    $pem =~ s/^(-----BEGIN PUBLIC KEY-----\n)(.{20})/$1$2!!/;
    _spew("$DIR/bad.pem", $pem);

    return;
}


# ---------------------------------------------------------------------------
# base64url, JSON
# ---------------------------------------------------------------------------

sub b64url {
    my ($bytes) = @_;

    my $s = MIME::Base64::encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;

    return $s;
}

sub b64url_decode {
    my ($s) = @_;

    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);

    return MIME::Base64::decode_base64($s);
}

sub _json {
    my ($v) = @_;

    return $JSON->encode($v);
}


# ---------------------------------------------------------------------------
# signatures
# ---------------------------------------------------------------------------

# DER ECDSA-Sig-Value to the r||s of JWS, each $w bytes
sub _der_to_raw {
    my ($der, $w) = @_;

    my $pos = 0;
    my $byte = sub { return ord substr($der, $pos++, 1) };
    my $len = sub {
        my $l = $byte->();
        return $l if $l < 0x80;
        my $n = $l & 0x7f;
        $l = 0;
        $l = $l * 256 + $byte->() for 1 .. $n;
        return $l;
    };

    die "t::WsJwt: not a DER sequence" unless $byte->() == 0x30;
    $len->();

    my $raw = '';

    for (1 .. 2) {
        die "t::WsJwt: not a DER integer" unless $byte->() == 0x02;
        my $l = $len->();
        my $int = substr($der, $pos, $l);
        $pos += $l;
        $int =~ s/^\x00+//;
        die "t::WsJwt: integer too long" if length $int > $w;
        $raw .= ("\x00" x ($w - length $int)) . $int;
    }

    return $raw;
}

# r||s to DER, for verifying with openssl
sub _raw_to_der {
    my ($raw) = @_;

    my $w = length($raw) / 2;
    my $body = '';

    for my $int (substr($raw, 0, $w), substr($raw, $w)) {
        $int =~ s/^\x00+//;
        $int = "\x00" . $int if !length $int || ord($int) & 0x80;
        $body .= "\x02" . _der_len(length $int) . $int;
    }

    return "\x30" . _der_len(length $body) . $body;
}

sub _der_len {
    my ($l) = @_;

    return chr $l if $l < 0x80;
    return "\x81" . chr $l if $l < 0x100;
    return "\x82" . pack('n', $l);
}

my $Seq = 0;

sub _sign {
    my ($alg, $key, $input, $secret) = @_;

    my ($family, $bits) = $alg =~ /^(HS|RS|PS|ES)(256|384|512)$/;

    if ($alg eq 'EdDSA') {
        $family = 'Ed';
    }

    die "t::WsJwt: cannot sign with \"$alg\"" unless $family;

    if ($family eq 'HS') {
        unless (defined $secret) {
            my $k = $KEYS{$key // ''};
            die "t::WsJwt: \"$key\" is not an HMAC key"
                unless $k && $k->{type} eq 'hmac';
            $secret = $k->{secret};
        }

        no strict 'refs';
        return &{"Digest::SHA::hmac_sha$bits"}($input, $secret);
    }

    my $k = $KEYS{$key // ''} or die "t::WsJwt: no key \"$key\"";

    my $in = "$DIR/in." . $$ . '.' . $Seq++;
    my $out = "$in.sig";
    _spew($in, $input);

    if ($family eq 'Ed') {
        die "t::WsJwt: \"$key\" is not an Ed25519 key"
            unless $k->{type} eq 'ed25519';
        _run('openssl', 'pkeyutl', '-sign', '-inkey', $k->{key}, '-rawin',
             '-in', $in, '-out', $out);

    } else {
        my @opts;

        if ($family eq 'PS') {
            @opts = ('-sigopt', 'rsa_padding_mode:pss',
                     '-sigopt', 'rsa_pss_saltlen:digest');
        }

        _run('openssl', 'dgst', "-$hash_of{$bits}", '-sign', $k->{key},
             @opts, '-out', $out, $in);
    }

    my $sig = _slurp($out);
    unlink $in, $out;

    if ($family eq 'ES') {
        die "t::WsJwt: \"$key\" is not an EC key" unless $k->{type} eq 'ec';
        $sig = _der_to_raw($sig, $k->{width});
    }

    return $sig;
}

sub _merge {
    my ($base, $over) = @_;

    my %h = %$base;

    for my $name (keys %{ $over || {} }) {
        if (defined $over->{$name}) {
            $h{$name} = $over->{$name};

        } else {
            delete $h{$name};
        }
    }

    for my $name (keys %h) {
        $h{$name} = $h{$name}->() if ref $h{$name} eq 'CODE';
    }

    return \%h;
}

sub _finish {
    my ($o, $input) = @_;

    my $sig;

    if (defined $o->{signature_b64}) {
        return "$input.$o->{signature_b64}";
    }

    if (defined $o->{signature}) {
        $sig = $o->{signature};

    } elsif ($o->{alg} eq 'none' && !defined $o->{key}
             && !defined $o->{secret})
    {
        $sig = '';

    } else {
        $sig = _sign($o->{sign_alg} // $o->{alg}, $o->{key}, $input,
                     $o->{secret});
    }

    if ($o->{tamper}) {
        substr($sig, length($sig) - 1, 1)
            = chr(ord(substr($sig, length($sig) - 1, 1)) ^ 0x01);
    }

    return $input . '.' . b64url($sig);
}

sub jwt_token {
    my (%o) = @_;

    die "t::WsJwt: jwt_token needs alg" unless defined $o{alg};

    my $now = time;

    my $defaults = (exists $o{defaults} && !$o{defaults})
                   ? {}
                   : { sub => 'alice', iat => $now, exp => $now + 6 * 3600 };

    my $header = _merge({ alg => $o{alg}, typ => 'JWT',
                          defined $o{kid} ? (kid => $o{kid}) : () },
                        $o{header});

    my $claims = _merge($defaults, $o{claims});

    my $input = b64url(_json($header)) . '.' . b64url(_json($claims));

    return _finish(\%o, $input);
}

sub jwt_raw {
    my (%o) = @_;

    my $h = defined $o{header_b64} ? $o{header_b64}
            : b64url(defined $o{header} ? $o{header}
                     : _json({ alg => $o{alg}, typ => 'JWT' }));

    my $p = defined $o{payload_b64} ? $o{payload_b64}
            : b64url(defined $o{payload} ? $o{payload}
                     : _json({ sub => 'alice', exp => time + 3600 }));

    return _finish(\%o, "$h.$p");
}

sub jwt_segments {
    my ($token) = @_;

    return split /\./, $token, -1;
}

sub jwt_sig {
    my ($token) = @_;

    return (jwt_segments($token))[2];
}

sub jwt_pem {
    my ($name) = @_;

    my $k = $KEYS{$name} or die "t::WsJwt: no key \"$name\"";

    return _slurp($k->{pem});
}


# ---------------------------------------------------------------------------
# JWK
# ---------------------------------------------------------------------------

# hex dumps of "openssl pkey -text -noout", by label
sub _key_text {
    my ($text) = @_;

    my (%f, $label);

    for my $line (split /\n/, $text) {
        if ($line =~ /^(\w+):\s*(.*)$/) {
            $label = $1;
            my $rest = $2;

            if ($rest =~ /^(\d+) \(0x[0-9a-f]+\)$/) {
                $f{$label} = $1;
                undef $label;

            } else {
                $f{$label} = '';
            }

        } elsif (defined $label && $line =~ /^\s+([0-9a-f:]+)\s*$/) {
            (my $hex = $1) =~ s/://g;
            $f{$label} .= $hex;

        } else {
            undef $label;
        }
    }

    return \%f;
}

sub _int_bytes {
    my ($hex, $w) = @_;

    my $b = pack('H*', $hex);
    $b =~ s/^\x00+//;
    $b = ("\x00" x ($w - length $b)) . $b if $w && length $b < $w;

    return $b;
}

sub _uint_bytes {
    my ($n) = @_;

    my $b = '';

    while ($n > 0) {
        $b = chr($n % 256) . $b;
        $n = int($n / 256);
    }

    return $b;
}

sub jwk {
    my ($spec) = @_;

    $spec = { key => $spec } unless ref $spec;

    my $name = $spec->{key};
    my $k = $KEYS{$name} or die "t::WsJwt: no key \"$name\"";

    my %jwk;

    if ($k->{type} eq 'hmac') {
        %jwk = (kty => 'oct', k => b64url($k->{secret}));

    } else {
        my $priv = _key_text(_capture('openssl', 'pkey', '-in', $k->{key},
                                      '-text', '-noout'));

        if ($k->{type} eq 'rsa') {
            %jwk = (kty => 'RSA',
                    n => b64url(_int_bytes($priv->{modulus})),
                    e => b64url(_uint_bytes($priv->{publicExponent})));

            if ($spec->{private}) {
                $jwk{d} = b64url(_int_bytes($priv->{privateExponent}));
                $jwk{p} = b64url(_int_bytes($priv->{prime1}));
                $jwk{q} = b64url(_int_bytes($priv->{prime2}));
                $jwk{dp} = b64url(_int_bytes($priv->{exponent1}));
                $jwk{dq} = b64url(_int_bytes($priv->{exponent2}));
                $jwk{qi} = b64url(_int_bytes($priv->{coefficient}));
            }

        } elsif ($k->{type} eq 'ec') {
            my $w = $k->{width};
            my $pub = _int_bytes($priv->{pub});
            die "t::WsJwt: EC point of $name is not uncompressed"
                unless length $pub == 2 * $w + 1 && ord $pub == 4;

            %jwk = (kty => 'EC', crv => $k->{crv},
                    x => b64url(substr($pub, 1, $w)),
                    y => b64url(substr($pub, 1 + $w, $w)));

            $jwk{d} = b64url(_int_bytes($priv->{priv}, $w))
                if $spec->{private};

        } else {
            %jwk = (kty => 'OKP', crv => 'Ed25519',
                    x => b64url(_int_bytes($priv->{pub}, 32)));

            $jwk{d} = b64url(_int_bytes($priv->{priv}, 32))
                if $spec->{private};
        }
    }

    my $kid = exists $spec->{kid} ? $spec->{kid} : $name;
    $jwk{kid} = $kid if defined $kid;

    %jwk = (%jwk, %{ $spec->{extra} || {} });

    return \%jwk;
}

sub jwks_json {
    my (@specs) = @_;

    return _json({ keys => [ map { jwk($_) } @specs ] }) . "\n";
}


# ---------------------------------------------------------------------------
# self-checks
# ---------------------------------------------------------------------------

# verifies a token with openssl; true when good
sub jwt_verify {
    my (%o) = @_;

    my ($h, $p, $s) = jwt_segments($o{token});
    my $input = "$h.$p";
    my $sig = b64url_decode($s);
    my $alg = $o{alg};

    if ($alg =~ /^HS(\d+)$/) {
        no strict 'refs';
        my $secret = $o{secret} // $KEYS{ $o{key} }{secret};
        return &{"Digest::SHA::hmac_sha$1"}($input, $secret) eq $sig;
    }

    my $k = $KEYS{ $o{key} };
    my $pub = $o{pem} // $k->{pem};
    my $in = "$DIR/vin." . $Seq++;
    my $sigf = "$in.sig";

    _spew($in, $input);

    my @cmd;

    if ($alg eq 'EdDSA') {
        _spew($sigf, $sig);
        @cmd = ('openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', $pub,
                '-rawin', '-in', $in, '-sigfile', $sigf);

    } else {
        my ($family, $bits) = $alg =~ /^(\w\w)(\d+)$/;

        if ($family eq 'ES') {
            return 0 unless length $sig == 2 * $k->{width};
            $sig = _raw_to_der($sig);
        }

        _spew($sigf, $sig);

        @cmd = ('openssl', 'dgst', "-$hash_of{$bits}", '-verify', $pub,
                ($family eq 'PS'
                 ? ('-sigopt', 'rsa_padding_mode:pss',
                    '-sigopt', 'rsa_pss_saltlen:digest')
                 : ()),
                '-signature', $sigf, $in);
    }

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }

    waitpid $pid, 0;
    my $ok = $? == 0;
    unlink $in, $sigf;

    return $ok;
}


# ---------------------------------------------------------------------------
# requests for --- init, and the status output
# ---------------------------------------------------------------------------

sub jwt_send {
    my (@requests) = @_;

    no warnings 'once';

    my $port = Test::Nginx::Util::server_port_for_client();
    my @status;

    for my $req (@requests) {
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $port,
                                         Proto => 'tcp');
        unless ($sock) {
            push @status, 'connect-failed';
            next;
        }

        syswrite($sock, $req);

        # a response to a refused handshake may leave the connection
        # open (keep-alive): half-close after the last write unless the
        # request continues with frames
        shutdown($sock, 1) unless $req =~ /\r\n\r\n./s;

        my $resp = '';
        my $deadline = Time::HiRes::time() + 5;
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;

        while (Time::HiRes::time() < $deadline) {
            my $n = select(my $rout = $rin, undef, undef, 0.05);
            next unless $n;
            $n = sysread($sock, $resp, 65536, length $resp);
            last unless $n;
        }

        close $sock;

        push @status, $resp =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 'no-response';
    }

    return join ' ', @status;
}

sub jwt_session {
    my (@writes) = @_;

    my $delay = 0.5;

    if (@writes && defined $writes[0] && $writes[0] eq 'delay') {
        (undef, $delay, @writes) = @writes;
    }

    no warnings 'once';

    my $port = Test::Nginx::Util::server_port_for_client();

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp')
        or return "connect to $port: $!\n";

    my $resp = '';
    my $rin = '';
    vec($rin, fileno($sock), 1) = 1;

    my $read = sub {
        my ($until) = @_;

        while (Time::HiRes::time() < $until) {
            my $n = select(my $rout = $rin, undef, undef, 0.02);
            next unless $n;
            $n = sysread($sock, $resp, 65536, length $resp);
            return 0 unless $n;
        }

        return 1;
    };

    my $open = 1;

    for my $i (0 .. $#writes) {
        syswrite($sock, $writes[$i]);
        last if $i == $#writes;
        $open = $read->(Time::HiRes::time() + $delay);
        last unless $open;
    }

    $read->(Time::HiRes::time() + 6) if $open;

    close $sock;

    my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    $resp =~ s/\A.*?\r\n\r\n//s;

    return 'status: ' . ($status // 'none') . "\n" . main::ws_decode($resp);
}

sub jwt_status_summary {
    my ($body) = @_;

    my $j = eval { JSON::PP::decode_json($body) };
    return "not JSON: $@" unless $j;

    my $t = $j->{totals} || {};
    my @out;

    for my $name (sort keys %{ $t->{auth} || {} }) {
        push @out, "auth.$name=$t->{auth}{$name}";
    }

    for my $name (qw(accepted unauthorized forbidden)) {
        push @out, "handshakes.$name="
                   . ($t->{handshakes}{$name} // 'none');
    }

    push @out, 'ends.token_expired=' . ($t->{ends}{token_expired} // 'none');

    return join '', map { "$_\n" } @out;
}

sub jwt_count_checks {
    my (@blocks) = @_;

    my $n = main::ws_count_checks(@blocks);

    for my $block (@blocks) {
        for my $section (qw(access_log no_access_log)) {
            my $v = $block->$section;
            next unless defined $v;
            $n += ref $v eq 'ARRAY' ? grep({ defined } @$v)
                  : ref $v ? 1
                  : scalar(() = $v =~ /^.*\S.*$/mg);
        }

        my $v = $block->response_headers_like;
        $n += () = $v =~ /^[ \t]*\S.*$/mg if defined $v;

        $n += 1 if defined $block->raw_response_headers_like;
    }

    return $n;
}


_make_keys();

{
    no strict 'refs';

    for my $name (qw(jwt_token jwt_raw jwt_sig jwt_segments jwt_pem
                     jwt_dir jwt_write_file jwk jwks_json jwt_verify
                     jwt_send jwt_session jwt_status_summary
                     jwt_count_checks b64url b64url_decode))
    {
        *{"main::$name"} = \&{$name};
    }
}

1;
