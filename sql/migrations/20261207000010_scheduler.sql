-- The scheduler: location requests on each level's interval with their outcome, failure alarms,
-- the escalation ladder copied into each alarm and its steps, e-mail notices through an outbox,
-- calendar jobs, and the leader among several cctrack processes.

-- Polling starts when a legal basis is recorded for an active person who is not being polled
-- (and stops, next_due_at NULL, when the scheduler finds no basis in force at a due time).
CREATE FUNCTION legal_bases_start_polling() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revoked_at IS NULL THEN
        UPDATE persons SET next_due_at = greatest(NEW.starts_at, now())
        WHERE id = NEW.person_id AND status = 'active' AND next_due_at IS NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER legal_bases_start_polling AFTER INSERT ON legal_bases
    FOR EACH ROW EXECUTE FUNCTION legal_bases_start_polling();
UPDATE persons p SET next_due_at = now()
WHERE p.status = 'active' AND p.next_due_at IS NULL
  AND EXISTS (SELECT 1 FROM legal_bases b WHERE b.person_id = p.id AND b.revoked_at IS NULL
              AND b.starts_at <= now() AND (b.ends_at IS NULL OR b.ends_at > now()));

-- Every request keeps its outcome: answered (by a fix, answer_fixed_at; a carrier gateway's
-- answer is a fix with source 'cell'), or failed and why. The person's level and office when it
-- was issued, for the reports (定位成功率 per level, office, county).
ALTER TABLE location_requests ADD COLUMN failure_reason text CHECK (failure_reason IN (
    'no_fix', 'no_contact', 'phone_off', 'no_coverage', 'gateway_error', 'no_gateway', 'expired'));
ALTER TABLE location_requests ADD COLUMN failed_at timestamptz;
ALTER TABLE location_requests ADD CONSTRAINT location_requests_failure_has_reason
    CHECK ((state = 'failed') = (failure_reason IS NOT NULL AND failed_at IS NOT NULL)) NOT VALID;
ALTER TABLE location_requests ADD COLUMN level text CHECK (level IN ('lenient', 'ordinary', 'strict'));
ALTER TABLE location_requests ADD COLUMN is_key boolean;
ALTER TABLE location_requests ADD COLUMN office_id bigint REFERENCES organisations (id);
-- When the carrier gateway was asked (requests of phones that cannot receive commands).
ALTER TABLE location_requests ADD COLUMN gateway_asked_at timestamptz;
CREATE INDEX location_requests_carrier_idx ON location_requests (due_at)
    WHERE state = 'pending' AND channel = 'carrier' AND gateway_asked_at IS NULL;

-- Markers, so that each check runs once per case and each tick costs O(due).
ALTER TABLE legal_bases ADD COLUMN expiry_warned_at timestamptz;
CREATE INDEX legal_bases_order_end_idx ON legal_bases (ends_at)
    WHERE kind = 'order' AND revoked_at IS NULL AND expiry_warned_at IS NULL;
ALTER TABLE leaves ADD COLUMN overdue_checked_at timestamptz;
CREATE INDEX leaves_ending_idx ON leaves (ends_at)
    WHERE state = 'approved' AND departed_at IS NOT NULL AND overdue_checked_at IS NULL;

-- The escalation ladder in force, written by the scheduler's leader from its configuration, and
-- copied into each alarm as it opens: a change of configuration does not rewrite escalations
-- already running.
CREATE TABLE escalation_ladder (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ladder     jsonb NOT NULL CHECK (jsonb_typeof(ladder) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO escalation_ladder (ladder) VALUES
    ('{"urgent_ack_s": 1800, "ack_s": 7200, "city_at": "22:00:00", "late_overnight_s": 7200}');
ALTER TABLE alarms ADD COLUMN ladder jsonb CHECK (ladder IS NULL OR jsonb_typeof(ladder) = 'object');
CREATE FUNCTION alarms_copy_ladder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ladder IS NULL THEN
        NEW.ladder := (SELECT ladder FROM escalation_ladder);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alarms_copy_ladder BEFORE INSERT ON alarms FOR EACH ROW EXECUTE FUNCTION alarms_copy_ladder();

-- Steps: one row per (alarm, step), planned when the alarm opens, taken (with its event and its
-- notices, in one transaction) or cancelled when it falls due.
ALTER TABLE escalation_steps ADD COLUMN cancelled_at timestamptz;
ALTER TABLE escalation_steps ADD CONSTRAINT escalation_steps_taken_or_cancelled
    CHECK (taken_at IS NULL OR cancelled_at IS NULL);
DROP INDEX escalation_steps_due_idx;
CREATE INDEX escalation_steps_due_idx ON escalation_steps (due_at) WHERE taken_at IS NULL AND cancelled_at IS NULL;

-- Where each consumer of the alarm feed has read up to.
CREATE TABLE feed_cursors (
    consumer  text PRIMARY KEY CHECK (length(consumer) > 0),
    position  bigint NOT NULL CHECK (position >= 0),
    moved_at  timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per (alarm, step, recipient), sent with retries and back-off; every
-- outcome is also an event of the alarm. 'sending' is set, and committed, before the mail
-- server is spoken to; 'unsent': no mail server is configured.
CREATE TABLE notices (
    id              bigserial PRIMARY KEY,
    alarm_id        bigint NOT NULL REFERENCES alarms (id),
    person_id       bigint NOT NULL REFERENCES persons (id),
    step            text NOT NULL CHECK (step IN ('county', 'city', 'overnight')),
    recipient       text NOT NULL CHECK (recipient ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    subject         text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unsent')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alarm_id, step, recipient),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notices_due_idx ON notices (next_attempt_at) WHERE state IN ('pending', 'sending');

-- Calendar jobs: the period each ran for last (a run missed while no cctrack was up runs once).
CREATE TABLE calendar_runs (
    job     text PRIMARY KEY CHECK (job IN ('daily_digest', 'weekly', 'month_end')),
    period  text NOT NULL,
    ran_at  timestamptz NOT NULL
);

-- The leader: who holds the scheduler's advisory lock, and when it last ticked.
CREATE TABLE scheduler_leader (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder       text NOT NULL,
    since        timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
