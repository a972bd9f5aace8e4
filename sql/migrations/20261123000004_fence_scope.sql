-- A shared fence with applies_to_all applies to the persons of its organisation's subtree; the
-- fence cache resolves that set when it loads, so adding a person or moving one to another
-- office changes the fences in force like a fence change does.
CREATE FUNCTION persons_fence_scope_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fence_version SET version = version + 1;
    PERFORM pg_notify('cctrack_fences', '0');
    RETURN NULL;
END $$;
CREATE TRIGGER persons_fence_scope AFTER INSERT OR UPDATE OF office_id ON persons
    FOR EACH STATEMENT EXECUTE FUNCTION persons_fence_scope_notify();
