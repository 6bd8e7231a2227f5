package t::WsGateway;

# Shared setup for the ngx_ws_gateway_module suites, in place of
# "use Test::Nginx::Socket": loads the module, and the frame helpers of
# t::WsFrames (::ws_handshake, ::ws_frame, ::ws_decode, ...).
#
# The module is loaded from $TEST_NGINX_LOAD_MODULES, or from the Debian
# build in build/debian when that variable is not set.  The runner reads
# its environment when it is loaded, hence the BEGIN block.

BEGIN {
    require Cwd;

    $ENV{TEST_NGINX_LOAD_MODULES}
        ||= Cwd::getcwd() . '/build/debian/objs/ngx_ws_gateway_module.so';
}

use Test::Nginx::Socket -Base;
use t::WsFrames;

1;
