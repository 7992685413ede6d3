# The two commands of the README, plus the benchmarks.
.PHONY: setup main test bench

setup:
	./scripts/setup.sh

main: setup
	./scripts/main_job.sh

test: setup
	./scripts/test.sh

bench: setup
	./scripts/benchmarks.sh
