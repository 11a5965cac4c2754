# source-sink/: the other sources' sink (DESIGN §11) as libss.a plus a thin main.c.
SS_SRCS := $(filter-out source-sink/main.c,$(wildcard source-sink/*.c))
$(eval $(call mf_lib,ss,$(SS_SRCS)))
LIBS += ss
$(eval $(call mf_program,source-sink,source-sink/main.c,ss mfcommon))
INCS_source-sink := -Isource-sink -Icommon
$(OBJDIR)/source-sink/%.o: INCS := $(INCS_source-sink)
