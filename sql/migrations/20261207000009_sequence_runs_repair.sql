-- Repair for databases migrated with the first text of 20261129000006 (it was edited after it
-- landed: the runs table got fillfactor 50 and its check on update). cctrack rewrites the
-- recorded checksum of that text to the current one (`tracker::db::migrate`); this brings the
-- schema to match. Both statements are no-ops on a database that ran the current text.
ALTER TABLE fix_sequence_runs SET (fillfactor = 50);
CREATE OR REPLACE TRIGGER fix_sequence_runs_check_on_update AFTER UPDATE ON fix_sequence_runs
    REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION fix_sequence_runs_check();
