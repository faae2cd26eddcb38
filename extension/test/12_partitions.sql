-- Partitioned tables in a secure schema: writes go through the partitioned table (a token for
-- it covers the partition the row lands in), partitions refuse direct writes like any secure
-- table, and verification through the partitioned table covers every partition.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(11);

CREATE SCHEMA ops;
SELECT c77_secure_db_manage_secure_schemas('add', 'ops');
CREATE TABLE ops.events (id bigint PRIMARY KEY, note text, content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE ops.events_low PARTITION OF ops.events FOR VALUES FROM (0) TO (100);
CREATE TABLE ops.events_high PARTITION OF ops.events FOR VALUES FROM (100) TO (200);

SELECT is((c77_secure_db_operation('{"schema_name":"ops","table_name":"events","operation":"insert","data":{"id": 1, "note": "a"}}')
           ->> 'success')::boolean, true, 'an insert through the partitioned table succeeds');
SELECT is((c77_secure_db_operation('{"schema_name":"ops","table_name":"events","operation":"insert","data":{"id": 150, "note": "b"}}')
           ->> 'success')::boolean, true, 'into another partition too');
SELECT is((SELECT tableoid::regclass::text FROM ops.events WHERE id = 150), 'ops.events_high', 'the row is in its partition');
SELECT is((c77_secure_db_operation('{"schema_name":"ops","table_name":"events","operation":"update","data":{"id": 1, "note": "a2"}}')
           ->> 'success')::boolean, true, 'an update through the partitioned table succeeds');
SELECT is((c77_secure_db_operation('{"schema_name":"ops","table_name":"events","operation":"soft_delete","data":{"id": 150}}')
           ->> 'success')::boolean, true, 'a soft delete too');
SELECT throws_ok($$INSERT INTO ops.events (id, note) VALUES (2, 'direct')$$, '42501', NULL, 'a direct insert into the partitioned table is refused');
SELECT throws_ok($$UPDATE ops.events_low SET note = 'direct' WHERE id = 1$$, '42501', NULL, 'a direct update of a partition is refused');

-- A partition created later is protected as well (its trigger is the partitioned table's).
CREATE TABLE ops.events_top PARTITION OF ops.events FOR VALUES FROM (200) TO (300);
SELECT throws_ok($$INSERT INTO ops.events_top (id, note) VALUES (250, 'direct')$$, '42501', NULL, 'a new partition refuses direct writes');
SELECT is((c77_secure_db_operation('{"schema_name":"ops","table_name":"events","operation":"insert","data":{"id": 250, "note": "c"}}')
           ->> 'success')::boolean, true, 'and takes writes through the partitioned table');

SELECT is((c77_secure_db_verify_content_hashes('ops', 'events') ->> 'mismatch_count')::int, 0, 'every partition verifies through the partitioned table');
SET session_replication_role = replica;
UPDATE ops.events_high SET note = 'tampered' WHERE id = 150;
RESET session_replication_role;
SELECT is(c77_secure_db_verify_content_hashes('ops', 'events') -> 'mismatches' -> 0 ->> 'primary_key_value', '150',
          'a row tampered with in a partition is found through the partitioned table');

SELECT * FROM finish();
ROLLBACK;
