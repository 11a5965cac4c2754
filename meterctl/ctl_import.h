/*
 * ctl_import: `registry import|export` and `holidays import` (DESIGN
 * §14): a CSV file checked whole by ctl_rows, then applied in one
 * transaction (COPY into a temporary table, one INSERT ... ON CONFLICT that
 * touches only rows whose values differ) with its audit row, and counted
 * as added / changed / unchanged / refused. Thread: main.
 */
#ifndef CTL_IMPORT_H
#define CTL_IMPORT_H

#include "ctl_cli.h"

int ctl_registry_import(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_registry_export(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_holidays_import(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);

#endif
