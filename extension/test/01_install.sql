-- Installation: objects, columns, roles and least privilege.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(42);

SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'c77_secure_db'), '2.1', 'extension version 2.1');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'c77_secure_db'), false, 'not relocatable');
SELECT is((SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'c77_secure_db'),
          'public', 'objects live in the schema it was created in');

SELECT has_table('public', 'c77_secure_db_secure_schemas', 'registry table');
SELECT has_table('public', 'c77_secure_db_auth_tokens', 'token table');
SELECT has_table('public', 'c77_secure_db_operation_audit', 'audit table');
SELECT columns_are('public', 'c77_secure_db_auth_tokens',
    ARRAY['token', 'session_id', 'operation_type', 'table_oid', 'created_at', 'expires_at', 'used'], 'token columns');
SELECT has_column('public', 'c77_secure_db_operation_audit', c, 'audit has ' || c)
FROM unnest(ARRAY['id', 'operation_id', 'schema_name', 'table_name', 'operation_type', 'user_name', 'success', 'error_message',
                  'execution_time_ms', 'created_at', 'record_id', 'content_hash', 'rbac_user_id', 'client_addr', 'application_name']) AS c;

SELECT has_role(r, r || ' exists') FROM unnest(ARRAY['c77_secure_db_readonly', 'c77_secure_db_user', 'c77_secure_db_admin', 'c77_secure_db_monitor']) r;
SELECT ok(pg_has_role('c77_secure_db_admin', 'c77_secure_db_user', 'MEMBER'), 'admin includes user');
SELECT ok(pg_has_role('c77_secure_db_user', 'c77_secure_db_readonly', 'MEMBER'), 'user includes readonly');
SELECT ok(NOT pg_has_role('c77_secure_db_monitor', 'c77_secure_db_user', 'MEMBER'), 'monitor cannot write');

SELECT ok(NOT has_table_privilege(r, 'c77_secure_db_auth_tokens', 'SELECT'), r || ' cannot read tokens')
FROM unnest(ARRAY['c77_secure_db_readonly', 'c77_secure_db_user', 'c77_secure_db_admin', 'c77_secure_db_monitor']) r;
SELECT ok(has_table_privilege('c77_secure_db_readonly', 'c77_secure_db_operation_audit', 'SELECT'), 'readonly reads the audit');
SELECT ok(NOT has_table_privilege('c77_secure_db_admin', 'c77_secure_db_operation_audit', 'INSERT,UPDATE,DELETE'), 'nobody writes the audit directly');
SELECT ok(has_table_privilege('c77_secure_db_monitor', 'c77_secure_db_operation_audit', 'SELECT'), 'monitor reads the audit');
SELECT ok(NOT has_function_privilege('c77_secure_db_readonly', 'c77_secure_db_operation(jsonb)', 'EXECUTE'), 'readonly cannot call the write path');
SELECT ok(has_function_privilege('c77_secure_db_user', 'c77_secure_db_operation(jsonb, boolean, text, text, text)', 'EXECUTE'), 'user calls the write path');
SELECT ok(has_function_privilege('c77_secure_db_monitor', 'c77_secure_db_verify_range(text, text, text, integer, text)', 'EXECUTE'), 'monitor verifies ranges');
SELECT ok(NOT has_function_privilege('c77_secure_db_monitor', 'c77_secure_db_verify_content_hashes(text, text, boolean, integer, boolean, text, text)', 'EXECUTE'),
          'monitor cannot fix hashes');
SELECT ok(NOT has_function_privilege('c77_secure_db_user', 'c77_secure_db_create_auth_token(text)', 'EXECUTE'), 'user cannot mint tokens');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'c77_secure_db'
           WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')), 0,
          'every SECURITY DEFINER function pins search_path');

SELECT * FROM finish();
ROLLBACK;
