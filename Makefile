# Tollgate: the commands people type. CMake does the building; this file only
# strings the steps together so each command works on a fresh Debian 12 machine.
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
PREFIX ?= /usr/local

.PHONY: all setup build test run install bench indicators asan tsan fuzz format format-check clean

all: build

setup:
	scripts/setup

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Every test (unit, integration, fuzz corpora replayed), then the format check.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	scripts/check-format

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer. The Redis
# comparison runs a fifth of its 540 sequences here (about 2*10^4 operations, the same
# code paths): the main suite runs all of them, and at the whole count this stage spent
# 111 s waiting on Redis round trips, keeping CI near its 30 minutes.
# Likewise the model test runs a third of its 3,000 random sequences here (123 s of the
# stage's 715 at a load of 8 with all of them).
ASAN_REDIS_SEQUENCES ?= 108
ASAN_MODEL_SEQUENCES ?= 1000
asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	TG_REDIS_DIFF_SEQUENCES=$(ASAN_REDIS_SEQUENCES) TG_MODEL_SEQUENCES=$(ASAN_MODEL_SEQUENCES) ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The suite again under ThreadSanitizer: the loop, the store's writer and the notify
# sender share the engine's batches and the outbox. Left out: the tests that run one
# thread over pure CPU work (the model, the tokenizer, time zones, the waiters' engine on
# the memory store, the fuzz corpora), which TSan only slows down tenfold (test_model and
# test_tokenizer pass 600 s, test_waiters took 89 s) and
# which ASan already covers; and the console's browser test, whose page waits (10 s) are
# shorter than a TSan daemon's answers to a browser (the daemon's threads are the other
# daemon tests' to check).
TSAN_SKIP ?= ^(test_model|test_waiters|test_redis_ledger|test_redis_read|test_redis_paths|daemon_redis|daemon_redis_nodes|daemon_redis_charges|test_tokenizer|test_tz|tokenizer_conformance|fuzz_replay_.*|console)$$
tsan: setup
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTG_TSAN=ON >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) -E '$(TSAN_SKIP)'

run: build
	scripts/run

# bin/tollgate, lib/libtollgate.a and .so, include/tollgate*.h and lib/pkgconfig/tollgate.pc
# under $(DESTDIR)$(PREFIX); then `pkg-config --cflags --libs tollgate` builds against it
# (tests/integration/install.test.js builds examples/scenarios.c that way).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

bench: build
	$(BUILD)/bench_ledger

# Every scenario of bench/sim against the daemon; rewrites docs/indicators.md, and
# writes each scenario's JSON and HTML report (plots) into $(BUILD)/indicators/.
indicators: build
	node bench/sim/make_docs.js $(BUILD)/tollgate $(BUILD)/indicators docs/indicators.md

# Coverage-guided fuzzing of every target for FUZZ_SECONDS each (clang + libFuzzer).
fuzz: setup
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTG_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Tracked and new C files, as scripts/check-format checks them.
format:
	clang-format -i $$( (git ls-files '*.c' '*.h'; git ls-files --others --exclude-standard '*.c' '*.h') | grep -v '^tests/tokenizer/corpus/' | sort -u)

format-check:
	scripts/check-format

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
