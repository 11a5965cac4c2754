/*
 * aggregator: 1-minute and hourly rollups of validated readings, exactly
 * once into PostgreSQL, closed windows to the S3-bound topics (DESIGN §5).
 * The program is agg_program (agg_run.h): its configuration, its run and
 * its migrate; mf_program_main wires them the same way for every daemon.
 *
 *   aggregator            run the aggregator
 *   aggregator migrate    apply the schema migrations, create the partitions ahead, exit
 */
#include "agg_run.h"
#include "mf_program.h"

int main(int argc, char **argv)
{
    return mf_program_main(argc, argv, &agg_program);
}
