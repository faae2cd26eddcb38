-- 2.1: table digests, the functions the daemon's table_digest job reads a table through. Row
-- digests cover every column (timestamps and content_hash too), bucket digests follow from
-- them, every attack of a superuser on a row changes them, and only the daemon may read them.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db VERSION '2.0';
SELECT plan(26);

CREATE SCHEMA ledger;
CREATE TABLE ledger.entries (id bigserial PRIMARY KEY, amount numeric(12,2), memo text, content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
CREATE TABLE ledger.pairs (a int, b int, content_hash text, PRIMARY KEY (a, b));
SELECT c77_secure_db_manage_secure_schemas('add', 'ledger');
SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'ledger', 'table_name', 'entries', 'operation', 'insert',
                               'data', jsonb_build_object('amount', i, 'memo', 'm' || i))) FROM generate_series(1, 10) i;
ALTER EXTENSION c77_secure_db UPDATE TO '2.1';
SELECT has_function('c77_secure_db_bucket_digests', ARRAY['text', 'text', 'text[]'], 'the upgrade from 2.0 adds bucket digests');

CREATE TEMP TABLE rows_now AS
SELECT (c77_secure_db_row_digests('ledger', 'entries', NULL, NULL)) AS r;
CREATE TEMP TABLE buckets_now AS
SELECT c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}') AS b;

-- What the functions answer.
SELECT is((SELECT r -> 'keys' FROM rows_now), '["1","2","3","4","5","6","7","8","9","10"]'::jsonb, 'row digests come in key order');
SELECT is((SELECT r ->> 'done' FROM rows_now), 'true', 'and the whole range is done');
SELECT is((SELECT r -> 'row_digests' ->> 0 FROM rows_now),
          (SELECT encode(sha256(record_send(t)), 'hex') FROM ledger.entries t WHERE id = 1),
          'a row digest is sha256 of the row''s binary output');
SELECT is((SELECT jsonb_agg(x ->> 'count') FROM buckets_now, jsonb_array_elements(b -> 'buckets') x), '["3","4","3"]'::jsonb,
          'bounds {NULL,3,7,NULL} are the buckets (-inf,3], (3,7], (7,+inf)');
SELECT is((SELECT b -> 'buckets' -> 1 ->> 'digest' FROM buckets_now),
          (SELECT encode(sha256(decode(string_agg(d, '' ORDER BY n), 'hex')), 'hex')
           FROM rows_now, jsonb_array_elements_text(r -> 'row_digests') WITH ORDINALITY AS x(d, n) WHERE n BETWEEN 4 AND 7),
          'a bucket digest is sha256 of its row digests in key order');
SELECT is(c77_secure_db_row_digests('ledger', 'entries', '3', '7', 2) - 'row_digests',
          '{"success": true, "keys": ["4", "5"], "done": false}', 'a range comes in pages');
SELECT is(c77_secure_db_row_digests('ledger', 'entries', '5', '7', 2) - 'row_digests',
          '{"success": true, "keys": ["6", "7"], "done": true}', 'until its end');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,NULL}') -> 'buckets' -> 0 ->> 'count', '10', 'no bounds: the whole table');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,10,NULL}') -> 'buckets' -> 1,
          jsonb_build_object('count', 0, 'digest', encode(sha256(''), 'hex')), 'an empty bucket has the digest of nothing');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}'), (SELECT b FROM buckets_now), 'the same table, the same digests');

-- Every change a superuser can make past the triggers changes the digests.
SAVEPOINT attack;
SET LOCAL session_replication_role = replica;
UPDATE ledger.entries SET updated_at = updated_at + interval '1 second' WHERE id = 5;
SELECT isnt(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}') -> 'buckets' -> 1, (SELECT b -> 'buckets' -> 1 FROM buckets_now),
            'a changed timestamp changes its bucket');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}') -> 'buckets' -> 0, (SELECT b -> 'buckets' -> 0 FROM buckets_now),
          'and no other');
ROLLBACK TO SAVEPOINT attack;
SET LOCAL session_replication_role = replica;
UPDATE ledger.entries AS t SET memo = 'forged', content_hash = encode(sha256(convert_to(ROW(t.id, t.amount, 'forged', NULL, NULL, NULL, NULL, NULL)::text, 'UTF8')), 'hex')
WHERE id = 2;
SELECT is((c77_secure_db_verify_range('ledger', 'entries', NULL, 100) -> 'mismatches'), '[]', 'a rewrite with its hash recomputed passes verification');
SELECT isnt(c77_secure_db_row_digests('ledger', 'entries', '1', '2') -> 'row_digests' ->> 0,
            (SELECT r -> 'row_digests' ->> 1 FROM rows_now), 'but not the row digest');
ROLLBACK TO SAVEPOINT attack;
SET LOCAL session_replication_role = replica;
DELETE FROM ledger.entries WHERE id = 9;
SELECT is((c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}') -> 'buckets' -> 2 ->> 'count')::int, 2, 'a deleted row leaves its bucket');
ROLLBACK TO SAVEPOINT attack;

-- Bad input gets a clean answer; names are never SQL.
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries; DROP TABLE ledger.entries', '{NULL,NULL}') ->> 'error',
          'Table ledger.entries; DROP TABLE ledger.entries is not a table of a secure schema', 'an injected name is just a missing table');
SELECT is(c77_secure_db_row_digests('pg_catalog', 'pg_authid', NULL, NULL) ->> 'error',
          'Table pg_catalog.pg_authid is not a table of a secure schema', 'tables outside secure schemas are refused');
SELECT is(c77_secure_db_bucket_digests('ledger', 'pairs', '{NULL,NULL}') ->> 'error',
          'Table ledger.pairs has no single-column primary key', 'a composite key is refused');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{3,NULL,7}') ->> 'error',
          'bounds must be a list of at least two keys, NULL only first (no lower bound) or last (no upper bound)', 'NULL inside the bounds is refused');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{4}') ->> 'success', 'false', 'and so is a single bound');
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{3,7}') -> 'buckets', (SELECT jsonb_build_array(b -> 'buckets' -> 1) FROM buckets_now),
          'a closed range alone: the daemon asks for a few buckets at a time');
SELECT is(c77_secure_db_row_digests('ledger', 'entries', NULL, NULL, 0) ->> 'error', 'max_rows must be at least 1', 'and an empty page');
SELECT throws_ok($$SELECT c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,x}')$$, '22P02', NULL,
                 'a boundary that is not a key is an error of its type');

-- Privileges: the daemon's login reads digests; nobody else does.
SELECT b::text AS expected_buckets FROM buckets_now \gset
CREATE ROLE c77_test_daemon LOGIN;
GRANT c77_secure_db_monitor TO c77_test_daemon;
SET LOCAL ROLE c77_test_daemon;
SELECT is(c77_secure_db_bucket_digests('ledger', 'entries', '{NULL,3,7,NULL}'), :'expected_buckets'::jsonb, 'a monitor login reads bucket digests');
RESET ROLE;
CREATE ROLE c77_test_nobody LOGIN;
SET LOCAL ROLE c77_test_nobody;
SELECT throws_ok($$SELECT c77_secure_db_row_digests('ledger', 'entries', NULL, NULL)$$, '42501', NULL, 'PUBLIC may not read row digests');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
