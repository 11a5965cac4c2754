# bench/: benchmark programs (bench/bench_*.c -> build/bin/bench_*), run by
# bench/bench.sh (make bench). They link every library, like the tests.
BENCH_SRCS := $(wildcard bench/bench_*.c)
define mf_bench
PROGRAMS += $(BINDIR)/$(basename $(notdir $(1)))
$(BINDIR)/$(basename $(notdir $(1))): $(OBJDIR)/$(1:.c=.o) $$(ALL_TEST_LIBS)
	@mkdir -p $$(@D)
	@echo "  LD    $$@"
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$< $$(ALL_TEST_LIBS) -lcurl $(LDLIBS)
endef
$(foreach b,$(BENCH_SRCS),$(eval $(call mf_bench,$(b))))
