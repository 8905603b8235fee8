# SPDX-License-Identifier: MIT
# The two commands: `make run` and `make test`. Both install what is missing (Debian packages
# and the test's npm packages), configure, build, and then run the hub or the suite.
# Everything else is here for convenience: see README.md.

PRESET      ?= release
BUILD       := build/$(PRESET)
JOBS        ?= $(shell nproc)
PORT        ?= 8080
DB          ?= switchboard.db
CTEST_ARGS  ?=

# Debian packages the build, the tests and the console tests need.
DEB_PKGS := build-essential cmake pkg-config libwebsockets-dev libwebsockets-evlib-ev libev-dev libcurl4-openssl-dev \
	libxml2-dev libsqlite3-dev sqlite3 libyajl-dev libsodium-dev libcmocka-dev libnats-dev libjemalloc-dev \
	nats-server chromium clang openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps node-deps build run test test-asan asan release debug clean bench valgrind \
	fuzz crash soak

all: build

# Installs only what is missing, so a second run costs a dpkg query.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if ! command -v node >/dev/null 2>&1; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

node-deps: deps
	@if [ ! -f tests/node_modules/.sb-stamp ] || [ tests/package-lock.json -nt tests/node_modules/.sb-stamp ]; then \
		cd tests && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.sb-stamp; \
	fi

build: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: PRESET = release
run: build
	./$(BUILD)/hubd serve --demo --db $(DB) --listen 127.0.0.1:$(PORT) --web-root web

test: node-deps build
	ctest --test-dir $(BUILD) --output-on-failure -j 2 $(CTEST_ARGS)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan asan: node-deps
	$(MAKE) --no-print-directory PRESET=asan build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build/asan --output-on-failure -j 2 $(CTEST_ARGS)

# The unit tests under memcheck, and the integration tests with every hubd under valgrind
# (slow: argon2 and sqlite under emulation). Any error or definite leak fails the run.
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --track-fds=no
valgrind: node-deps
	$(MAKE) --no-print-directory PRESET=debug build
	@command -v valgrind >/dev/null || $(SUDO) apt-get install -y -qq valgrind
	ctest --test-dir build/debug -L unit --output-on-failure \
		--overwrite MemoryCheckCommand=/usr/bin/valgrind \
		--overwrite "MemoryCheckCommandOptions=--error-exitcode=99 --leak-check=full" -T memcheck
	SB_HUBD_PREFIX="$(VALGRIND)" ctest --test-dir build/debug -L integration --output-on-failure \
		-E 'crash|workers' $(CTEST_ARGS)

# A libFuzzer campaign (clang) of FUZZ_SECONDS per target; prints execs, coverage, crashes.
FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# The long forms of the kill -9 harness (K restarts) and of the soak (60 minutes).
K ?= 500
crash: node-deps build
	HUBD=$(BUILD)/hubd SB_WEB_ROOT=web node tests/crash/crash.mjs --k $(K)
soak: node-deps build
	ulimit -n 20000; HUBD=$(BUILD)/hubd SB_WEB_ROOT=web node tests/reliability/soak.mjs --minutes 60

bench: PRESET = release
bench: build
	bench/run

clean:
	rm -rf build
