# tests/: unit tests (tests/unit/test_*.c, cmocka), integration tests
# (tests/integration/it_*.c) and fault tests (tests/fault/ft_*.c) over the
# harness in tests/lib/. The top Makefile links each with every library.
TEST_HARNESS_SRCS := $(wildcard tests/lib/*.c)
$(eval $(call mf_lib,mftest,$(TEST_HARNESS_SRCS)))
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/it_*.c tests/fault/ft_*.c)

# $(call test_libs,name): the libraries a test links besides common, and the
# headers it sees: a unit test only its program's, an integration or fault
# test (which runs the programs as processes) only the harness.
# test_wk_roc runs the simulator's fleet through the worker's rules:
# both, in process.
test_libs = $(strip $(if $(filter test_wk_%,$(1)),wk) $(if $(filter test_agg_%,$(1)),agg) \
    $(if $(filter test_gw_% test_body,$(1)),gw) $(if $(filter test_ss_%,$(1)),ss) \
    $(if $(filter test_sim test_wk_roc,$(1)),sim) $(if $(filter test_api_%,$(1)),api) \
    $(if $(filter test_ctl_%,$(1)),ctl) \
    $(if $(filter it_% ft_% test_api_explain,$(1)),mftest))
$(OBJDIR)/tests/unit/%.o: INCS := -Icommon
$(OBJDIR)/tests/unit/test_wk_%.o: INCS := -Istream-worker -Icommon
$(OBJDIR)/tests/unit/test_agg_%.o: INCS := -Iaggregator -Icommon
$(OBJDIR)/tests/unit/test_gw_%.o: INCS := -Iingest-gw -Icommon
$(OBJDIR)/tests/unit/test_body.o: INCS := -Iingest-gw -Icommon
$(OBJDIR)/tests/unit/test_ss_%.o: INCS := -Isource-sink -Icommon
$(OBJDIR)/tests/unit/test_ctl_%.o: INCS := -Imeterctl -Icommon
$(OBJDIR)/tests/unit/test_sim.o: INCS := -Itools -Icommon
$(OBJDIR)/tests/unit/test_wk_roc.o: INCS := -Istream-worker -Itools -Icommon
$(OBJDIR)/tests/unit/test_api_%.o: INCS := -Ianalytics-api -Icommon
# The plans of the API's own statements on a filled throw-away PostgreSQL.
$(OBJDIR)/tests/unit/test_api_explain.o: INCS := -Ianalytics-api -Itests/lib -Icommon
$(OBJDIR)/tests/lib/%.o: INCS := -Itests/lib -Icommon
$(OBJDIR)/tests/integration/%.o: INCS := -Itests/lib -Icommon
$(OBJDIR)/tests/fault/%.o: INCS := -Itests/lib -Icommon

# tests/fuzz/: libFuzzer targets, built with clang into build/fuzz/ (they
# need -fsanitize=fuzzer, which gcc lacks) and run briefly by
# tests/scripts/test_fuzz.sh. `make fuzz FUZZ_SECONDS=600` runs them longer.
FUZZ_CC      ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRCS    := ingest-gw/gw_body.c common/mf_csv.c common/mf_reading.c common/mf_time.c \
                common/mf_buf.c common/mf_json.c common/mf_alloc.c common/mf_log.c common/mf_tokens.c \
                common/mf_source.c ingest-gw/gw_items.c \
                analytics-api/api_params.c analytics-api/api_route.c
FUZZ_SRCS    += common/mf_config.c meterctl/ctl_rows.c source-sink/ss_batch.c source-sink/ss_review.c
FUZZ_SECONDS ?= 10

# The parsers are compiled once (instrumented for the fuzzer, not linked with
# its main), then each target links them: compiling every parser again for
# each target took most of test_fuzz.sh's time as targets were added.
FUZZ_FLAGS   := -std=c11 -g -O1 -fno-sanitize-recover=all $(CPPFLAGS) \
                -Iingest-gw -Ianalytics-api -Imeterctl -Isource-sink -Icommon
FUZZ_OBJS    := $(patsubst %.c,build/fuzz/obj/%.o,$(FUZZ_SRCS))

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) \
	    -lcjson -lcrypto

.PHONY: fuzz-build fuzz
fuzz-build: $(FUZZ_TARGETS)
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/scripts/test_fuzz.sh
