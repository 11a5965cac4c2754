# aggregator/: the rollup daemon (DESIGN §5) as libagg.a plus a thin main.c.
AGG_SRCS := $(filter-out aggregator/main.c,$(wildcard aggregator/*.c))
$(eval $(call mf_lib,agg,$(AGG_SRCS)))
LIBS += agg
$(eval $(call mf_program,aggregator,aggregator/main.c,agg mfcommon))
INCS_aggregator := -Iaggregator -Icommon
$(OBJDIR)/aggregator/%.o: INCS := $(INCS_aggregator)
