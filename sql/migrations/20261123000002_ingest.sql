-- Ingest: what the pipeline needs beyond the foundation.

-- The time of the newest fix that drove the person's alarm state. Older fixes that arrive late
-- are stored and evaluated for the track, but never move alarm state backwards.
ALTER TABLE persons ADD COLUMN last_fix_at timestamptz;
ALTER TABLE persons ADD COLUMN last_fix_position geometry(Point, 4326);

-- The verdict of every applicable fence at the time of the fix, as evaluated on ingest:
-- [{"fence": id, "kind": "inclusion", "position": "inside", "distance_m": 123.4}, ...].
-- Kept with the fix because fences change later and an alarm must show why it opened.
ALTER TABLE fixes ADD COLUMN verdicts jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(verdicts) = 'array');
-- Whether the implied speed from the previous fix was implausible.
ALTER TABLE fixes ADD COLUMN implausible boolean NOT NULL DEFAULT false;

-- A confirmation request names the fence and alarm kind whose doubtful verdict it must settle.
ALTER TABLE location_requests ADD COLUMN fence_id bigint REFERENCES fences (id);
ALTER TABLE location_requests ADD COLUMN confirm_kind text
    CHECK (confirm_kind IN ('fence_exit', 'exclusion_entry', 'curfew'));
ALTER TABLE location_requests ADD CONSTRAINT location_requests_confirm_shape
    CHECK ((reason = 'confirm') = (confirm_kind IS NOT NULL));
CREATE UNIQUE INDEX location_requests_one_pending_confirm ON location_requests (person_id, confirm_kind, coalesce(fence_id, 0))
    WHERE state = 'pending' AND reason = 'confirm';
CREATE INDEX location_requests_device_pending_idx ON location_requests (person_id) WHERE state = 'pending';

-- Fence caches: every change bumps fence_version (a row, so the bump is transactional: a cache
-- never records a version whose fences it could not see) and notifies 'cctrack_fences'. Ingest
-- reads the version in the statement that locks the person, so a fix is never evaluated against
-- fences older than its transaction; the notification lets idle caches refresh early.
CREATE TABLE fence_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO fence_version VALUES (true, 0);
CREATE FUNCTION fences_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fence_version SET version = version + 1;
    PERFORM pg_notify('cctrack_fences', COALESCE(NEW.fence_id, OLD.fence_id, 0)::text);
    RETURN NULL;
END $$;
CREATE FUNCTION fences_row_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fence_version SET version = version + 1;
    PERFORM pg_notify('cctrack_fences', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER fences_changed AFTER INSERT OR UPDATE OR DELETE ON fences
    FOR EACH ROW EXECUTE FUNCTION fences_row_notify();
CREATE TRIGGER fence_persons_changed AFTER INSERT OR UPDATE OR DELETE ON fence_persons
    FOR EACH ROW EXECUTE FUNCTION fences_notify();
