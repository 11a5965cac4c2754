/*
 * analytics-api: the fleet's numbers over HTTP, cached (DESIGN §12). The
 * program is api_program (api_run.h); mf_program_main wires it the same
 * way as every daemon.
 */
#include "api_run.h"
#include "mf_program.h"

int main(int argc, char **argv)
{
    return mf_program_main(argc, argv, &api_program);
}
