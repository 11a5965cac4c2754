# analytics-api/: the HTTP API over the tables (DESIGN §12). api_*.c and the
# page (page/index.html, compiled in by gen-page.sh) form libapi.a, which
# its tests link.
API_SRCS := $(filter-out analytics-api/main.c,$(wildcard analytics-api/*.c))
API_PAGE_GEN := build/$(VARIANT)/gen/api_page_gen.c
$(API_PAGE_GEN): analytics-api/gen-page.sh analytics-api/page/index.html
	@mkdir -p $(@D)
	$(Q)analytics-api/gen-page.sh analytics-api/page/index.html > $@
$(OBJDIR)/gen/api_page_gen.o: $(API_PAGE_GEN)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(INCS_analytics-api) $(CFLAGS) -c -o $@ $<
$(LIBDIR)/libapi.a: $(patsubst %.c,$(OBJDIR)/%.o,$(API_SRCS)) $(OBJDIR)/gen/api_page_gen.o
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
LIBS += api
$(eval $(call mf_program,analytics-api,analytics-api/main.c,api mfcommon))
INCS_analytics-api := -Ianalytics-api -Icommon
$(OBJDIR)/analytics-api/%.o: INCS := $(INCS_analytics-api)
