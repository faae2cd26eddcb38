-- 2.1: the audited operations that explain the changes the daemon's table_digest job finds.
-- The audit's record_id is the key as JSON spells it, the job's keys are the key's own text
-- (a timestamp with 'T' or a space, char(n) with or without its padding): they are matched as
-- values of the key's type, so a legitimate write is never taken for tampering.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(12);

CREATE SCHEMA ledger;
CREATE TABLE ledger.ticks (at timestamp PRIMARY KEY, v int, content_hash text);
CREATE TABLE ledger.codes (code char(6) PRIMARY KEY, v int, content_hash text);
SELECT c77_secure_db_manage_secure_schemas('add', 'ledger');
CREATE FUNCTION pg_temp.write(p_table text, p_operation text, p_data jsonb) RETURNS boolean LANGUAGE sql AS $$
    SELECT (c77_secure_db_operation(jsonb_build_object('schema_name', 'ledger', 'table_name', p_table, 'operation', p_operation,
            'primary_key', CASE p_table WHEN 'ticks' THEN 'at' ELSE 'code' END, 'data', p_data)) ->> 'success')::boolean
$$;
SELECT pg_temp.write('ticks', 'insert', '{"at": "2024-05-01 10:00:00", "v": 1}');
SELECT pg_temp.write('ticks', 'update', '{"at": "2024-05-01 10:00:00", "v": 2}');
SELECT pg_temp.write('ticks', 'insert', '{"at": "2024-05-01 11:00:00", "v": 1}');
SELECT pg_temp.write('codes', 'insert', '{"code": "ab", "v": 1}');
SELECT pg_temp.write('codes', 'insert', '{"code": "cd", "v": 1}');
SELECT pg_temp.write('codes', 'delete', '{"code": "cd"}');

SELECT is((SELECT string_agg(record_id, ',' ORDER BY id) FROM c77_secure_db_operation_audit WHERE table_name = 'ticks' AND success),
          '2024-05-01T10:00:00,2024-05-01T10:00:00,2024-05-01T11:00:00', 'the audit holds timestamp keys as JSON spells them');
SELECT is(c77_secure_db_row_digests('ledger', 'ticks', NULL, NULL) -> 'keys', '["2024-05-01 10:00:00", "2024-05-01 11:00:00"]',
          'the table digests hold them as the type''s text');
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks', '{"2024-05-01 10:00:00","2024-05-01 12:00:00"}', 0),
          '{"success": true, "rehashed": false, "operations": [{"key": "2024-05-01 10:00:00", "operations": ["insert", "update"]}]}',
          'a timestamp key is matched by value; a key nobody wrote has no operations');
SELECT is((SELECT string_agg(DISTINCT record_id, ',') FROM c77_secure_db_operation_audit WHERE table_name = 'codes' AND success),
          'ab    ,cd    ', 'the audit holds char(n) keys padded');
SELECT is(c77_secure_db_explaining_operations('ledger', 'codes', '{ab,cd}', 0) -> 'operations',
          '[{"key": "ab", "operations": ["insert"]}, {"key": "cd", "operations": ["delete", "insert"]}]',
          'a char(n) key is matched by value, the vanished row by its delete');

-- Only operations sealed after the given position (or not sealed yet) count.
SELECT (c77_secure_db_seal_audit() ->> 'head_seq')::bigint AS head \gset
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks', '{"2024-05-01 10:00:00"}', :head) -> 'operations', '[]',
          'operations sealed up to the position explain nothing');
SELECT pg_temp.write('ticks', 'update', '{"at": "2024-05-01 10:00:00", "v": 3}');
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks', '{"2024-05-01 10:00:00"}', :head) -> 'operations',
          '[{"key": "2024-05-01 10:00:00", "operations": ["update"]}]', 'an unsealed one does');

-- A record_id that is no value of the key's type explains nothing and breaks nothing.
INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, record_id, success)
VALUES (gen_random_uuid(), 'ledger', 'ticks', 'insert', 'not a time', true),
       (gen_random_uuid(), 'ledger', 'codes', 'insert', 'far too long for char(6)', true);
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks', '{"2024-05-01 11:00:00"}', :head) ->> 'success', 'true',
          'a record_id that is no timestamp is skipped');
SELECT is(c77_secure_db_explaining_operations('ledger', 'codes', '{"far to"}', 0) -> 'operations', '[]',
          'a record_id longer than char(n) is not cut to match');

SELECT c77_secure_db_rehash('ledger', 'ticks');
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks', '{}', :head) ->> 'rehashed', 'true', 'a re-hash of the table is reported');
SELECT is(c77_secure_db_explaining_operations('ledger', 'ticks; DROP TABLE ledger.ticks', '{}', 0) ->> 'error',
          'Table ledger.ticks; DROP TABLE ledger.ticks is not a table of a secure schema', 'names are never SQL');

CREATE ROLE c77_test_nobody LOGIN;
SET LOCAL ROLE c77_test_nobody;
SELECT throws_ok($$SELECT c77_secure_db_explaining_operations('ledger', 'ticks', '{}', 0)$$, '42501', NULL,
                 'PUBLIC may not read the audit through it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
