# ingest-gw/: the HTTP gateway. gw_*.c form libgw.a, which tests link.
GW_SRCS := $(filter-out ingest-gw/main.c,$(wildcard ingest-gw/*.c))
$(eval $(call mf_lib,gw,$(GW_SRCS)))
LIBS += gw
$(eval $(call mf_program,ingest-gw,ingest-gw/main.c,gw mfcommon))
INCS_ingest-gw := -Iingest-gw -Icommon
$(OBJDIR)/ingest-gw/%.o: INCS := $(INCS_ingest-gw)
