# tests/: unit tests (tests/unit/test_*.c, cmocka) and integration tests
# (tests/integration/it_*.c, tests/fault/ft_*.c) over the harness in
# tests/lib/. Every test binary links every library; the linker keeps only
# what it uses.
TEST_HARNESS_SRCS := $(wildcard tests/lib/*.c)
$(eval $(call mf_lib,mftest,$(TEST_HARNESS_SRCS)))

TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/it_*.c tests/fault/ft_*.c)
TEST_BINS := $(patsubst %.c,$(TESTDIR)/%,$(notdir $(TEST_SRCS)))
ALL_TEST_LIBS = $(foreach l,$(LIBS) mftest mfcommon,$(LIBDIR)/lib$(l).a)

define mf_test
$(TESTDIR)/$(basename $(notdir $(1))): $(OBJDIR)/$(1:.c=.o) $$(ALL_TEST_LIBS)
	@mkdir -p $$(@D)
	@echo "  LD    $$@"
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$< $$(ALL_TEST_LIBS) -lcmocka -lcurl $(LDLIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call mf_test,$(t))))

.PHONY: tests
tests: $(TEST_BINS) $(PROGRAMS)
