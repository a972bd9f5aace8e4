-- fixes is the hottest table, and its per-row foreign keys cost about 40 % of ingest's INSERT
-- (each is a query per row). They are replaced by one set-based check per statement, which is
-- stronger besides (the device must belong to the fix's person), and by refusing what could
-- orphan a fix: persons and devices are never deleted (a person is released, a device retired)
-- and a device never changes hands. The refusals keep the foreign-key SQLSTATE (23503).
ALTER TABLE fixes DROP CONSTRAINT fixes_person_id_fkey, DROP CONSTRAINT fixes_device_id_fkey;
ALTER TABLE fix_sequences DROP CONSTRAINT fix_sequences_device_id_fkey;

CREATE FUNCTION fixes_check_device_of_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n
               WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = n.device_id AND d.person_id = n.person_id)) THEN
        RAISE EXCEPTION 'a fix must come from a device of its person' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fixes_device_of_person_on_insert AFTER INSERT ON fixes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fixes_check_device_of_person();
CREATE TRIGGER fixes_device_of_person_on_update AFTER UPDATE ON fixes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fixes_check_device_of_person();

CREATE FUNCTION fix_sequences_check_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = n.device_id)) THEN
        RAISE EXCEPTION 'a sequence number must belong to a device' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fix_sequences_device_on_insert AFTER INSERT ON fix_sequences REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fix_sequences_check_device();

CREATE FUNCTION refuse_deleting_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are never deleted (fixes refer to them): release a person, retire a device', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END $$;
CREATE TRIGGER persons_never_deleted BEFORE DELETE OR TRUNCATE ON persons
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_deleting_referenced();
CREATE TRIGGER devices_never_deleted BEFORE DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_deleting_referenced();

CREATE FUNCTION devices_keep_their_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.person_id <> OLD.person_id THEN
        RAISE EXCEPTION 'a device never changes hands: retire it and enrol another' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER devices_keep_their_person BEFORE UPDATE OF person_id ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_keep_their_person();
