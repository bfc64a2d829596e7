-- run_pipeline's lock lives as long as the CALL that took it: an error that
-- ends the CALL anywhere gives it up, and a run the CALL left marked
-- running reads as failed and resumes. (Another session's view of the same
-- is in test/pipeline_sessions.sh.)
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT count(*) FROM normalize.create_demo_source('pipeline_raw', replace => true);
SELECT count(*) FROM normalize.use_sources('pipeline_raw');
CREATE TEMP TABLE runs_before AS SELECT count(*) AS n FROM normalize.pipeline_runs;
-- A statement_timeout while pipeline_begin waits on the run log (here, a
-- trigger that stalls its insert), after it took the lock.
CREATE FUNCTION pg_temp.stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$;
CREATE TRIGGER stall BEFORE INSERT ON normalize.pipeline_runs FOR EACH ROW EXECUTE FUNCTION pg_temp.stall();
SET statement_timeout = '200ms';
CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18');
RESET statement_timeout;
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
SELECT count(*) - (SELECT n FROM runs_before) AS new_runs FROM normalize.pipeline_runs;
DROP TRIGGER stall ON normalize.pipeline_runs;
-- An error between two phases (here, marking the first phase running):
-- the run stays marked running, and reads as failed in the phase it
-- stopped in.
CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
CREATE TRIGGER refuse BEFORE UPDATE ON normalize.pipeline_phases FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();
CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18');
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
SELECT r.status AS recorded, s.status, s.phase, s.error ~ '^the CALL running it \(process \d+\) ended before it finished$' AS stopped
  FROM normalize.pipeline_runs AS r JOIN normalize.pipeline_status AS s USING (run_id)
 ORDER BY run_id DESC LIMIT 1;
DROP TRIGGER refuse ON normalize.pipeline_phases;
-- Called again with the same arguments, it resumes that run; the phase
-- that fails (months => 0) is recorded, and the lock given up.
CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18');
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
SELECT count(*) - (SELECT n FROM runs_before) AS new_runs FROM normalize.pipeline_runs;
SELECT status, phase, error FROM normalize.pipeline_status ORDER BY run_id DESC LIMIT 1;
SELECT string_agg(status, ',' ORDER BY position) AS phases FROM normalize.pipeline_phases
 WHERE run_id = (SELECT max(run_id) FROM normalize.pipeline_runs);
-- The lock on its own: a transaction or subtransaction that took it and
-- aborts gives it up; one that commits keeps it until the transaction that
-- calls pipeline_unlock ends.
BEGIN;
SELECT normalize.pipeline_lock() AS locked, normalize.pipeline_lock_holder() = pg_backend_pid() AS held_here;
ROLLBACK;
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
BEGIN;
SAVEPOINT s;
SELECT normalize.pipeline_lock() AS locked;
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
COMMIT;
SELECT normalize.pipeline_lock() AS locked;
SELECT normalize.pipeline_lock() AS still_locked;
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
BEGIN;
SELECT normalize.pipeline_unlock();
SELECT count(*) AS pipeline_locks_until_commit FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
COMMIT;
SELECT count(*) AS pipeline_locks FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125;
SELECT normalize.pipeline_lock_holder() AS holder;
-- An as_of that the history cannot end at is refused before any phase
-- runs (an invalid months is the history phase's to report).
CALL normalize.run_pipeline(as_of => '4713-11-24 BC');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
CALL normalize.run_pipeline(as_of => '5874897-12-31', months => 12);
CALL normalize.run_pipeline(as_of => 'infinity');
SELECT count(*) - (SELECT n FROM runs_before) AS new_runs FROM normalize.pipeline_runs;
-- A failed run resumes only on the inputs it started with: after a change
-- to a source, the same call starts over, and the old run is superseded.
CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18');
SELECT count(*) - (SELECT n FROM runs_before) AS new_runs FROM normalize.pipeline_runs;
INSERT INTO pipeline_raw.customers (customer_id, name, snapshot_date) VALUES (100000, 'late arrival', '2025-06-18');
CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18');
SELECT count(*) - (SELECT n FROM runs_before) AS new_runs FROM normalize.pipeline_runs;
SELECT r.status, r.error FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 2;
-- Without as_of, the history ends at the sources' latest snapshot.
CALL normalize.run_pipeline(seed => 42, months => 0);
SELECT r.arguments ->> 'as_of' AS as_of FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 1;
SELECT normalize.latest_snapshot('sources'), normalize.latest_snapshot('normalized');
SELECT normalize.latest_snapshot('raw');
DELETE FROM pipeline_raw.customers WHERE customer_id = 100000;
-- Its steps refuse a run that does not exist.
SELECT normalize.pipeline_fail(-1, 'history', 'boom');
SELECT normalize.pipeline_finish(-1);
RESET client_min_messages;
-- Statements in parts ($1 the part from 0, $2 the parts): with more than
-- one process, background workers run them, each part committed on its
-- own, when the transaction has written nothing yet; else the session
-- runs them. The result is the rows written, or the sum of a query's
-- bigint column.
SET normalize.workers = 2;
SELECT normalize.run_in_parts('SELECT ($1 * 10 + $2)::bigint', 3) AS sum_of_parts;
CREATE TABLE public.parts_demo (part integer, parts integer, pid integer);
SELECT normalize.run_in_parts('INSERT INTO public.parts_demo SELECT $1, $2, pg_backend_pid() FROM generate_series(0, $1)', 4) AS rows_written;
SELECT count(*) AS rows, count(DISTINCT part) AS parts, bool_and(pid <> pg_backend_pid()) AS all_by_workers
  FROM public.parts_demo;
-- After the transaction has written, workers would not see what it wrote:
-- the session runs every part, and sees its own row in each.
BEGIN;
INSERT INTO public.parts_demo VALUES (-1, 0, 0);
SELECT normalize.run_in_parts('SELECT count(*) FROM public.parts_demo WHERE part = -1', 3) AS own_row_seen_by_each;
SELECT normalize.run_in_parts('INSERT INTO public.parts_demo SELECT $1, $2, pg_backend_pid()', 2) AS rows_written;
SELECT count(*) AS by_this_session FROM public.parts_demo WHERE parts = 2 AND pid = pg_backend_pid();
ROLLBACK;
-- At repeatable read the session would not see the workers' rows either.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT normalize.run_in_parts('INSERT INTO public.parts_demo SELECT $1, $2, pg_backend_pid()', 2) AS rows_written;
SELECT count(*) AS seen FROM public.parts_demo WHERE parts = 2;
ROLLBACK;
-- A part's error is the caller's, with the part it stopped.
SELECT normalize.run_in_parts('SELECT (1 / ($1 - 1))::bigint', 3);
-- A worker that waits for a lock of this session's would wait forever.
BEGIN;
LOCK TABLE public.parts_demo IN ACCESS SHARE MODE;
SELECT normalize.run_in_parts('ALTER TABLE public.parts_demo ADD COLUMN late integer', 1);
ROLLBACK;
-- The statement and the parts are checked before any worker starts.
SELECT normalize.run_in_parts('SELEC 1', 2);
SELECT normalize.run_in_parts('SELECT 1::bigint', 0);
SELECT normalize.run_in_parts('SELECT 1::bigint', 1025);
SELECT normalize.run_in_parts(NULL, 2) IS NULL AS strict;
SELECT normalize.part_count() AS four_per_process;
SET normalize.workers = 1;
SELECT normalize.part_count() AS one_with_one_process;
RESET normalize.workers;
DROP TABLE public.parts_demo;
-- A phase that failed leaves its staging tables (its workers committed
-- them): the failure's record drops them.
SELECT normalize.discard_staging('widgets');
SELECT normalize.ready_staging_table('accounts');
SELECT normalize.ready_staging_table(NULL) IS NULL AS strict;
SELECT normalize.discard_staging('training') AS nothing_staged;
SELECT normalize.stage_phase('training');
SELECT normalize.discard_staging('training') AS dropped;
SELECT count(*) AS staging_left FROM pg_class AS c
 WHERE c.relnamespace = 'normalize'::regnamespace AND c.relname LIKE 'next\_%';
