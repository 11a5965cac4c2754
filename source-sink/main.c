/*
 * source-sink: grid feeds, weather observations and vehicle telemetry
 * (DESIGN §11), validated and written exactly once into PostgreSQL, the
 * refused ones to the DLQ. The program is ss_program (ss_run.h);
 * mf_program_main wires it the same way as every daemon.
 *
 *   source-sink            run the sink
 *   source-sink migrate    apply the schema migrations, exit
 */
#include "ss_run.h"
#include "mf_program.h"

int main(int argc, char **argv)
{
    return mf_program_main(argc, argv, &ss_program);
}
