# tests/: unit tests (tests/unit/test_*.c, cmocka), integration tests
# (tests/integration/it_*.c) and fault tests (tests/fault/ft_*.c) over the
# harness in tests/lib/. The top Makefile links each with every library.
TEST_HARNESS_SRCS := $(wildcard tests/lib/*.c)
$(eval $(call mf_lib,mftest,$(TEST_HARNESS_SRCS)))
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/it_*.c tests/fault/ft_*.c)

# tests/fuzz/: libFuzzer targets, built with clang into build/fuzz/ (they
# need -fsanitize=fuzzer, which gcc lacks) and run briefly by
# tests/scripts/test_fuzz.sh. `make fuzz FUZZ_SECONDS=600` runs them longer.
FUZZ_CC      ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRCS    := common/mf_body.c common/mf_csv.c common/mf_reading.c common/mf_time.c \
                common/mf_buf.c common/mf_alloc.c common/mf_log.c ingest-gw/gw_auth.c
FUZZ_SECONDS ?= 15

build/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS)
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	$(Q)$(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CPPFLAGS) -o $@ $^ -lcjson -lcrypto

.PHONY: fuzz-build fuzz
fuzz-build: $(FUZZ_TARGETS)
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/scripts/test_fuzz.sh
