-- 005_meter_current_status: the latest validated reading per meter (DESIGN §5).
--
-- Upserted by the aggregator in its batch transaction. Readings can arrive
-- late, so the upsert must keep the newest one:
--   ON CONFLICT (meter_id) DO UPDATE SET ... WHERE meter_current_status.ts <= EXCLUDED.ts
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS meter_current_status (
    meter_id   text             PRIMARY KEY,
    ts         timestamptz      NOT NULL,            -- event time of that reading
    value_kw   double precision NOT NULL,
    quality    integer          NOT NULL
               CONSTRAINT meter_current_status_quality_range CHECK (quality BETWEEN 0 AND 100),
    -- The tiers of DESIGN §3.2; validated readings are premium or standard.
    tier       text             NOT NULL
               CONSTRAINT meter_current_status_tier CHECK (tier IN ('premium', 'standard', 'quarantine')),
    updated_at timestamptz      NOT NULL DEFAULT now()
);

COMMENT ON TABLE meter_current_status IS 'latest validated reading per meter (by event time); upserted by the aggregator';

-- "Which meters have gone quiet since X?" without scanning the fleet.
CREATE INDEX IF NOT EXISTS meter_current_status_ts_idx ON meter_current_status (ts);
