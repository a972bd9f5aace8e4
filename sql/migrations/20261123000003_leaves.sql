-- Leaves on the map. An approved leave's destination (and route corridor) become fences of the
-- person, in force for the leave's window: the fence cache, the verdicts and the alarm rules see
-- them like any other inclusion fence, and `leave_id` tells the rules which ones they are.
ALTER TABLE fences ADD COLUMN leave_id bigint REFERENCES leaves (id);
ALTER TABLE fences ADD CONSTRAINT fences_leave_is_temporary_inclusion CHECK (
    leave_id IS NULL
    OR (kind = 'inclusion' AND person_id IS NOT NULL AND schedule IS NULL AND valid_from IS NOT NULL AND valid_to IS NOT NULL)
);
CREATE INDEX fences_leave_idx ON fences (leave_id) WHERE leave_id IS NOT NULL;

-- The first fix at the destination (away from the usual area) within the window: a leave whose
-- person was never seen away cannot be overdue.
ALTER TABLE leaves ADD COLUMN departed_at timestamptz;
ALTER TABLE leaves ADD CONSTRAINT leaves_returned_has_time CHECK ((state = 'returned') = (returned_at IS NOT NULL));
ALTER TABLE leaves ADD CONSTRAINT leaves_return_after_departure CHECK (returned_at IS NULL OR departed_at IS NULL OR returned_at >= departed_at);
CREATE INDEX leaves_open_idx ON leaves (person_id) WHERE state = 'approved';

-- An overdue return is confirmed like a fence exit when its fix is doubtful.
ALTER TABLE location_requests DROP CONSTRAINT location_requests_confirm_kind_check;
ALTER TABLE location_requests ADD CONSTRAINT location_requests_confirm_kind_check
    CHECK (confirm_kind IN ('fence_exit', 'exclusion_entry', 'curfew', 'leave_overdue'));
