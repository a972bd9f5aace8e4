-- Batched ingest stored a row and an index entry in fix_sequences for every fix, and probed it
-- for every fix: with ON CONFLICT on fixes, about 40 % of PostgreSQL's work per batched fix.
-- A phone numbers its fixes consecutively, so the numbers stored for one device form a few runs:
-- one row per run records the same set. Ingest extends a device's run while its numbers continue
-- it (an update of last_seq, which no index covers: room is left in each page for the new
-- version to stay there).
CREATE TABLE fix_sequence_runs (
    device_id  bigint NOT NULL,
    first_seq  bigint NOT NULL CHECK (first_seq >= 0),
    last_seq   bigint NOT NULL,
    CHECK (last_seq >= first_seq),
    PRIMARY KEY (device_id, first_seq)
) WITH (fillfactor = 50);

INSERT INTO fix_sequence_runs (device_id, first_seq, last_seq)
SELECT device_id, min(device_seq), max(device_seq)
FROM (SELECT device_id, device_seq, device_seq - row_number() OVER (PARTITION BY device_id ORDER BY device_seq) AS run
      FROM fix_sequences) s
GROUP BY device_id, run;

DROP TABLE fix_sequences;
DROP FUNCTION fix_sequences_check_device();

-- What a unique key gave fix_sequences, checked per statement: a run belongs to a device, and no
-- two runs of a device share a number. Runs of one device are disjoint, so ordered by first_seq
-- they are ordered by last_seq too: a new run overlaps another only if the nearest run starting
-- at or before its end (other than itself) ends at or after its start. Concurrent writers are
-- kept apart by ingest's person lock, which every writer of fixes takes.
CREATE FUNCTION fix_sequence_runs_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_runs n WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = n.device_id)) THEN
        RAISE EXCEPTION 'a sequence number must belong to a device' USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_runs n
               CROSS JOIN LATERAL (SELECT r.first_seq, r.last_seq FROM fix_sequence_runs r
                                   WHERE r.device_id = n.device_id AND r.first_seq <= n.last_seq
                                     AND r.first_seq <> n.first_seq
                                   ORDER BY r.first_seq DESC LIMIT 1) r
               WHERE r.last_seq >= n.first_seq) THEN
        RAISE EXCEPTION 'a device''s sequence number is recorded once' USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fix_sequence_runs_check_on_insert AFTER INSERT ON fix_sequence_runs REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION fix_sequence_runs_check();
CREATE TRIGGER fix_sequence_runs_check_on_update AFTER UPDATE ON fix_sequence_runs REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION fix_sequence_runs_check();

-- Tracks are read through the person's devices and the primary key (a person has a phone or
-- two); the person/time index cost a btree entry per fix.
DROP INDEX fixes_person_time_idx;
