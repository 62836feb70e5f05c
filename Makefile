# pg_cdp — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
export PGRX_HOME := $(CURDIR)/pgrx-config
PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config

.PHONY: setup install install-release demo test test-long listener cluster-start cluster-stop bench-sync bench-capture bench-segments bench-live bench-restore bench-resolve bench-registry bench-steward bench-incremental bench-value clean bench-phones

setup:
	@.ci/setup

# The project cluster is stopped first: the library is copied over in place, and a process that
# has the old one mapped (the background worker) would crash.
install: setup
	@.ci/cluster stop >/dev/null
	@.ci/install

install-release: setup
	@.ci/cluster stop >/dev/null
	@.ci/install --release

# The main job end to end: build, install, start the cluster, load demo data, show every stage.
demo: install-release listener
	@.ci/cluster restart
	@bench/demo

# Every test layer; .ci/run calls this.
test:
	@.ci/test

# The same layers with the long variants of the fault and property tests: 3,000 random change
# sequences instead of 300, 100 worker kills and server stops instead of 20.
test-long:
	@CDP_TEST_SEQUENCES=3000 CDP_TEST_CRASHES=100 .ci/test

# cdp_listen: a small consumer of the segment events (LISTEN + catch-up by event id, position in
# a file); target/release binary under tests/client
listener:
	cargo build --release --manifest-path tests/client/Cargo.toml --bin cdp_listen
	@echo "built tests/client/target/release/cdp_listen"

cluster-start:
	@.ci/cluster start

cluster-stop:
	@.ci/cluster stop

bench-sync: install-release
	@.ci/cluster restart
	@bench/sync_bench

# what capture costs the applications' own single-row writes; BENCH_STATEMENTS of each kind
bench-capture: install-release
	@.ci/cluster restart
	@bench/capture_bench $(or $(BENCH_STATEMENTS),20000)

# 20 segments over BENCH_PROFILES profiles (default 1M): define, full refresh, worker step, and
# the same rules as plain INSERT ... SELECT ... EXCEPT statements
bench-segments: install-release
	@.ci/cluster restart
	@bench/segments_bench $(or $(BENCH_PROFILES),1000000)

# commit -> NOTIFY under 100 and 500 one-row transactions a second; BENCH_PEOPLE (default 485000,
# ~1M records)
bench-live: install-release
	@.ci/cluster restart
	@bench/live_bench $(or $(BENCH_PEOPLE),485000)

# BENCH_PEOPLE=485000 for ~1M channel records; BENCH_THRESHOLDS="22.5 24" adds runs at other
# values of cdp.match_threshold
bench-resolve: install-release
	@.ci/cluster restart
	@CDP_THRESHOLDS="$(BENCH_THRESHOLDS)" bench/resolve_bench $(or $(BENCH_PEOPLE),100000)

# a data steward deciding 4 rounds of 50 pairs of cdp.review_queue (from the truth table)
bench-steward: install-release
	@.ci/cluster restart
	@bench/steward_bench $(or $(BENCH_PEOPLE),100000)

# identity resolution on registry-style data (hand-typed ids, no e-mail or phone), 5k and 100k
bench-registry: install-release
	@.ci/cluster restart
	@bench/registry_bench $(or $(BENCH_RECORDS),5000)
	@bench/registry_bench 100000

# phone normalisation against libphonenumber (the phonenumber crate) on 503 numbers of 44
# countries written from the numbering plans; no PostgreSQL
bench-phones:
	@bench/phone_eval/run --iters 20

# BENCH_PEOPLE=485000 for ~1M channel records; BENCH_CHANGES source rows changed
bench-incremental: install-release
	@.ci/cluster restart
	@bench/incremental_bench $(or $(BENCH_PEOPLE),100000) $(or $(BENCH_CHANGES),1000)

# A burst of changes right after the first full resolve, left to the worker: per-batch times
bench-burst: install-release
	@.ci/cluster restart
	@bench/burst_bench $(or $(BENCH_PEOPLE),485000) $(or $(BENCH_CHANGES),10000)

# pg_dump and pg_restore of a resolved database (default ~1M records) against the source tables alone
bench-restore: install-release
	@.ci/cluster restart
	@bench/restore_bench $(or $(BENCH_PEOPLE),485000)

# BENCH_PEOPLE / BENCH_ORDERS_PER_PERSON: default 1M people, ~10M orders
bench-value: install-release
	@.ci/cluster restart
	@bench/value_bench $(or $(BENCH_PEOPLE),1000000) $(or $(BENCH_ORDERS_PER_PERSON),11.6)

clean:
	-@.ci/cluster destroy
	cargo clean
