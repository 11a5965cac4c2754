/*
 * ctl_maint: `maintenance add|list|remove`, the grid maintenance windows
 * that exclude a day from peak analysis (DESIGN §13). Each change is one
 * transaction with its audit row. Thread: main.
 */
#ifndef CTL_MAINT_H
#define CTL_MAINT_H

#include "ctl_cli.h"

int ctl_maintenance_add(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_maintenance_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_maintenance_remove(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                           const struct ctl_args *a);

#endif
