-- 043_analytics_alerts: the alerts the daily analytics raise on
-- meter.alerts (DESIGN §13): quality_degradation per region and hour, and
-- neighborhood_correlation per meter. Raised once and cleared once each:
-- the state is kept here, and every change of state is written to
-- analytics_alert_outbox in the same transaction; the aggregator publishes
-- the outbox to meter.alerts after the commit and deletes what Kafka
-- acknowledged (at least once, a repeat identical: same key, state, ts).
-- Re-runnable. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS analytics_alert_state (
    type      text        NOT NULL,
    -- the region (quality_degradation) or the meter (neighborhood_correlation)
    subject   text        NOT NULL,
    raised    boolean     NOT NULL,
    since     timestamptz,
    -- quality_degradation: the end of the last hour judged
    judged_to timestamptz,
    PRIMARY KEY (type, subject)
);
COMMENT ON TABLE analytics_alert_state IS
    'raised or not, per (alert type, region or meter), for the daily analytics'' alerts (DESIGN 13)';

CREATE TABLE IF NOT EXISTS analytics_alert_outbox (
    id      bigserial PRIMARY KEY,
    subject text  NOT NULL,
    alert   jsonb NOT NULL
);
COMMENT ON TABLE analytics_alert_outbox IS
    'alerts written with the state change that made them, deleted once meter.alerts acknowledged them';

-- DESIGN §3.3 times: UTC, milliseconds, Z.
CREATE OR REPLACE FUNCTION meterflow_utc_ms(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- A state change of (type, subject) to raised, with detail, at event time
-- ts; writes the state and the outbox row. No-op when already so.
CREATE OR REPLACE FUNCTION meterflow_alert_set(p_type text, p_subject text, p_severity text,
                                               p_raised boolean, p_ts timestamptz, p_detail jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    was boolean;
    started timestamptz;
BEGIN
    SELECT raised, since INTO was, started FROM analytics_alert_state
     WHERE type = p_type AND subject = p_subject FOR UPDATE;
    IF coalesce(was, false) = p_raised THEN
        RETURN false;
    END IF;
    started := CASE WHEN p_raised THEN p_ts ELSE started END;
    INSERT INTO analytics_alert_state (type, subject, raised, since)
    VALUES (p_type, p_subject, p_raised, started)
    ON CONFLICT (type, subject) DO UPDATE SET raised = EXCLUDED.raised, since = EXCLUDED.since;
    INSERT INTO analytics_alert_outbox (subject, alert)
    VALUES (p_subject, jsonb_build_object(
        'meter_id', p_subject, 'type', p_type, 'severity', p_severity,
        'state', CASE WHEN p_raised THEN 'raised' ELSE 'cleared' END,
        'since', meterflow_utc_ms(started), 'ts', meterflow_utc_ms(p_ts), 'detail', p_detail));
    RETURN true;
END $$;

-- quality_degradation: every region's closed hours (ending at or before
-- horizon) not judged yet, in order: average quality (quality_sum /
-- readings) below 80 raises, 80 or more clears; ts = the hour's end. An
-- hour is judged once: late data that changes an hour already judged does
-- not judge it again. Returns the number of alerts written.
CREATE OR REPLACE FUNCTION meterflow_quality_alerts(horizon timestamptz) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    h record;
    n int := 0;
BEGIN
    FOR h IN
        SELECT g.region, g.window_start, g.quality_sum / g.readings AS q, g.readings
          FROM region_load_1h g
          LEFT JOIN analytics_alert_state s ON s.type = 'quality_degradation' AND s.subject = g.region
         WHERE g.window_start + interval '1 hour' <= horizon AND g.readings > 0
           AND g.window_start >= coalesce(s.judged_to, '-infinity')
         ORDER BY g.region, g.window_start
    LOOP
        IF meterflow_alert_set('quality_degradation', h.region, 'warning', h.q < 80,
                               h.window_start + interval '1 hour',
                               jsonb_build_object('quality_avg', round(h.q::numeric, 3), 'readings', h.readings,
                                                  'hour', meterflow_utc_ms(h.window_start))) THEN
            n := n + 1;
        END IF;
        UPDATE analytics_alert_state SET judged_to = h.window_start + interval '1 hour'
         WHERE type = 'quality_degradation' AND subject = h.region;
        IF NOT FOUND THEN
            INSERT INTO analytics_alert_state (type, subject, raised, judged_to)
            VALUES ('quality_degradation', h.region, false, h.window_start + interval '1 hour');
        END IF;
    END LOOP;
    RETURN n;
END $$;
