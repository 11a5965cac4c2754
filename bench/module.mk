# bench/: benchmark programs (bench/bench_*.c -> build/bin/bench_*), run by
# bench/bench.sh (make bench). The top Makefile links each with every library.
BENCH_SRCS := $(wildcard bench/bench_*.c)
