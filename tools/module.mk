# tools/: the local broker (mock cluster), the meter simulator and the demo.
$(eval $(call mf_program,mf-localbroker,tools/mf_localbroker.c,mfcommon))

# meter-sim: a thin tools/meter_sim.c over libsim (tools/sim_*.c), which the
# unit tests (tests/unit/test_sim*.c) link directly.
INCS_tools := -Itools -Icommon
$(OBJDIR)/tools/%.o: INCS := $(INCS_tools)
SIM_SRCS := $(wildcard tools/sim_*.c)
$(eval $(call mf_lib,sim,$(SIM_SRCS)))
LIBS += sim
# libcurl: the gateway client and the /metrics scrapes (mf_program expands LDLIBS at once).
LDLIBS += -lcurl
$(eval $(call mf_program,meter-sim,tools/meter_sim.c,sim mfcommon))

# mf-topics: the DESIGN §2 topics on a real Kafka (tools/kafka-local runs it).
$(eval $(call mf_program,mf-topics,tools/mf_topics.c,mfcommon))
