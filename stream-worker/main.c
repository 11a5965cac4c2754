/*
 * stream-worker: meter-data validation (VEE) with durable per-meter state
 * (DESIGN §4). The program is wk_program (wk_run.h): its configuration,
 * its run and its migrate; mf_program_main wires them the same way for
 * every daemon.
 *
 *   stream-worker            run the worker
 *   stream-worker migrate    apply the schema migrations and exit
 */
#include "mf_program.h"
#include "wk_run.h"

int main(int argc, char **argv)
{
    return mf_program_main(argc, argv, &wk_program);
}
