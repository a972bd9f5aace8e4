-- Alarms as cases: a handling record when staff close one, evidence counted on the alarm, and one
-- append-only history per alarm whose rows, numbered in commit order, are the live feed.

-- Whether organisation `org` lies in the subtree of `root` (itself included): every staff scope
-- check. The tree is three levels deep.
CREATE FUNCTION org_within(org bigint, root bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, parent_id) AS (
        SELECT id, parent_id FROM organisations WHERE id = org
        UNION ALL
        SELECT o.id, o.parent_id FROM organisations o JOIN up ON o.id = up.parent_id)
    SELECT EXISTS (SELECT 1 FROM up WHERE id = root)
$$;

-- The handling record: an outcome from a fixed list, stored as its code and the Chinese label it
-- had when chosen, with the note (at least 5 characters), who and when (closed_by, closed_at).
ALTER TABLE alarms ADD COLUMN outcome text CHECK (outcome IN (
    'phone_verified', 'video_verified', 'visited', 'summoned', 'device_fault', 'admonished', 'warned',
    'police_referral', 'other'));
ALTER TABLE alarms ADD COLUMN outcome_label text;
-- NOT VALID: rows closed by hand before this migration are kept as they are; every new close is checked.
ALTER TABLE alarms ADD CONSTRAINT alarms_closed_with_handling_record CHECK (
    state NOT IN ('resolved', 'dismissed')
    OR (outcome IS NOT NULL AND outcome_label IS NOT NULL AND char_length(btrim(handling_note)) >= 5)) NOT VALID;
ALTER TABLE alarms ADD CONSTRAINT alarms_acknowledged_by_someone
    CHECK (acknowledged_at IS NULL OR acknowledged_by IS NOT NULL) NOT VALID;

-- Evidence without flooding the history: every non-compliant fix while the alarm is open is a row
-- of alarm_evidence; the alarm counts them and names the newest.
ALTER TABLE alarms ADD COLUMN evidence_count integer NOT NULL DEFAULT 0 CHECK (evidence_count >= 0);
ALTER TABLE alarms ADD COLUMN last_evidence_at timestamptz;
UPDATE alarms a SET evidence_count = e.n, last_evidence_at = e.newest
FROM (SELECT alarm_id, count(*) AS n, max(fixed_at) AS newest FROM alarm_evidence GROUP BY alarm_id) e
WHERE e.alarm_id = a.id;

-- The history. Events about a subject (person, alarm kind, fence) may come before its alarm
-- exists (a doubtful fix asks for confirmation): alarm_id is then NULL, and so is the state.
ALTER TABLE alarm_events ALTER COLUMN alarm_id DROP NOT NULL;
ALTER TABLE alarm_events ALTER COLUMN to_state DROP NOT NULL;
ALTER TABLE alarm_events ADD COLUMN kind text;
ALTER TABLE alarm_events ADD COLUMN alarm_kind text;
ALTER TABLE alarm_events ADD COLUMN fence_id bigint REFERENCES fences (id);
-- The person's office when the event happened: whose scope the event is in.
ALTER TABLE alarm_events ADD COLUMN office_id bigint REFERENCES organisations (id);
-- The fix the event is about (the one that opened the alarm, came back inside, ...).
ALTER TABLE alarm_events ADD COLUMN fixed_at timestamptz;
ALTER TABLE alarm_events ADD COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object');
-- Place in the feed: 1, 2, 3, ... in commit order, without gaps (see alarm_feed below).
ALTER TABLE alarm_events ADD COLUMN position bigint;
UPDATE alarm_events e
SET kind = CASE WHEN e.to_state = 'open' AND e.from_state IS NULL THEN 'opened' ELSE e.to_state END,
    alarm_kind = a.kind, fence_id = a.fence_id, office_id = a.office_id,
    fixed_at = CASE WHEN e.from_state IS NULL THEN a.cause_fixed_at END,
    position = n.position
FROM alarms a, (SELECT id, row_number() OVER (ORDER BY id) AS position FROM alarm_events) n
WHERE a.id = e.alarm_id AND n.id = e.id;
ALTER TABLE alarm_events
    ALTER COLUMN kind SET NOT NULL,
    ALTER COLUMN alarm_kind SET NOT NULL,
    ALTER COLUMN office_id SET NOT NULL,
    ALTER COLUMN position SET NOT NULL,
    ADD CONSTRAINT alarm_events_kind_check CHECK (kind IN (
        'opened', 'left_again', 'returned_inside', 'confirmation_requested', 'confirmed', 'confirmation_withdrawn',
        'acknowledged', 'resolved', 'dismissed', 'escalated', 'overnight', 'notice_sent', 'notice_failed')),
    ADD CONSTRAINT alarm_events_alarm_kind_check CHECK (alarm_kind IN (
        'fence_exit', 'exclusion_entry', 'curfew', 'location_failure', 'device_silent', 'leave_overdue',
        'basis_expiring', 'mock_location', 'low_battery')),
    ADD CONSTRAINT alarm_events_subject CHECK (
        alarm_id IS NOT NULL OR kind IN ('confirmation_requested', 'confirmation_withdrawn')),
    ADD CONSTRAINT alarm_events_state_with_alarm CHECK ((alarm_id IS NULL) = (to_state IS NULL));
CREATE UNIQUE INDEX alarm_events_position_key ON alarm_events (position);
DROP INDEX alarm_events_alarm_idx;
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, position);

-- The feed's counter. Sequence values become visible out of order (a transaction that took 7 can
-- commit after the one that took 8), so a reader asking for "after 7" could miss 8 for ever.
-- Instead positions come from this one row: its lock is held until the transaction ends, so the
-- next writer of events waits, and positions are handed out in commit order, densely (a
-- rollback returns its numbers). Writers append their events last, just before COMMIT, to hold
-- the lock briefly, and take a transaction's positions as one block (`tracker::alarm::events`):
-- the block is named in `cctrack.feed_block` ('first:last', local to the transaction). Any other
-- insert takes the next position row by row. Either way a position is never chosen by hand.
CREATE TABLE alarm_feed (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint NOT NULL CHECK (position >= 0)
);
INSERT INTO alarm_feed SELECT true, coalesce(max(position), 0) FROM alarm_events;

CREATE FUNCTION alarm_events_take_position() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    block text := current_setting('cctrack.feed_block', true);
BEGIN
    IF NEW.position IS NOT NULL AND coalesce(block, '') <> ''
       AND NEW.position BETWEEN split_part(block, ':', 1)::bigint AND split_part(block, ':', 2)::bigint THEN
        RETURN NEW;
    END IF;
    UPDATE alarm_feed SET position = position + 1 RETURNING position INTO NEW.position;
    RETURN NEW;
END $$;
CREATE TRIGGER alarm_events_position BEFORE INSERT ON alarm_events
    FOR EACH ROW EXECUTE FUNCTION alarm_events_take_position();

-- Readers of the feed wake on this (delivered at commit); the table stays the truth.
CREATE FUNCTION alarm_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cctrack_alarm_events', (SELECT max(position) FROM new_events)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER alarm_events_notify AFTER INSERT ON alarm_events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION alarm_events_notify();

CREATE TRIGGER alarm_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON alarm_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();
