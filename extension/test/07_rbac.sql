-- c77_rbac and RBAC-checked operations, then every RBAC example of USAGE.md in document order.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
CREATE EXTENSION c77_rbac;
SELECT plan(30);

-- The companion on its own.
SELECT ok(c77_rbac_grant_feature('clerk', 'secure_db_insert'), 'grant a feature');
SELECT ok(NOT c77_rbac_grant_feature('clerk', 'secure_db_insert'), 'granting twice is a no-op');
SELECT ok(c77_rbac_assign_subject('u1', 'clerk', 'department', 'sales'), 'assign a subject in a scope');
SELECT ok(c77_rbac_can_access('secure_db_insert', 'u1', 'department', 'sales'), 'allowed in its scope');
SELECT ok(NOT c77_rbac_can_access('secure_db_insert', 'u1', 'department', 'finance'), 'denied in another scope');
SELECT ok(c77_rbac_can_access('secure_db_insert', 'u1', NULL, NULL), 'without a scope: any scope counts');
SELECT ok(NOT c77_rbac_can_access('secure_db_update', 'u1', 'department', 'sales'), 'denied a feature the role lacks');
SELECT ok(NOT c77_rbac_can_access('secure_db_insert', 'nobody', NULL, NULL), 'unknown subjects are denied');
SELECT ok(c77_rbac_assign_subject('boss', 'clerk', 'global', 'all'), 'global assignment');
SELECT ok(c77_rbac_can_access('secure_db_insert', 'boss', 'department', 'anything'), 'global/all matches every scope');
SELECT is(c77_rbac_bulk_assign_subjects(ARRAY['u2', 'u3', 'u1'], 'clerk', 'department', 'sales'), 2, 'bulk assignment counts new ones');
SELECT ok(c77_rbac_can_access('secure_db_insert', 'u3', 'department', 'sales'), 'bulk-assigned subject allowed');
SELECT is((SELECT count(*)::int FROM c77_rbac_user_permissions WHERE external_id = 'u1'), 1, 'the permissions view');
SELECT ok(c77_rbac_revoke_subject_role('u1', 'clerk', 'department', 'sales'), 'revoke a subject''s role');
SELECT ok(NOT c77_rbac_can_access('secure_db_insert', 'u1', 'department', 'sales'), 'and access is gone');
SELECT ok(c77_rbac_revoke_feature('clerk', 'secure_db_insert'), 'revoke a feature');
SELECT ok(NOT c77_rbac_can_access('secure_db_insert', 'u2', 'department', 'sales'), 'and nobody with the role has it');
SELECT throws_like($$SELECT c77_rbac_assign_subject('', 'clerk', 'department', 'sales')$$, '%external_id must not be empty%', 'empty ids refused');
SELECT throws_like($$SELECT c77_rbac_grant_feature('clerk', NULL)$$, '%feature must not be empty%', 'NULL feature refused');

-- Through c77_secure_db.
SELECT is((c77_secure_db_health_check() ->> 'rbac_available')::boolean, true, 'health reports rbac_available');
CREATE SCHEMA myapp;
SELECT c77_secure_db_manage_secure_schemas('add', 'myapp');
CREATE TABLE myapp.users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE NOT NULL, phone TEXT,
    content_hash TEXT, hash_version INTEGER DEFAULT 1, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);

-- USAGE.md, "Setup RBAC Permissions" and "Using RBAC-Protected Operations".
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_insert');
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_update');
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_delete');
SELECT c77_rbac_grant_feature('user_viewer', 'secure_db_read');
SELECT c77_rbac_assign_subject('123', 'user_manager', 'department', 'engineering');
SELECT c77_rbac_assign_subject('456', 'user_viewer', 'department', 'sales');
SET LOCAL "c77_rbac.external_id" TO '';
SELECT is(c77_secure_db_operation('{"schema_name":"myapp","table_name":"users","operation":"insert","data":{"name":"x","email":"x@x"}}', true, 'secure_db_insert')
          - 'timestamp' - 'operation_id',
          '{"success": false, "error": "RBAC enabled but no user context set", "hint": "Set c77_rbac.external_id session variable"}'::jsonb,
          'documented no-context answer');
SET LOCAL "c77_rbac.external_id" TO '123';
CREATE TEMP TABLE r AS SELECT c77_secure_db_operation(
    jsonb_build_object('schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert',
        'data', jsonb_build_object('name', 'Jane Doe', 'email', 'jane@example.com')),
    true, 'secure_db_insert', 'department', 'engineering') AS j;
SELECT is((SELECT j - 'timestamp' - 'operation_id' - 'content_hash' - 'execution_time_ms' - 'data' FROM r),
          '{"success": true, "operation": "insert", "schema_name": "myapp", "table_name": "users", "rows_affected": 1,
            "rbac_check_performed": true, "rbac_user_id": "123", "required_feature": "secure_db_insert"}'::jsonb,
          'documented success answer');
SET LOCAL "c77_rbac.external_id" TO '456';
SELECT is(c77_secure_db_operation('{"schema_name":"myapp","table_name":"users","operation":"soft_delete","data":{"id":1}}', true, 'secure_db_delete')
          - 'timestamp' - 'operation_id',
          '{"success": false, "error": "Insufficient permissions", "required_feature": "secure_db_delete", "user_id": "456"}'::jsonb,
          'documented denial answer');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE NOT success AND error_message = 'Insufficient permissions'
           AND rbac_user_id = '456' AND required_feature = 'secure_db_delete'), 1, 'denials are audited');
SET LOCAL "c77_rbac.external_id" TO '123';
SELECT is(c77_secure_db_operation('{"schema_name":"myapp","table_name":"users","operation":"delete","data":{"id":1}}', true) ->> 'required_feature',
          'secure_db_hard_delete', 'a hard delete without an explicit feature needs secure_db_hard_delete');
SET LOCAL "c77_rbac.external_id" TO '456';
SELECT is((c77_secure_db_check_freshness('myapp', 'users', '{"id": 1}', true, 'department', 'sales') ->> 'success')::boolean, true,
          'secure_db_read allows an RBAC-checked freshness check');
SET LOCAL "c77_rbac.external_id" TO '123';
SELECT is(c77_secure_db_check_freshness('myapp', 'users', '{"id": 1}', true) ->> 'required_feature', 'secure_db_read',
          'without secure_db_read the freshness check is denied');
SELECT is(c77_secure_db_verify_content_hashes('myapp', 'users', false, 1000, true) ->> 'error', 'Insufficient permissions',
          'RBAC-checked verification needs secure_db_admin');
SELECT is(c77_secure_db_run_all_tests() ->> 'overall_status', 'ALL_TESTS_PASSED', 'self-tests pass with RBAC');
SELECT is(c77_secure_db_test_rbac_integration() ->> 'status', 'PASSED', 'and the RBAC self-test ran');
SELECT * FROM finish();
ROLLBACK;
