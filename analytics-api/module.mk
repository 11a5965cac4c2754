# analytics-api/: the HTTP API over the tables (DESIGN §12). api_*.c form
# libapi.a, which its tests link.
API_SRCS := $(filter-out analytics-api/main.c,$(wildcard analytics-api/*.c))
$(eval $(call mf_lib,api,$(API_SRCS)))
LIBS += api
$(eval $(call mf_program,analytics-api,analytics-api/main.c,api mfcommon))
INCS_analytics-api := -Ianalytics-api -Icommon
$(OBJDIR)/analytics-api/%.o: INCS := $(INCS_analytics-api)
