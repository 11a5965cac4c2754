-- 001_meters: the meter registry (DESIGN §4 rule 3, §6).
--
-- Operators write it; the stream-worker reads it (cached, refreshed every
-- 60 s) to learn each meter's limits. The runner applies this file inside one
-- transaction under an advisory lock, but it is also safe to run again on its
-- own: every statement is IF NOT EXISTS / OR REPLACE. No BEGIN/COMMIT and no
-- psql meta-commands here: the runner sends the whole file as one string.

CREATE TABLE IF NOT EXISTS meters (
    -- Same alphabet as a reading's meter_id (DESIGN §3.1): a registry row that
    -- no reading can ever name is a typo we would rather refuse.
    meter_id     text PRIMARY KEY
                 CONSTRAINT meters_meter_id_format CHECK (meter_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    class        text,
    -- "< 'Infinity'" also refuses NaN, which PostgreSQL sorts above Infinity:
    -- the over_limit rule compares against this number.
    max_kw       double precision NOT NULL DEFAULT 20
                 CONSTRAINT meters_max_kw_range CHECK (max_kw > 0 AND max_kw < 'Infinity'),
    -- The reading interval; gap detection and energy conversion divide by it.
    interval_s   integer NOT NULL DEFAULT 60
                 CONSTRAINT meters_interval_s_positive CHECK (interval_s > 0),
    -- A vacant property may read 0 kW for ever without a zero_value fault.
    vacant       boolean NOT NULL DEFAULT false,
    neighborhood text,
    region       text,
    -- Inactive meters stay in the table (history) but their readings are
    -- rejected as inactive_meter.
    active       boolean NOT NULL DEFAULT true,
    -- Kept current by the trigger below, so a registry cache can ask for
    -- "rows changed since" instead of reloading everything.
    updated_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE meters IS
    'meter registry: limits and metadata per meter (DESIGN §4 rule 3); read by stream-worker';

CREATE OR REPLACE FUNCTION meterflow_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- DROP + CREATE rather than CREATE OR REPLACE TRIGGER (PostgreSQL 14+): both
-- run in the runner's transaction, so no update slips through in between.
DROP TRIGGER IF EXISTS meters_touch_updated_at ON meters;
CREATE TRIGGER meters_touch_updated_at
    BEFORE UPDATE ON meters
    FOR EACH ROW EXECUTE FUNCTION meterflow_touch_updated_at();

-- Neighborhood correlation (DESIGN §4 rule 8, done in SQL) groups meters by
-- neighborhood; most analyst joins go through it too.
CREATE INDEX IF NOT EXISTS meters_neighborhood_idx
    ON meters (neighborhood) WHERE neighborhood IS NOT NULL;
