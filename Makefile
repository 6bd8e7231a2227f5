# ngx_ws_gateway_module
#
#   make test        install what is missing, build, run every check and suite
#   make run         serve the demo on 127.0.0.1:8080 (foreground)
#   make build       build the module against Debian's nginx-dev tree
#   make fuzz FUZZ_SECONDS=600   fuzz every target for that long
#   make bench       side-by-side benchmark: the module's echo and its relay
#                    to echo-backend against stock NGINX proxying
#                    (scripts/bench/echo-bench.sh --quick $(BENCH_FLAGS))
#   make bench-handshake   handshakes/s with no auth and with HS256, RS256
#                    and ES256 tokens (scripts/bench/handshake-bench.sh --quick)
#   make backends    the reference backends (scripts/backend) against a
#                    gateway played by the tests
#   make test-asan   the Test::Nginx suites and the end-to-end tests
#                    against the module built with AddressSanitizer and
#                    UBSan
#   make test-poll   the Test::Nginx suites under "events { use poll; }",
#                    with an NGINX built with the poll module
#   make flood       memory and fairness under abuse (t/flood/run.sh)
#
# NGINX_SRC=/path/to/nginx make build   builds against that source tree.

SHELL := /bin/bash

TOP := $(CURDIR)
MODULE := $(TOP)/build/debian/objs/ngx_ws_gateway_module.so
ASAN_DIR := $(TOP)/build/debian-asan/objs

# the Test::Nginx suites listen on 127.0.0.1 only
TEST_PORT ?= 1984
LINK_PORT ?= 1990
LINK_PORT2 ?= 1991
FUZZ_SECONDS ?= 5
PROVE_FLAGS ?=

SUITE_ENV = TEST_NGINX_SERVER_PORT=127.0.0.1:$(TEST_PORT) \
            TEST_NGINX_LINK_PORT=$(LINK_PORT) \
            TEST_NGINX_LINK_PORT2=$(LINK_PORT2) \
            TEST_NGINX_CLIENT_PORT=$(TEST_PORT) \
            TEST_NGINX_SERVROOT=$(TOP)/t/servroot

.PHONY: all deps build run test check style unit fuzz fuzz-smoke backends suites \
        e2e metrics flood test-asan test-poll bench bench-handshake clean

all: build

deps:
	@scripts/deps.sh

build:
	@scripts/build.sh >/dev/null

run: deps
	@scripts/run.sh

test: deps build style unit fuzz-smoke backends suites e2e metrics flood \
      test-asan test-poll
	@echo "make test: every check passed"

style:
	@scripts/check-style.sh

unit: build
	@scripts/unit.sh

fuzz-smoke: build
	@scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz: build
	@scripts/fuzz.sh $(FUZZ_SECONDS)

suites: build
	$(SUITE_ENV) TEST_NGINX_LOAD_MODULES=$(MODULE) \
	    prove $(PROVE_FLAGS) -It/lib -r t/

e2e: build
	@t/e2e/run.sh

# the reference backends against a gateway played by the tests
backends: build
	@python3 t/backend/test_gwlink.py
	@python3 t/backend/test_channels.py
	@python3 t/backend/test_echo_backend.py

metrics: build
	@t/metrics/run.sh

flood: build
	@t/flood/run.sh

# level-triggered event methods: Debian's nginx has neither poll nor
# select, so NGINX is built from its source (scripts/build.sh, POLL=1)
POLL_DIR := $(TOP)/build/nginx-1.22.1-poll/objs

test-poll:
	@POLL=1 scripts/build.sh >/dev/null
	$(SUITE_ENV) TEST_NGINX_EVENT_TYPE=poll \
	    TEST_NGINX_BINARY=$(POLL_DIR)/nginx \
	    TEST_NGINX_LOAD_MODULES=$(POLL_DIR)/ngx_ws_gateway_module.so \
	    prove $(PROVE_FLAGS) -It/lib t/*.t

# sanitizer reports land in the error logs (NGINX sends its stderr
# there); the suites' logs are collected so that none goes unnoticed.
# Leaks are checked in the end-to-end run, which reads its error log
# after NGINX has exited (the suites' runner reads it before).
SAN_LOG := $(TOP)/build/sanitizer.log
SAN_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

test-asan:
	@SANITIZE=1 scripts/build.sh >/dev/null
	@rm -f $(SAN_LOG)
	$(SUITE_ENV) $(SAN_ENV) TEST_NGINX_BINARY=$(ASAN_DIR)/nginx \
	    TEST_NGINX_LOAD_MODULES=$(ASAN_DIR)/ngx_ws_gateway_module.so \
	    TEST_NGINX_ERROR_LOG=$(SAN_LOG) \
	    prove $(PROVE_FLAGS) -It/lib t/*.t
	@if grep -E -A20 'runtime error|Sanitizer' $(SAN_LOG) >&2; then \
	    echo "test-asan: sanitizer reports in $(SAN_LOG)" >&2; exit 1; fi
	$(SAN_ENV) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    E2E_NGINX=$(ASAN_DIR)/nginx \
	    E2E_MODULE=$(ASAN_DIR)/ngx_ws_gateway_module.so t/e2e/run.sh

bench: build
	@make -s -C scripts/loadgen >/dev/null
	@make -s -C scripts/backend >/dev/null
	@scripts/bench/echo-bench.sh --quick $(BENCH_FLAGS)

bench-handshake: build
	@make -s -C scripts/loadgen >/dev/null
	@scripts/bench/handshake-bench.sh --quick

clean:
	rm -rf build t/servroot*
