-- cctrack foundation schema.
--
-- The database itself refuses impossible rows: enumerations are CHECKed, geometry types and SRIDs
-- are fixed by the column type, every relation is a foreign key. Times are timestamptz (UTC on the
-- wire); business rules that need Asia/Shanghai are evaluated by the application.
-- Every hot table carries person_id so that the schema can later be distributed on it (Citus).

CREATE EXTENSION IF NOT EXISTS postgis;

-- Organisations: city bureau (市司法局) -> county bureaus (县区司法局) -> judicial offices (司法所).
CREATE TABLE organisations (
    id          bigserial PRIMARY KEY,
    parent_id   bigint REFERENCES organisations (id),
    kind        text NOT NULL CHECK (kind IN ('city', 'county', 'office')),
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    -- GB/T 2260 administrative division code of the area a bureau covers; offices have none.
    adcode      text CHECK (adcode ~ '^[0-9]{6}$'),
    boundary    geometry(MultiPolygon, 4326) CHECK (boundary IS NULL OR ST_IsValid(boundary)),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Only the city bureau is a root; counties hang off the city, offices off a county
    -- (the kind of the parent is enforced by the trigger below).
    CHECK ((kind = 'city') = (parent_id IS NULL)),
    CHECK (kind = 'office' OR adcode IS NOT NULL),
    UNIQUE (parent_id, name)
);
CREATE UNIQUE INDEX organisations_adcode_key ON organisations (adcode) WHERE adcode IS NOT NULL;
CREATE INDEX organisations_parent_idx ON organisations (parent_id);
CREATE INDEX organisations_boundary_gist ON organisations USING gist (boundary);

CREATE FUNCTION organisations_check_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_kind text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT kind INTO parent_kind FROM organisations WHERE id = NEW.parent_id;
    IF (NEW.kind = 'county' AND parent_kind <> 'city') OR (NEW.kind = 'office' AND parent_kind <> 'county') THEN
        RAISE EXCEPTION 'organisation of kind % cannot have a parent of kind %', NEW.kind, parent_kind
            USING ERRCODE = 'check_violation', CONSTRAINT = 'organisations_parent_kind';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER organisations_parent_kind BEFORE INSERT OR UPDATE OF parent_id, kind ON organisations
    FOR EACH ROW EXECUTE FUNCTION organisations_check_parent();

-- Staff accounts: one organisation, one role. A role sees its organisation's subtree only.
CREATE TABLE staff (
    id               bigserial PRIMARY KEY,
    organisation_id  bigint NOT NULL REFERENCES organisations (id),
    username         text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    display_name     text NOT NULL CHECK (length(btrim(display_name)) > 0),
    role             text NOT NULL CHECK (role IN ('office_staff', 'county_admin', 'city_admin', 'auditor')),
    password_hash    text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    email            text CHECK (email IS NULL OR email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_organisation_idx ON staff (organisation_id);

-- Supervised persons (社区矫正对象).
CREATE TABLE persons (
    id               bigserial PRIMARY KEY,
    office_id        bigint NOT NULL REFERENCES organisations (id),
    name             text NOT NULL CHECK (length(btrim(name)) > 0),
    -- 管制 / 缓刑 / 假释 / 暂予监外执行
    correction_type  text NOT NULL CHECK (correction_type IN ('surveillance', 'probation', 'parole', 'temporary_outside_execution')),
    term_start       date NOT NULL,
    term_end         date NOT NULL,
    -- 宽管 / 普管 / 严管; 重点 is a flag on top of the level, with its own polling interval.
    level            text NOT NULL CHECK (level IN ('lenient', 'ordinary', 'strict')),
    is_key           boolean NOT NULL DEFAULT false,
    key_interval_min smallint CHECK (key_interval_min IN (30, 60)),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'released')),
    -- The scheduler's timer: when the next location request is due.
    next_due_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (term_end >= term_start),
    CHECK (is_key = (key_interval_min IS NOT NULL))
);
CREATE INDEX persons_office_idx ON persons (office_id);
CREATE INDEX persons_next_due_idx ON persons (next_due_at) WHERE status = 'active';

-- The office a person belongs to must be a judicial office, not a bureau.
CREATE FUNCTION persons_check_office() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT kind FROM organisations WHERE id = NEW.office_id) <> 'office' THEN
        RAISE EXCEPTION 'person must belong to a judicial office'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'persons_office_kind';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER persons_office_kind BEFORE INSERT OR UPDATE OF office_id ON persons
    FOR EACH ROW EXECUTE FUNCTION persons_check_office();

-- Legal basis for locating a person: signed consent (手机定位承诺书) or an Art. 29 order,
-- at most 3 months each (an extension is a new row).
CREATE TABLE legal_bases (
    id            bigserial PRIMARY KEY,
    person_id     bigint NOT NULL REFERENCES persons (id),
    kind          text NOT NULL CHECK (kind IN ('consent', 'order')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz,
    document_ref  text NOT NULL CHECK (length(btrim(document_ref)) > 0),
    approved_by   bigint REFERENCES staff (id),
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > starts_at),
    -- 92 days covers every run of three calendar months.
    CHECK (kind <> 'order' OR (ends_at IS NOT NULL AND ends_at - starts_at <= interval '92 days' AND approved_by IS NOT NULL))
);
CREATE INDEX legal_bases_person_idx ON legal_bases (person_id, starts_at);

-- Level assessments: the office proposes, the county approves, the city sees it filed.
CREATE TABLE level_assessments (
    id              bigserial PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES persons (id),
    scores          jsonb NOT NULL CHECK (jsonb_typeof(scores) = 'object'),
    total           integer NOT NULL CHECK (total >= 0),
    proposed_level  text NOT NULL CHECK (proposed_level IN ('lenient', 'ordinary', 'strict')),
    proposed_key    boolean NOT NULL DEFAULT false,
    proposed_by     bigint NOT NULL REFERENCES staff (id),
    proposed_at     timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'approved', 'rejected')),
    decided_by      bigint REFERENCES staff (id),
    decided_at      timestamptz,
    decision_note   text,
    CHECK ((state = 'proposed') = (decided_by IS NULL AND decided_at IS NULL))
);
CREATE INDEX level_assessments_person_idx ON level_assessments (person_id, proposed_at);

-- Devices: a phone enrolled for a person. The token is shown once and stored hashed.
CREATE TABLE devices (
    id             bigserial PRIMARY KEY,
    person_id      bigint NOT NULL REFERENCES persons (id),
    protocol       text NOT NULL CHECK (protocol IN ('native', 'osmand', 'owntracks')),
    enrolment_id   text NOT NULL UNIQUE CHECK (enrolment_id ~ '^[A-Za-z0-9_-]{6,64}$'),
    token_hash     text NOT NULL CHECK (token_hash LIKE '$argon2id$%'),
    default_crs    text NOT NULL DEFAULT 'wgs84' CHECK (default_crs IN ('wgs84', 'gcj02', 'bd09')),
    enrolled_at    timestamptz NOT NULL DEFAULT now(),
    enrolled_by    bigint REFERENCES staff (id),
    retired_at     timestamptz,
    last_contact_at timestamptz,
    CHECK (retired_at IS NULL OR retired_at >= enrolled_at)
);
CREATE INDEX devices_person_idx ON devices (person_id);

-- Fences (电子围栏). Personal fences carry person_id; shared fences (district boundaries,
-- exclusion zones for several persons) have none and list whom they apply to in fence_persons,
-- or apply to every person of their organisation's subtree when applies_to_all.
CREATE TABLE fences (
    id               bigserial PRIMARY KEY,
    person_id        bigint REFERENCES persons (id),
    organisation_id  bigint NOT NULL REFERENCES organisations (id),
    name             text NOT NULL CHECK (length(btrim(name)) > 0),
    kind             text NOT NULL CHECK (kind IN ('inclusion', 'exclusion')),
    shape            text NOT NULL CHECK (shape IN ('area', 'circle', 'corridor')),
    geom             geometry(Geometry, 4326) NOT NULL,
    radius_m         double precision CHECK (radius_m > 0 AND radius_m <= 100000),
    half_width_m     double precision CHECK (half_width_m > 0 AND half_width_m <= 10000),
    -- Weekly windows in Asia/Shanghai local time, e.g. [{"days":[1,2,3,4,5,6,7],"from":"22:00","to":"06:00"}].
    schedule         jsonb CHECK (schedule IS NULL OR jsonb_typeof(schedule) = 'array'),
    applies_to_all   boolean NOT NULL DEFAULT false,
    valid_from       timestamptz,
    valid_to         timestamptz,
    created_by       bigint REFERENCES staff (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz,
    CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    CHECK (
        (shape = 'area' AND GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') AND radius_m IS NULL AND half_width_m IS NULL)
        OR (shape = 'circle' AND GeometryType(geom) = 'POINT' AND radius_m IS NOT NULL AND half_width_m IS NULL)
        OR (shape = 'corridor' AND GeometryType(geom) = 'LINESTRING' AND half_width_m IS NOT NULL AND radius_m IS NULL)
    ),
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from),
    CHECK (person_id IS NULL OR NOT applies_to_all)
);
CREATE INDEX fences_geom_gist ON fences USING gist (geom);
CREATE INDEX fences_person_idx ON fences (person_id) WHERE retired_at IS NULL;

CREATE TABLE fence_persons (
    fence_id   bigint NOT NULL REFERENCES fences (id),
    person_id  bigint NOT NULL REFERENCES persons (id),
    PRIMARY KEY (fence_id, person_id)
);
CREATE INDEX fence_persons_person_idx ON fence_persons (person_id);

-- Leaves (请假外出): an approved leave adds its destination (and route corridor) for its window.
CREATE TABLE leaves (
    id              bigserial PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES persons (id),
    reason          text NOT NULL CHECK (length(btrim(reason)) > 0),
    destination     geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(destination)),
    route           geometry(LineString, 4326),
    route_half_width_m double precision CHECK (route_half_width_m > 0),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'approved', 'rejected', 'returned')),
    requested_by    bigint REFERENCES staff (id),
    decided_by      bigint REFERENCES staff (id),
    decided_at      timestamptz,
    returned_at     timestamptz,
    CHECK (ends_at > starts_at),
    CHECK ((route IS NULL) = (route_half_width_m IS NULL)),
    CHECK (state = 'requested' OR decided_by IS NOT NULL)
);
CREATE INDEX leaves_person_idx ON leaves (person_id, starts_at);

-- Fixes, partitioned by month of the fix time. The primary key (device, time) is the
-- idempotency key for re-sent fixes; per-device sequence numbers are kept in fix_sequences
-- because a unique key on a partitioned table must contain the partition key.
CREATE TABLE fixes (
    person_id    bigint NOT NULL REFERENCES persons (id),
    device_id    bigint NOT NULL REFERENCES devices (id),
    fixed_at     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    position     geometry(Point, 4326) NOT NULL,
    accuracy_m   real CHECK (accuracy_m >= 0 AND accuracy_m < 100000),
    source       text NOT NULL DEFAULT 'gps' CHECK (source IN ('gps', 'network', 'cell', 'unknown')),
    input_crs    text NOT NULL DEFAULT 'wgs84' CHECK (input_crs IN ('wgs84', 'gcj02', 'bd09')),
    battery_pct  smallint CHECK (battery_pct BETWEEN 0 AND 100),
    speed_mps    real CHECK (speed_mps >= 0),
    course_deg   real CHECK (course_deg >= 0 AND course_deg < 360),
    altitude_m   real,
    device_seq   bigint CHECK (device_seq >= 0),
    mock         boolean NOT NULL DEFAULT false,
    CHECK (ST_X(position) BETWEEN -180 AND 180 AND ST_Y(position) BETWEEN -90 AND 90),
    PRIMARY KEY (device_id, fixed_at)
) PARTITION BY RANGE (fixed_at);
CREATE INDEX fixes_person_time_idx ON fixes (person_id, fixed_at);

CREATE TABLE fix_sequences (
    device_id   bigint NOT NULL REFERENCES devices (id),
    device_seq  bigint NOT NULL CHECK (device_seq >= 0),
    fixed_at    timestamptz NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);

-- Creates the monthly partitions of fixes covering [from_month, to_month]; idempotent.
CREATE FUNCTION ensure_fix_partitions(from_month date, to_month date) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', from_month)::date;
    created integer := 0;
    part text;
BEGIN
    WHILE m <= to_month LOOP
        part := format('fixes_%s', to_char(m, 'YYYY_MM'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF fixes FOR VALUES FROM (%L) TO (%L)',
                           part, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;
SELECT ensure_fix_partitions('2026-01-01', '2027-12-01');

-- Location requests issued by the scheduler (or an uncertain verdict) and their answers.
CREATE TABLE location_requests (
    id             bigserial PRIMARY KEY,
    person_id      bigint NOT NULL REFERENCES persons (id),
    device_id      bigint REFERENCES devices (id),
    reason         text NOT NULL CHECK (reason IN ('schedule', 'confirm', 'manual')),
    channel        text NOT NULL DEFAULT 'next_contact' CHECK (channel IN ('next_contact', 'push', 'carrier')),
    issued_at      timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    deadline_at    timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'answered', 'failed', 'cancelled')),
    answered_at    timestamptz,
    answer_fixed_at timestamptz,
    CHECK (deadline_at >= due_at AND due_at >= issued_at - interval '1 day'),
    CHECK ((state = 'answered') = (answered_at IS NOT NULL))
);
CREATE INDEX location_requests_pending_idx ON location_requests (deadline_at) WHERE state = 'pending';
CREATE INDEX location_requests_person_idx ON location_requests (person_id, issued_at);

-- Alarms: persisted state with a history; one open alarm per (person, kind, fence).
CREATE TABLE alarms (
    id                  bigserial PRIMARY KEY,
    person_id           bigint NOT NULL REFERENCES persons (id),
    office_id           bigint NOT NULL REFERENCES organisations (id),
    kind                text NOT NULL CHECK (kind IN ('fence_exit', 'exclusion_entry', 'curfew', 'location_failure',
                                                      'device_silent', 'leave_overdue', 'basis_expiring',
                                                      'mock_location', 'low_battery')),
    fence_id            bigint REFERENCES fences (id),
    state               text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    opened_at           timestamptz NOT NULL,
    cause_fixed_at      timestamptz,
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES staff (id),
    closed_at           timestamptz,
    closed_by           bigint REFERENCES staff (id),
    handling_note       text,
    returned_inside_at  timestamptz,
    overnight           boolean NOT NULL DEFAULT false,
    CHECK ((state IN ('resolved', 'dismissed')) = (closed_at IS NOT NULL)),
    CHECK (state NOT IN ('resolved', 'dismissed') OR (closed_by IS NOT NULL AND length(btrim(handling_note)) > 0)),
    CHECK (state = 'open' OR acknowledged_at IS NOT NULL OR closed_at IS NOT NULL),
    CHECK (kind NOT IN ('fence_exit', 'exclusion_entry', 'curfew') OR fence_id IS NOT NULL)
);
CREATE UNIQUE INDEX alarms_one_open_key ON alarms (person_id, kind, coalesce(fence_id, 0))
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX alarms_office_state_idx ON alarms (office_id, state, opened_at);

-- Fixes attached to an alarm as evidence.
CREATE TABLE alarm_evidence (
    alarm_id   bigint NOT NULL REFERENCES alarms (id),
    person_id  bigint NOT NULL REFERENCES persons (id),
    device_id  bigint NOT NULL,
    fixed_at   timestamptz NOT NULL,
    PRIMARY KEY (alarm_id, device_id, fixed_at),
    FOREIGN KEY (device_id, fixed_at) REFERENCES fixes (device_id, fixed_at)
);

-- Every state change of an alarm: who (NULL = the system), when, and the note.
CREATE TABLE alarm_events (
    id          bigserial PRIMARY KEY,
    alarm_id    bigint NOT NULL REFERENCES alarms (id),
    person_id   bigint NOT NULL REFERENCES persons (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES staff (id),
    from_state  text CHECK (from_state IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    to_state    text NOT NULL CHECK (to_state IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    note        text
);
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, at);

-- Escalation ladder (问题不过夜): each step persisted before it is sent, exactly once per alarm.
CREATE TABLE escalation_steps (
    id          bigserial PRIMARY KEY,
    alarm_id    bigint NOT NULL REFERENCES alarms (id),
    person_id   bigint NOT NULL REFERENCES persons (id),
    step        text NOT NULL CHECK (step IN ('county', 'city', 'overnight')),
    due_at      timestamptz NOT NULL,
    taken_at    timestamptz,
    notified_at timestamptz,
    UNIQUE (alarm_id, step)
);
CREATE INDEX escalation_steps_due_idx ON escalation_steps (due_at) WHERE taken_at IS NULL;

-- Audit log: every read of a trajectory or export, every change by staff.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    staff_id    bigint REFERENCES staff (id),
    action      text NOT NULL CHECK (length(action) > 0),
    subject     text NOT NULL,
    person_id   bigint REFERENCES persons (id),
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- Generated reports (weekly measures, month-end bulletin).
CREATE TABLE reports (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('weekly', 'monthly')),
    organisation_id  bigint NOT NULL REFERENCES organisations (id),
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    generated_at     timestamptz NOT NULL DEFAULT now(),
    summary          jsonb NOT NULL,
    html             text,
    xlsx             bytea,
    emailed_at       timestamptz,
    CHECK (period_end > period_start),
    UNIQUE (kind, organisation_id, period_start)
);
