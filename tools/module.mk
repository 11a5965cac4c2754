# tools/: the local broker (mock cluster) and, later, the meter simulator.
$(eval $(call mf_program,mf-localbroker,tools/mf_localbroker.c,mfcommon))
