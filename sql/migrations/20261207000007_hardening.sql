-- Hardening: device changes reach every process at once, login failures are counted where every
-- process sees them, and the audit log can only grow.

-- Every cctrack process caches verified devices; any change of a device (retirement above all)
-- tells them to drop it. The payload is the device id, not its enrolment id: the enrolment id
-- of a Traccar Client is its only credential and must not travel where it could be logged.
CREATE FUNCTION devices_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cctrack_devices', OLD.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER devices_changed AFTER UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_notify();

-- Failed logins, per account (`account:<username>`, whether or not the account exists, so that
-- a lockout does not tell which accounts exist) and per client address (`address:<ip>`).
-- `failures` counts consecutive failures for an account and failures within one lockout period
-- for an address; reaching the limit sets `locked_until`.
CREATE TABLE login_failures (
    key              text PRIMARY KEY CHECK (key ~ '^(account|address):.{1,128}$'),
    failures         integer NOT NULL CHECK (failures >= 0),
    first_failure_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz
);

-- The audit log says from where as well as who, what, whom and when.
ALTER TABLE audit_log ADD COLUMN address text CHECK (address IS NULL OR length(address) <= 64);

-- History is append-only, for cctrack's own connection too: a trigger, not only permissions.
CREATE FUNCTION refuse_rewriting_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: its rows are never updated or deleted', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();
