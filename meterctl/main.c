/*
 * meterctl: the operators' command line (DESIGN §14): registry import and
 * export, holidays, grid maintenance windows, each change audited. Not a
 * daemon: ctl_cli dispatches one subcommand and exits 0, 1 (it failed) or
 * 2 (bad usage or configuration).
 */
#include "ctl_cli.h"

int main(int argc, char **argv)
{
    return ctl_main(argc, argv);
}
