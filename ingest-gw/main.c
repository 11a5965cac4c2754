/*
 * ingest-gw: HTTP readings into Kafka, answered only after Kafka's ack.
 * The program is gw_program (gw_run.h): its configuration and its run;
 * mf_program_main wires them the same way for every daemon.
 */
#include "gw_run.h"
#include "mf_program.h"

int main(int argc, char **argv)
{
    return mf_program_main(argc, argv, &gw_program);
}
