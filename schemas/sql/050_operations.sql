-- 050_operations: what operators write by hand with meterctl (DESIGN §13,
-- §14): the audit trail, the public holidays and the grid maintenance
-- windows that exclude a day from peak analysis.
--
-- meterctl appends to audit_log in the same transaction as the change it
-- records, so the log never says something happened that did not.
-- Re-runnable: IF NOT EXISTS only. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS audit_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    -- --actor, else the OS user who ran meterctl.
    actor  text NOT NULL,
    -- "<group>.<verb>": registry.import, holidays.import, maintenance.add ...
    action text NOT NULL,
    -- What the action was applied to: a registry kind, a file, an id.
    target text,
    why    text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
COMMENT ON TABLE audit_log IS
    'every manual action of meterctl (DESIGN 14), written in the transaction of the change';

-- region null = everywhere. One name per (day, region): an import of the
-- same day and region replaces the name. A unique index on the expression,
-- since a primary key cannot hold the null region.
CREATE TABLE IF NOT EXISTS holidays (
    day    date NOT NULL,
    region text,
    name   text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS holidays_day_region_idx
    ON holidays (day, (coalesce(region, '')));
COMMENT ON TABLE holidays IS
    'public holidays (DESIGN 13), region null = everywhere; excluded from peak analysis';

CREATE TABLE IF NOT EXISTS grid_maintenance (
    id      bigserial PRIMARY KEY,
    region  text NOT NULL,
    from_ts timestamptz NOT NULL,
    to_ts   timestamptz NOT NULL,
    note    text,
    CONSTRAINT grid_maintenance_window CHECK (to_ts > from_ts)
);
-- Peak analysis asks "which windows of this region overlap this day".
CREATE INDEX IF NOT EXISTS grid_maintenance_region_idx ON grid_maintenance (region, from_ts);
COMMENT ON TABLE grid_maintenance IS
    'grid maintenance windows [from_ts, to_ts) per region (DESIGN 13); excluded from peak analysis';
