-- Processes drop a cached device only when what a verification depends on changes. Ingest
-- rewrites last_contact_at every half minute per phone; notifying on that evicted every phone
-- before its next report and made each report pay an argon2id verification.
DROP TRIGGER devices_changed ON devices;
CREATE TRIGGER devices_changed AFTER UPDATE OF retired_at, token_hash, enrolment_id, protocol, person_id, default_crs
    ON devices FOR EACH ROW
    WHEN (OLD.retired_at IS DISTINCT FROM NEW.retired_at OR OLD.token_hash IS DISTINCT FROM NEW.token_hash
          OR OLD.enrolment_id IS DISTINCT FROM NEW.enrolment_id OR OLD.protocol IS DISTINCT FROM NEW.protocol
          OR OLD.person_id IS DISTINCT FROM NEW.person_id OR OLD.default_crs IS DISTINCT FROM NEW.default_crs)
    EXECUTE FUNCTION devices_notify();
