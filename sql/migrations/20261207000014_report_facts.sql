-- Reports compute every figure from stored facts. Two facts were only implicit so far: when a
-- person was released (解矫: the status said that, not when), and which supervision level a
-- person had at a given time (it changes when the county approves an assessment). Both are now
-- recorded as they happen, by the database itself, whoever changes the row.

-- When a person was released. Rows released before this migration take the time of their
-- audited release, or of the migration when none was audited.
ALTER TABLE persons ADD COLUMN released_at timestamptz;
UPDATE persons p
SET released_at = coalesce((SELECT max(a.at) FROM audit_log a WHERE a.action = 'person.release' AND a.person_id = p.id), now())
WHERE p.status = 'released';
CREATE FUNCTION persons_release_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'released' AND NEW.released_at IS NULL THEN
        NEW.released_at := now();
    ELSIF NEW.status <> 'released' THEN
        NEW.released_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER persons_release_time BEFORE INSERT OR UPDATE OF status, released_at ON persons
    FOR EACH ROW EXECUTE FUNCTION persons_release_time();
ALTER TABLE persons ADD CONSTRAINT persons_released_has_time CHECK ((status = 'released') = (released_at IS NOT NULL));
CREATE INDEX persons_released_idx ON persons (released_at) WHERE released_at IS NOT NULL;

-- Each person's level (and 重点 flag) from a time on: a row when the person is created (from
-- their created_at) and one at every change. The level at time T is the newest row with
-- since <= T. Persons created before this migration start with the level they have now.
CREATE TABLE person_levels (
    person_id  bigint NOT NULL REFERENCES persons (id),
    since      timestamptz NOT NULL,
    level      text NOT NULL CHECK (level IN ('lenient', 'ordinary', 'strict')),
    is_key     boolean NOT NULL,
    PRIMARY KEY (person_id, since)
);
INSERT INTO person_levels (person_id, since, level, is_key) SELECT id, created_at, level, is_key FROM persons;

CREATE FUNCTION persons_record_level() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO person_levels (person_id, since, level, is_key)
    VALUES (NEW.id, CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE now() END, NEW.level, NEW.is_key)
    ON CONFLICT (person_id, since) DO UPDATE SET level = EXCLUDED.level, is_key = EXCLUDED.is_key;
    RETURN NULL;
END $$;
CREATE TRIGGER persons_level_created AFTER INSERT ON persons
    FOR EACH ROW EXECUTE FUNCTION persons_record_level();
CREATE TRIGGER persons_level_changed AFTER UPDATE OF level, is_key ON persons
    FOR EACH ROW WHEN (OLD.level IS DISTINCT FROM NEW.level OR OLD.is_key IS DISTINCT FROM NEW.is_key)
    EXECUTE FUNCTION persons_record_level();

-- Reports read alarms, requests and handling records by time.
CREATE INDEX alarms_opened_idx ON alarms (opened_at);
CREATE INDEX alarms_closed_idx ON alarms (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX location_requests_issued_idx ON location_requests (issued_at);
