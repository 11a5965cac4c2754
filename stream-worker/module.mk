# stream-worker/: the VEE worker (DESIGN §4). main.c is thin; the modules
# build libwk.a, which the unit tests and the benchmark link directly.
WK_SRCS := $(filter-out stream-worker/main.c,$(wildcard stream-worker/*.c))
$(eval $(call mf_lib,wk,$(WK_SRCS)))
LIBS += wk
$(eval $(call mf_program,stream-worker,stream-worker/main.c,wk mfcommon))
INCS_stream-worker := -Istream-worker -Icommon
$(OBJDIR)/stream-worker/%.o: INCS := $(INCS_stream-worker)
