# meterctl/: the operators' command line (DESIGN §14). ctl_*.c form libctl.a,
# which the unit tests and the fuzzer link; main.c is thin.
CTL_SRCS := $(filter-out meterctl/main.c,$(wildcard meterctl/*.c))
$(eval $(call mf_lib,ctl,$(CTL_SRCS)))
LIBS += ctl
$(eval $(call mf_program,meterctl,meterctl/main.c,ctl mfcommon))
INCS_meterctl := -Imeterctl -Icommon
$(OBJDIR)/meterctl/%.o: INCS := $(INCS_meterctl)
