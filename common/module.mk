# common/: the library every program and test links (libmfcommon.a).
COMMON_SRCS := $(filter-out common/mf_migrations_gen.c,$(wildcard common/*.c))
MIGRATIONS  := $(sort $(wildcard schemas/sql/[0-9]*.sql))
GEN_MIGRATIONS := build/$(VARIANT)/gen/mf_migrations_gen.c

$(GEN_MIGRATIONS): common/gen-migrations.sh $(MIGRATIONS)
	@mkdir -p $(@D)
	$(Q)common/gen-migrations.sh $(MIGRATIONS) > $@

$(OBJDIR)/gen/mf_migrations_gen.o: $(GEN_MIGRATIONS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(INCS) $(CFLAGS) -c -o $@ $<

$(LIBDIR)/libmfcommon.a: $(patsubst %.c,$(OBJDIR)/%.o,$(COMMON_SRCS)) $(OBJDIR)/gen/mf_migrations_gen.o
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
