-- Leaves over the staff API: an office records the request, the office (up to 7 days) or the
-- county (beyond) approves or rejects it, and a granted or pending leave can be cancelled. The
-- destination and route stay on the leave (as drawn, in WGS-84: `places`, so that a circle stays a
-- circle); its fences exist from its approval on.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'leaves'::regclass AND contype = 'c'
               AND (pg_get_constraintdef(oid) LIKE '%''requested''::text, ''approved''::text%'
                    OR pg_get_constraintdef(oid) LIKE '%decided_by IS NOT NULL%')
    LOOP
        EXECUTE format('ALTER TABLE leaves DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE leaves ADD COLUMN decision_note text CHECK (decision_note IS NULL OR length(decision_note) <= 2000);
ALTER TABLE leaves ADD COLUMN places jsonb CHECK (places IS NULL OR jsonb_typeof(places) = 'object');
ALTER TABLE leaves ADD COLUMN cancelled_at timestamptz;
ALTER TABLE leaves ADD COLUMN cancelled_by bigint REFERENCES staff (id);
ALTER TABLE leaves ADD CONSTRAINT leaves_state_check
    CHECK (state IN ('requested', 'approved', 'rejected', 'returned', 'cancelled'));
ALTER TABLE leaves ADD CONSTRAINT leaves_decided_has_decider
    CHECK (state IN ('requested', 'cancelled') OR decided_by IS NOT NULL);
ALTER TABLE leaves ADD CONSTRAINT leaves_cancelled_has_time CHECK ((state = 'cancelled') = (cancelled_at IS NOT NULL));
CREATE INDEX leaves_requested_idx ON leaves (person_id) WHERE state = 'requested';
