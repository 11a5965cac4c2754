# meterflow: a non-recursive Makefile. Each directory adds its sources in
# <dir>/module.mk; this file holds the flags, the variants and the targets.
#
#   make              release build into build/bin/
#   make test         installs deps (as root), builds, runs the whole suite,
#                     then the ASan+UBSan suite (make check)
#   make check        the suite under ASan+UBSan (build/san/)
#   make demo         the fleet on a simulated feed
#   make bench        benchmarks; figures printed and written to bench/results/
#   make SANITIZE=address,undefined   a sanitizer variant in build/san/
#   make CLANG=1      the same build with clang into build/clang/
#   make soak         the whole fleet for 30 minutes: memory, fds, latency flat
#   make crash-build  the fault build with live crash points into build/crash/bin/
#   make gates        the clang build, format check, lint and Kubernetes
#                     manifest validation (make test runs them last)

VERSION := 0.1.0
CC      ?= cc
AR      ?= ar

SANITIZE ?=
ifeq ($(SANITIZE),)
VARIANT := release
BINDIR  := build/bin
OPT     := -O2 -g
else
VARIANT := san
BINDIR  := build/san/bin
OPT     := -O1 -g -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
# CLANG=1: the same flags with clang, into build/clang/ (build/clang-san/ with
# SANITIZE): the clang build that `make clang-build` and the gates run.
ifneq ($(CLANG),)
CC      := clang
VARIANT := clang$(if $(SANITIZE),-san)
BINDIR  := build/$(VARIANT)/bin
endif
# CRASH=1: the fault build of the crash-point walk (common/mf_crash.h), into
# build/crash/: every MF_CRASH_POINT live. Release binaries carry none of it.
ifneq ($(CRASH),)
VARIANT := crash
BINDIR  := build/crash/bin
CPPFLAGS += -DMF_CRASH_POINTS
endif
OBJDIR  := build/$(VARIANT)/obj
LIBDIR  := build/$(VARIANT)/lib
TESTDIR := build/$(VARIANT)/tests

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wpointer-arith -Wformat=2 -Wwrite-strings -Wvla \
        -Wundef -Wcast-align -Wimplicit-fallthrough -fno-common
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DMF_VERSION='"$(VERSION)"' \
            -I/usr/include/postgresql
# The walls: each directory's objects see their own headers and common's,
# nothing else (each module.mk sets INCS for its directory), so a program
# that includes another program's header fails to build. common sees only
# itself: it knows no program.
INCS_common := -Icommon
INCS := $(INCS_common)
CFLAGS   += -std=c11 $(OPT) $(WARN) -MMD -MP
LDFLAGS  += $(if $(SANITIZE),-fsanitize=$(SANITIZE))
LDLIBS   := -lrdkafka -lpq -lmicrohttpd -lgnutls -lcjson -lcrypto -lz -lpthread -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Filled in by the module.mk files.
PROGRAMS    :=
LIBS        :=
TEST_LIBS   :=

.PHONY: all
all: programs

# $(call mf_lib,name,sources): a static library build/<variant>/lib/lib<name>.a
define mf_lib
$(LIBDIR)/lib$(1).a: $(patsubst %.c,$(OBJDIR)/%.o,$(2))
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^
endef

# $(call mf_program,name,main.c,libs...): build/bin/<name> from main.c over libs
define mf_program
PROGRAMS += $(BINDIR)/$(1)
$(BINDIR)/$(1): $(OBJDIR)/$(2:.c=.o) $(foreach l,$(3),$(LIBDIR)/lib$(l).a)
	@mkdir -p $$(@D)
	@echo "  LD    $$@"
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef

include $(wildcard */module.mk)

# Benchmarks link every library (program libraries before common); the
# linker keeps only what each one uses.
ALL_LINK_LIBS := $(foreach l,$(LIBS) mftest mfcommon,$(LIBDIR)/lib$(l).a)
# A test links only what it tests (test_libs, in tests/module.mk), then common.
test_link_libs = $(foreach l,$(call test_libs,$(1)) mfcommon,$(LIBDIR)/lib$(l).a)

# $(call mf_linked,source,outdir,libs): one test or bench binary per source file
define mf_linked
$(2)/$(basename $(notdir $(1))): $(OBJDIR)/$(1:.c=.o) $(3)
	@mkdir -p $$(@D)
	@echo "  LD    $$@"
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$< $(3) -lcmocka -lcurl $(LDLIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call mf_linked,$(t),$(TESTDIR),$(call test_link_libs,$(basename $(notdir $(t)))))))
$(foreach b,$(BENCH_SRCS),$(eval $(call mf_linked,$(b),$(BINDIR),$(ALL_LINK_LIBS))))
PROGRAMS  += $(foreach b,$(BENCH_SRCS),$(BINDIR)/$(basename $(notdir $(b))))
TEST_BINS := $(foreach t,$(TEST_SRCS),$(TESTDIR)/$(basename $(notdir $(t))))

.PHONY: tests
tests: $(TEST_BINS) $(PROGRAMS)

.PHONY: programs
programs: $(PROGRAMS)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(CPPFLAGS) $(INCS) $(CFLAGS) -c -o $@ $<

-include $(shell find build/$(VARIANT)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- set-up
DEBIAN_PKGS := build-essential clang libclang-rt-14-dev librdkafka-dev libpq-dev libmicrohttpd-dev libgnutls28-dev \
               libcjson-dev libcmocka-dev libcurl4-openssl-dev libssl-dev zlib1g-dev \
               postgresql postgresql-contrib python3 python3-yaml python3-jsonschema \
               wrk gnuplot-nox curl openssl procps openjdk-17-jre-headless maven \
               clang-format clang-tidy cppcheck python3-venv libjs-chart.js chromium

.PHONY: deps
deps:
	@tools/deps.sh $(DEBIAN_PKGS)
	@tools/kafka-fetch >/dev/null
	@tools/venv-fetch >/dev/null
	@tools/venv-fetch api >/dev/null
	@tools/s3-fetch >/dev/null

# ---------------------------------------------------------------- tests
.PHONY: test check fuzz
test: deps
	$(MAKE) -j2 all tests
	$(MAKE) -j2 crash-build
	tests/lib/run-tests.sh build/bin build/release/tests
	$(MAKE) check
	$(MAKE) --no-print-directory gates

check:
	$(MAKE) -j2 SANITIZE=address,undefined all tests
	MF_SANITIZED=1 tests/lib/run-tests.sh build/san/bin build/san/tests

# The whole fleet for SOAK_MINUTES (30) at SOAK_RATE readings/s (10000): RSS,
# fds and latency flat, every reading accounted for (tools/soak). Not in test.
.PHONY: soak
soak: all
	tools/soak

.PHONY: crash-build
crash-build:
	$(MAKE) CRASH=1 programs

# ---------------------------------------------------------------- gates
# What CI holds the tree to besides the tests, each gate run even when one
# before it failed (tools/gates: one line each, the log of a failed one).
GATES := clang-build format-check lint k8s-validate
.PHONY: gates clang-build k8s-validate
gates:
	@tools/gates $(GATES)

# Every program, test and benchmark built with clang too (build/clang/).
clang-build:
	$(MAKE) -j2 CLANG=1 all tests

# deploy/k8s, rendered as kustomize would, against the Kubernetes API schemas.
k8s-validate:
	tools/k8s-validate

# ---------------------------------------------------------------- demo, bench
.PHONY: demo bench
demo: deps all
	tools/demo.sh

bench: deps all
	bench/bench.sh

# ---------------------------------------------------------------- style
.PHONY: format format-check lint check-headers
# The project's own C files: tracked or new, not ignored (so never build/).
SRCS_ALL = $(wildcard $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null))
format:
	clang-format -i $(SRCS_ALL)
# The files clang-format (.clang-format) would change, by name.
format-check:
	@bad=$$(for f in $(SRCS_ALL); do \
	    clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then \
	    echo "$$bad" | sed 's/^/  /'; \
	    echo "format-check: $$(echo "$$bad" | wc -l) of $(words $(SRCS_ALL)) files differ from .clang-format (make format rewrites them)"; \
	    exit 1; \
	fi; \
	echo "format-check: $(words $(SRCS_ALL)) files as .clang-format has them"
# clang-tidy (.clang-tidy) and cppcheck, each file with its build flags.
lint:
	@tools/lint/lint.sh
check-headers:
	@for h in $(filter %.h,$(SRCS_ALL)); do \
	    echo "#include \"$$h\"" | $(CC) $(CPPFLAGS) -I$$(dirname $$h) -Icommon -Itests/lib -std=c11 $(WARN) -x c -fsyntax-only - || exit 1; \
	done

# The include flags of a directory's objects (tests/scripts/test_walls.sh).
.PHONY: print-incs
print-incs:
	@echo $(INCS_$(D))

.PHONY: clean
clean:
	rm -rf build
