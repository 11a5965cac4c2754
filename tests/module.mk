# tests/: unit tests (tests/unit/test_*.c, cmocka), integration tests
# (tests/integration/it_*.c) and fault tests (tests/fault/ft_*.c) over the
# harness in tests/lib/. The top Makefile links each with every library.
TEST_HARNESS_SRCS := $(wildcard tests/lib/*.c)
$(eval $(call mf_lib,mftest,$(TEST_HARNESS_SRCS)))
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/it_*.c tests/fault/ft_*.c)
