-- 051_review_stores: the review stores of DESIGN §14 and the alerts store,
-- written by source-sink from meter.readings.quarantine, meter.readings.dlq
-- and meter.alerts exactly once (each batch's rows and the next offsets of
-- its partitions, sink_offsets, in one transaction), reviewed with meterctl.
--
--   quarantine_readings  every quarantined reading, with its reasons and src
--   dlq_records          every DLQ record: its bytes (text where valid UTF-8
--                        without NUL, else base64) and headers
--   alerts               one row per alert (meter, type, since): raised, then
--                        cleared; acknowledged by an operator
--
-- Both review stores are partitioned by the UTC day of the Kafka record's
-- timestamp (received_at: the same on a repeat, and what the topics' own
-- 30-day retention goes by); source-sink makes the days a batch needs and
-- drops the days past REVIEW_RETENTION_DAYS.
--
-- A review row's status: pending -> approved | rejected (quarantine),
-- pending -> replayed (DLQ). While meterctl publishes an approval or a
-- replay, the row stays pending with publish_* saying where to look for the
-- published record (topic, partition, the end offset before publishing): a
-- rerun after a crash finds it there (published: finish) or not (publish
-- again). meterctl is the only writer of status and publish_*.
-- Re-runnable: IF NOT EXISTS / OR REPLACE. No BEGIN/COMMIT (the runner's).

CREATE SEQUENCE IF NOT EXISTS quarantine_readings_id_seq;
CREATE TABLE IF NOT EXISTS quarantine_readings (
    id                bigint      NOT NULL DEFAULT nextval('quarantine_readings_id_seq'),
    received_at       timestamptz NOT NULL,
    topic_partition   integer     NOT NULL,
    topic_offset      bigint      NOT NULL,
    meter_id          text        NOT NULL,
    ts                timestamptz NOT NULL,
    value_kw          double precision,
    source_value      double precision,
    -- The unit as the meter sent it (null: none, e.g. unit_ambiguous).
    source_unit       text,
    interval_s        integer,
    quality           integer,
    reasons           text[]      NOT NULL,
    flags             text[]      NOT NULL,
    src_partition     integer,
    src_offset        bigint,
    src_index         integer,
    -- The scored reading as the worker published it (DESIGN 3.2).
    record            jsonb       NOT NULL,
    status            text        NOT NULL DEFAULT 'pending'
        CONSTRAINT quarantine_readings_status_check
        CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_at        timestamptz,
    decided_by        text,
    why               text,
    -- The unit the approval published the value with (its own, or --unit).
    approved_unit     text,
    publish_topic     text,
    publish_partition integer,
    publish_from      bigint,
    -- Where the published approval landed (known once it is approved).
    publish_offset    bigint,
    CONSTRAINT quarantine_readings_pkey PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
COMMENT ON TABLE quarantine_readings IS
    'every quarantined reading (DESIGN 14), written by source-sink, reviewed with meterctl';
-- A record of the topic is stored once (the offsets already make it so;
-- this makes a repeat harmless by itself: ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_readings_position
    ON quarantine_readings (topic_partition, topic_offset, received_at);
CREATE INDEX IF NOT EXISTS quarantine_readings_id ON quarantine_readings (id);
-- quarantine list: by status and time; by meter; by reason.
CREATE INDEX IF NOT EXISTS quarantine_readings_status_received ON quarantine_readings (status, received_at);
CREATE INDEX IF NOT EXISTS quarantine_readings_meter_ts ON quarantine_readings (meter_id, ts);
CREATE INDEX IF NOT EXISTS quarantine_readings_reasons ON quarantine_readings USING gin (reasons);
-- A worker's repeat after a crash is a new topic record with the same src
-- (DESIGN 3.2): stored once, found by this index.
CREATE INDEX IF NOT EXISTS quarantine_readings_src
    ON quarantine_readings (src_partition, src_offset, src_index);

CREATE SEQUENCE IF NOT EXISTS dlq_records_id_seq;
CREATE TABLE IF NOT EXISTS dlq_records (
    id                bigint      NOT NULL DEFAULT nextval('dlq_records_id_seq'),
    received_at       timestamptz NOT NULL,
    topic_partition   integer     NOT NULL,
    topic_offset      bigint      NOT NULL,
    -- The original key and bytes, unchanged.
    key               text,
    key_encoding      text        CONSTRAINT dlq_records_key_encoding_check
        CHECK (key_encoding IN ('utf8', 'base64')),
    value             text        NOT NULL,
    value_encoding    text        NOT NULL CONSTRAINT dlq_records_value_encoding_check
        CHECK (value_encoding IN ('utf8', 'base64')),
    -- Every header, name -> value (DESIGN 2: error.code, error.message,
    -- source.topic, source.partition, source.offset, worker.id).
    headers           jsonb       NOT NULL,
    error_code        text,
    -- From the headers: where the refused record came from. A repeat of
    -- the same source record (a producer's crash) is stored once.
    source_topic      text,
    source_partition  integer,
    source_offset     bigint,
    status            text        NOT NULL DEFAULT 'pending'
        CONSTRAINT dlq_records_status_check CHECK (status IN ('pending', 'replayed')),
    decided_at        timestamptz,
    decided_by        text,
    why               text,
    publish_topic     text,
    publish_partition integer,
    publish_from      bigint,
    publish_offset    bigint,
    CONSTRAINT dlq_records_pkey PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
COMMENT ON TABLE dlq_records IS
    'every DLQ record (DESIGN 14), written by source-sink, replayed with meterctl';
CREATE UNIQUE INDEX IF NOT EXISTS dlq_records_position
    ON dlq_records (topic_partition, topic_offset, received_at);
CREATE INDEX IF NOT EXISTS dlq_records_id ON dlq_records (id);
-- dlq list / replay --code --since: by status, code and time.
CREATE INDEX IF NOT EXISTS dlq_records_status_code ON dlq_records (status, error_code, received_at);
CREATE INDEX IF NOT EXISTS dlq_records_received ON dlq_records (received_at);
CREATE INDEX IF NOT EXISTS dlq_records_source
    ON dlq_records (source_topic, source_partition, source_offset);

-- One row per alert: (meter, type, since) names it (DESIGN 3.3: raised
-- once when its condition starts, cleared once when it ends; the clearing
-- record carries the same since). A clearing whose raise was never seen
-- (expired from the topic) is stored as cleared with raised_at null.
CREATE TABLE IF NOT EXISTS alerts (
    id          bigserial   PRIMARY KEY,
    meter_id    text        NOT NULL,
    type        text        NOT NULL,
    severity    text        NOT NULL,
    state       text        NOT NULL CONSTRAINT alerts_state_check CHECK (state IN ('raised', 'cleared')),
    since       timestamptz NOT NULL,
    -- Event time of the reading that raised / cleared it.
    raised_at   timestamptz,
    cleared_at  timestamptz,
    -- The detail of the latest record (raise or clear).
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    src_partition integer,
    src_offset  bigint,
    src_index   integer,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- meterctl alerts ack: who, when, why (null: not acknowledged).
    acked_at    timestamptz,
    acked_by    text,
    ack_why     text,
    CONSTRAINT alerts_meter_type_since UNIQUE (meter_id, type, since)
);
COMMENT ON TABLE alerts IS
    'meter.alerts as state per alert (DESIGN 3.3), written by source-sink, acknowledged with meterctl';
CREATE INDEX IF NOT EXISTS alerts_meter_since ON alerts (meter_id, since DESC);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (state, since) WHERE acked_at IS NULL;

-- Applies a batch of alert records (a JSON array, in topic order: one
-- alert may be raised and cleared in the same batch). A raise inserts the
-- alert or refreshes a raised one; a cleared alert stays cleared (a repeat
-- of its raise after a producer's crash changes nothing; the condition
-- starting again is a new since). Returns the number of records applied.
CREATE OR REPLACE FUNCTION meterflow_alerts_apply(p_batch jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    n int := 0;
BEGIN
    FOR e IN SELECT value FROM jsonb_array_elements(p_batch) LOOP
        IF e->>'state' = 'raised' THEN
            INSERT INTO alerts AS a (meter_id, type, severity, state, since, raised_at, detail,
                                     src_partition, src_offset, src_index)
            VALUES (e->>'meter_id', e->>'type', e->>'severity', 'raised',
                    (e->>'since')::timestamptz, (e->>'ts')::timestamptz, e->'detail',
                    (e->>'sp')::int, (e->>'so')::bigint, (e->>'si')::int)
            ON CONFLICT (meter_id, type, since) DO UPDATE
                SET severity = excluded.severity, detail = excluded.detail,
                    raised_at = coalesce(a.raised_at, excluded.raised_at), updated_at = now()
                WHERE a.state = 'raised';
        ELSE
            INSERT INTO alerts AS a (meter_id, type, severity, state, since, cleared_at, detail,
                                     src_partition, src_offset, src_index)
            VALUES (e->>'meter_id', e->>'type', e->>'severity', 'cleared',
                    (e->>'since')::timestamptz, (e->>'ts')::timestamptz, e->'detail',
                    (e->>'sp')::int, (e->>'so')::bigint, (e->>'si')::int)
            ON CONFLICT (meter_id, type, since) DO UPDATE
                SET state = 'cleared', cleared_at = excluded.cleared_at, detail = excluded.detail,
                    src_partition = excluded.src_partition, src_offset = excluded.src_offset,
                    src_index = excluded.src_index, updated_at = now()
                WHERE a.state = 'raised';
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Creates the day partitions of both review stores for the given UTC days
-- that do not exist yet; returns how many it made. Serialized by an
-- advisory lock: several sinks may call at once.
CREATE OR REPLACE FUNCTION meterflow_review_days(p_days date[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    t text;
    made int := 0;
    name text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('meterflow_review_days'));
    FOREACH d IN ARRAY p_days LOOP
        FOREACH t IN ARRAY ARRAY['quarantine_readings', 'dlq_records'] LOOP
            name := t || '_p' || to_char(d, 'YYYYMMDD');
            IF to_regclass(quote_ident(name)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               name, t, (d::timestamp AT TIME ZONE 'UTC'),
                               ((d + 1)::timestamp AT TIME ZONE 'UTC'));
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

-- Drops the review stores' day partitions wholly older than p_keep_days
-- days before today (UTC); returns how many it dropped.
CREATE OR REPLACE FUNCTION meterflow_review_retention(p_keep_days int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped int := 0;
    cutoff text := to_char((now() AT TIME ZONE 'UTC')::date - p_keep_days, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('meterflow_review_days'));
    FOR r IN SELECT c.relname FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent
              WHERE p.relname IN ('quarantine_readings', 'dlq_records')
                AND right(c.relname, 8) ~ '^[0-9]{8}$'
                AND right(c.relname, 8) < cutoff LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
