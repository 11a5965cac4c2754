# bench/: benchmark programs (bench/bench_*.c -> build/bin/bench_*), run by
# bench/bench.sh (make bench). The top Makefile links each with every library;
# each sees the headers of what it measures.
BENCH_SRCS := $(wildcard bench/bench_*.c)
$(OBJDIR)/bench/%.o: INCS := -Ibench -Itests/lib -Icommon
$(OBJDIR)/bench/bench_wk.o: INCS := -Ibench -Istream-worker -Itests/lib -Icommon
$(OBJDIR)/bench/bench_agg.o: INCS := -Ibench -Iaggregator -Itests/lib -Icommon
$(OBJDIR)/bench/bench_daily.o: INCS := -Ibench -Iaggregator -Itests/lib -Icommon
