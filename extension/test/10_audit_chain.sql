-- 2.1: the audit hash chain. An upgrade from a populated 2.0, sealing, set-based verification,
-- each attack of a superuser on sealed rows, and retention that keeps the chain verifiable.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db VERSION '2.0';
SELECT plan(32);

CREATE SCHEMA ledger;
CREATE TABLE ledger.entries (id bigserial PRIMARY KEY, amount numeric(12,2), content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
SELECT c77_secure_db_manage_secure_schemas('add', 'ledger');
SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'ledger', 'table_name', 'entries', 'operation', 'insert',
                               'data', jsonb_build_object('amount', i))) FROM generate_series(1, 20) i;

-- The upgrade, on a populated database.
ALTER EXTENSION c77_secure_db UPDATE TO '2.1';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'c77_secure_db'), '2.1', 'ALTER EXTENSION UPDATE reaches 2.1');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE seal_seq IS NULL),
          (SELECT count(*)::int FROM c77_secure_db_operation_audit), 'rows written under 2.0 start unsealed');
SELECT is((c77_secure_db_operation('{"schema_name":"ledger","table_name":"entries","operation":"update","data":{"id":1,"amount":7}}')
          ->> 'success')::boolean, true, 'the write path works on 2.1');
SELECT is((c77_secure_db_verify_content_hashes('ledger', 'entries') ->> 'mismatch_count')::int, 0, 'and hashes still verify');

-- Sealing.
CREATE TEMP TABLE total AS SELECT count(*)::int AS n FROM c77_secure_db_operation_audit;
SELECT is((c77_secure_db_seal_audit(10) ->> 'sealed')::int, 10, 'sealing takes one batch');
SELECT is((c77_secure_db_seal_audit() ->> 'sealed')::int, (SELECT n - 10 FROM total), 'then the rest');
SELECT is(c77_secure_db_seal_audit() - 'timestamp' - 'head_digest',
          jsonb_build_object('success', true, 'sealed', 0, 'head_seq', (SELECT n FROM total), 'unsealed', 0), 'then nothing is left');
SELECT is(ARRAY(SELECT seal_seq FROM c77_secure_db_operation_audit ORDER BY id),
          ARRAY(SELECT generate_series(1, (SELECT n FROM total))::bigint), 'positions follow the ids, without gaps');
SELECT is((SELECT chain_digest FROM c77_secure_db_operation_audit WHERE seal_seq = 2),
          encode(sha256(convert_to((SELECT chain_digest FROM c77_secure_db_operation_audit WHERE seal_seq = 1)
                                   || (SELECT row_digest FROM c77_secure_db_operation_audit WHERE seal_seq = 2), 'UTF8')), 'hex'),
          'a chain digest is sha256 of the previous one and the row digest, as hex text');
SELECT is(c77_secure_db_verify_audit_chain() - 'timestamp' - 'head_digest' - 'anchor_seq',
          jsonb_build_object('success', true, 'valid', true, 'checked', (SELECT n FROM total), 'first_seq', 1,
                             'last_seq', (SELECT n FROM total), 'breaks', '[]'::jsonb), 'the untouched chain verifies');
SELECT is((c77_secure_db_health_check() ->> 'audit_chain_head_seq')::int, (SELECT n FROM total), 'health reports the chain head');

-- A superuser attacks sealed rows; each attack is undone before the next.
SAVEPOINT attack;
UPDATE c77_secure_db_operation_audit SET success = false WHERE seal_seq = 5;
SELECT is(jsonb_path_query_array(c77_secure_db_verify_audit_chain() -> 'breaks', '$[*].reason'), '["content changed"]', 'a rewritten row is found');
SELECT is((c77_secure_db_verify_audit_chain() -> 'breaks' -> 0 ->> 'seal_seq')::int, 5, 'at its position');
ROLLBACK TO SAVEPOINT attack;

SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
UPDATE c77_secure_db_operation_audit SET success = false WHERE seal_seq = 6;
UPDATE c77_secure_db_operation_audit AS a SET row_digest = c77_secure_db_audit_row_digest(a) WHERE seal_seq = 6;
SELECT is(jsonb_path_query_array(c77_secure_db_verify_audit_chain() -> 'breaks', '$[*] ? (@.seal_seq == 6).reason'), '["chain broken"]',
          'a rewritten row with a recomputed row digest breaks the chain');
ROLLBACK TO SAVEPOINT attack;

DELETE FROM c77_secure_db_operation_audit WHERE seal_seq = 7;
SELECT is(jsonb_path_query_array(c77_secure_db_verify_audit_chain() -> 'breaks', '$[*] ? (@.seal_seq == 8).reason'), '["gap"]',
          'a deleted row leaves a gap');
ROLLBACK TO SAVEPOINT attack;

DELETE FROM c77_secure_db_operation_audit WHERE seal_seq <= 3;
SELECT is(jsonb_path_query_array(c77_secure_db_verify_audit_chain() -> 'breaks', '$[*].reason'), '["gap"]',
          'a prefix deleted without the purge function is a gap at the start');
ROLLBACK TO SAVEPOINT attack;

UPDATE c77_secure_db_operation_audit SET seal_seq = -(seal_seq + 1) WHERE seal_seq >= 9;  -- make room at 9
UPDATE c77_secure_db_operation_audit SET seal_seq = -seal_seq WHERE seal_seq < 0;
INSERT INTO c77_secure_db_operation_audit (operation_id, operation_type, success, seal_seq, row_digest, chain_digest)
VALUES (gen_random_uuid(), 'insert', true, 9, 'forged', 'forged');
SELECT ok(jsonb_path_exists(c77_secure_db_verify_audit_chain() -> 'breaks', '$[*] ? (@.seal_seq == 9)'), 'an inserted row is found');
SELECT is((c77_secure_db_verify_audit_chain() ->> 'valid')::boolean, false, 'and the chain is not valid');
ROLLBACK TO SAVEPOINT attack;
SELECT is((c77_secure_db_verify_audit_chain() ->> 'valid')::boolean, true, 'undone, the chain verifies again');

-- Retention never removes a prefix that does not verify.
-- (Backdating sealed rows is itself a change the chain shows, so the test re-seals from scratch.)
UPDATE c77_secure_db_operation_audit SET created_at = now() - interval '100 days' WHERE seal_seq <= 8;
UPDATE c77_secure_db_operation_audit SET seal_seq = NULL, row_digest = NULL, chain_digest = NULL;
SELECT c77_secure_db_seal_audit();
SAVEPOINT broken;
DELETE FROM c77_secure_db_operation_audit WHERE seal_seq = 4;
SELECT is(left(c77_secure_db_purge_audit(now() - interval '90 days') ->> 'error', 67),
          'Refusing to purge: the audit chain does not verify up to position 8', 'purge refuses to remove a broken prefix');
ROLLBACK TO SAVEPOINT broken;

-- Retention removes a sealed prefix and leaves an anchor the rest continues from.
SELECT is((c77_secure_db_purge_audit(now() - interval '90 days') ->> 'deleted_count')::int, 8, 'purge removes the old sealed prefix');
SELECT is((SELECT seal_seq::int FROM c77_secure_db_audit_anchors), 8, 'and records an anchor at its end');
SELECT is((c77_secure_db_verify_audit_chain() ->> 'valid')::boolean, true, 'the shortened chain verifies from the anchor');
SELECT is((c77_secure_db_verify_audit_chain() ->> 'first_seq')::int, 9, 'starting right after it');
SELECT is((c77_secure_db_verify_audit_chain(12, 14) ->> 'checked')::int, 3, 'a range verifies on its own');
SELECT is((c77_secure_db_purge_audit(now() - interval '90 days') ->> 'deleted_count')::int, 0, 'young rows stay');

-- The digest log's head in the database never goes back.
SELECT is((c77_secure_db_record_digest_head(2, repeat('a', 64)) ->> 'success')::boolean, true, 'a digest head is recorded');
SELECT is(c77_secure_db_record_digest_head(1, repeat('b', 64)) ->> 'error', 'digest entry 1 is older than the recorded entry 2',
          'an older one is refused');
SELECT is((SELECT entry_seq || ':' || left(entry_link, 1) FROM c77_secure_db_digest_head), '2:a', 'and the newest stays');

-- Privileges: the daemon seals and verifies; applications do neither.
SET LOCAL ROLE c77_secure_db_monitor;
SELECT is((c77_secure_db_verify_audit_chain() ->> 'valid')::boolean, true, 'monitor verifies the chain');
SELECT is((c77_secure_db_seal_audit() ->> 'success')::boolean, true, 'monitor seals');
RESET ROLE;
SET LOCAL ROLE c77_secure_db_user;
SELECT throws_ok($$SELECT c77_secure_db_seal_audit()$$, '42501', NULL, 'user cannot seal');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
