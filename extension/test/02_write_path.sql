-- The documented write path, pasted from USAGE.md, and its responses and audit.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(40);

CREATE SCHEMA myapp;
SELECT is((c77_secure_db_manage_secure_schemas('add', 'myapp') ->> 'success')::boolean, true, 'register myapp');
SELECT is(c77_secure_db_manage_secure_schemas('add', 'myapp') ->> 'already_registered', 'true', 'adding twice succeeds and says so');

CREATE TABLE myapp.users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT UNIQUE NOT NULL,
    phone TEXT,
    content_hash TEXT,
    hash_version INTEGER DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ
);
SELECT has_trigger('myapp', 'users', 'c77_secure_db_protect', 'a table created later is protected');

CREATE TEMP TABLE r AS SELECT c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp',
    'table_name', 'users',
    'operation', 'insert',
    'data', jsonb_build_object(
        'name', 'John Doe',
        'email', 'john@example.com',
        'phone', '+1-555-0123'
    )
)) AS j;
SELECT is((j ->> 'success')::boolean, true, 'insert succeeds') FROM r;
SELECT ok(j ?& ARRAY['success', 'operation', 'schema_name', 'table_name', 'rows_affected', 'content_hash', 'execution_time_ms',
                     'operation_id', 'timestamp', 'rbac_check_performed', 'data'], 'insert response has the documented keys') FROM r;
SELECT is(j ->> 'operation', 'insert', 'operation echoed') FROM r;
SELECT is((j ->> 'rows_affected')::int, 1, 'one row affected') FROM r;
SELECT is(j -> 'data' ->> 'id', '1', 'data carries the generated id') FROM r;
SELECT matches(j ->> 'content_hash', '^[0-9a-f]{64}$', 'content_hash is SHA-256 hex') FROM r;
SELECT is((SELECT content_hash FROM myapp.users WHERE id = 1), (SELECT j ->> 'content_hash' FROM r), 'stored hash is the reported one');
SELECT is((SELECT hash_version FROM myapp.users WHERE id = 1), 1, 'hash_version 1');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE operation_type = 'insert' AND success
           AND operation_id = (SELECT (j ->> 'operation_id')::uuid FROM r) AND record_id = '1' AND user_name = session_user), 1,
          'the insert is audited with record id and session user');

-- Update: only the given fields change; the hash and updated_at are recomputed.
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'update',
    'data', jsonb_build_object('id', 1, 'name', 'John Smith', 'phone', '+1-555-9999')
)) ->> 'success')::boolean, true, 'update succeeds');
SELECT is((SELECT name || '|' || email || '|' || phone FROM myapp.users WHERE id = 1), 'John Smith|john@example.com|+1-555-9999',
          'only specified fields are updated');
SELECT isnt((SELECT content_hash FROM myapp.users WHERE id = 1), (SELECT j ->> 'content_hash' FROM r), 'hash recomputed');
SELECT is((c77_secure_db_verify_content_hashes('myapp', 'users') ->> 'mismatch_count')::int, 0, 'hashes verify after update');

-- Upsert: existing key updates, new key inserts.
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'upsert',
    'data', jsonb_build_object('id', 1, 'name', 'John Updated', 'email', 'john.updated@example.com')
)) ->> 'rows_affected')::int, 1, 'upsert of an existing key');
SELECT is((SELECT email FROM myapp.users WHERE id = 1), 'john.updated@example.com', 'upsert updated the row');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'upsert',
    'data', jsonb_build_object('id', 50, 'name', 'New', 'email', 'new@example.com')
)) -> 'data' ->> 'id'), '50', 'upsert of a new key inserts it');

-- Soft delete sets deleted_at; delete removes.
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'soft_delete', 'data', jsonb_build_object('id', 1)
)) ->> 'success')::boolean, true, 'soft delete succeeds');
SELECT isnt((SELECT deleted_at FROM myapp.users WHERE id = 1), NULL, 'soft delete sets deleted_at');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'delete', 'data', jsonb_build_object('id', 1)
)) ->> 'success')::boolean, true, 'hard delete succeeds');
SELECT is((SELECT count(*)::int FROM myapp.users WHERE id = 1), 0, 'hard delete removes the row');

-- Failures: success:false with the documented texts, audited, nothing written.
SELECT is(c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'update', 'data', jsonb_build_object('name', 'Updated Name')
)) ->> 'error', 'Primary key "id" required for update operation', 'documented missing-key error');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE NOT success
           AND error_message = 'Primary key "id" required for update operation'), 1, 'failures are audited');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert', 'data', jsonb_build_object('name', 'dup', 'email', 'new@example.com')
)) ->> 'success')::boolean, false, 'a unique violation is success:false, not an exception');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'update', 'data', jsonb_build_object('id', 999, 'name', 'ghost')
)) ->> 'success')::boolean, false, 'updating a missing row fails');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'merge', 'data', '{}'::jsonb)) ->> 'success')::boolean,
    false, 'unknown operation refused');
SELECT is((c77_secure_db_operation('[1,2]'::jsonb) ->> 'success')::boolean, false, 'non-object data refused');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert', 'data', '"x"'::jsonb)) ->> 'success')::boolean,
    false, 'non-object data field refused');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'public', 'table_name', 'c77_secure_db_operation_audit', 'operation', 'delete', 'data', jsonb_build_object('id', 1))) ->> 'success')::boolean,
    false, 'tables outside secure schemas are refused');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
    'data', jsonb_build_object('name', 'x', 'email', 'y', 'is_admin', true))) ->> 'error'),
    'Column is_admin does not exist in table myapp.users', 'unknown column refused');
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
    'data', jsonb_build_object('name', 'x', 'email', 'x@example.com', 'content_hash', 'forged', 'created_at', '1999-01-01'))) -> 'data' ->> 'content_hash')
    <> 'forged', true, 'caller cannot set security columns');

-- Values with quotes and injection text round-trip as data.
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
    'data', jsonb_build_object('name', $$Robert'); DROP TABLE myapp.users; --$$, 'email', 'bobby@example.com'))) -> 'data' ->> 'name'),
    $$Robert'); DROP TABLE myapp.users; --$$, 'injection text is stored as a value');
SELECT has_table('myapp', 'users', 'and the table is still there');

-- The 3-argument call of the framework examples resolves.
SELECT is((c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
    'data', jsonb_build_object('name', 'Three', 'email', 'three@example.com')), false, 'secure_db_insert') ->> 'success')::boolean,
    true, 'three-argument form');
SELECT is(c77_secure_db_operation(jsonb_build_object(
    'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
    'data', jsonb_build_object('name', 'R', 'email', 'r@example.com')), true, 'secure_db_insert') ->> 'error',
    'RBAC requested but c77_rbac is not installed', 'check_rbac without c77_rbac never skips silently');
SELECT is((SELECT count(*)::int FROM myapp.users WHERE email = 'r@example.com'), 0, 'and writes nothing');

-- The template helper.
SELECT matches(c77_secure_db_get_operation_template('myapp', 'users', 'insert'), '"operation": "insert"', 'insert template');
SELECT matches(c77_secure_db_get_operation_template('myapp', 'users', 'update'), '"id": 0', 'update template names the key');

SELECT * FROM finish();
ROLLBACK;
