-- Health, self-tests, token cleanup, retention, the registry, and the monitor role.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(29);

CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigserial PRIMARY KEY, amount numeric(12,2), content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
SELECT c77_secure_db_manage_secure_schemas('add', 'shop');
SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', 'orders', 'operation', 'insert',
                               'data', jsonb_build_object('amount', i))) FROM generate_series(1, 3) i;
SELECT c77_secure_db_operation('{"schema_name":"shop","table_name":"orders","operation":"update","data":{"amount":1}}');

SELECT ok(c77_secure_db_health_check() ?& ARRAY['success', 'extension_version', 'rbac_available', 'secure_schemas_count',
          'active_tokens', 'recent_operations_1h', 'recent_errors_1h', 'error_rate_1h', 'timestamp'], 'documented health keys');
SELECT is(c77_secure_db_health_check() ->> 'extension_version', '2.1', 'health reports version 2.1');
SELECT is((c77_secure_db_health_check() ->> 'rbac_available')::boolean, false, 'rbac_available is truthful');
SELECT is((c77_secure_db_health_check() ->> 'recent_errors_1h')::int, 1, 'one error in the last hour');
SELECT is((c77_secure_db_health_check() ->> 'error_rate_1h')::numeric,
          round(100.0 / (SELECT count(*) FROM c77_secure_db_operation_audit WHERE created_at > now() - interval '1 hour'), 2),
          'error_rate_1h is a percentage');
SELECT is((c77_secure_db_health_check() ->> 'active_tokens')::int, 0, 'no token stays active after an operation');

-- Tokens: the cleanup removes used and expired ones (operations use none; administrative
-- writes and re-hashing do).
INSERT INTO c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at, used)
VALUES (gen_random_uuid(), 'x', 'admin', now() + interval '5 seconds', true),
       (gen_random_uuid(), 'x', 'admin', now() - interval '1 second', false);
SELECT ok(c77_secure_db_cleanup_expired_tokens() >= 2, 'cleanup removes used and expired tokens');
SELECT is((SELECT count(*)::int FROM c77_secure_db_auth_tokens), 0, 'none left');

-- Self-tests pass, and notice a disabled protection trigger.
SELECT is(c77_secure_db_run_all_tests() ->> 'overall_status', 'ALL_TESTS_PASSED', 'run_all_tests passes');
SELECT is(c77_secure_db_run_all_tests() -> 'rbac_tests' ->> 'status', 'SKIPPED', 'RBAC part SKIPPED without c77_rbac');
SELECT is((SELECT count(*)::int FROM pg_namespace WHERE nspname LIKE 'c77_secure_db_selftest_%'), 0, 'self-tests leave nothing behind');
ALTER TABLE shop.orders DISABLE TRIGGER c77_secure_db_protect;
SELECT is(c77_secure_db_run_all_tests() ->> 'overall_status', 'SOME_TESTS_FAILED', 'a disabled trigger fails the run');
SELECT is((SELECT e ->> 'detail' FROM jsonb_array_elements(c77_secure_db_test_security() -> 'results') e
           WHERE e ->> 'test' = 'protection_triggers_enabled'), 'missing or disabled on shop.orders', 'and names the table');
ALTER TABLE shop.orders ENABLE TRIGGER c77_secure_db_protect;
ALTER EVENT TRIGGER c77_secure_db_ddl_guard DISABLE;
SELECT is(c77_secure_db_test_security() ->> 'status', 'FAILED', 'a disabled event trigger fails the security test');
ALTER EVENT TRIGGER c77_secure_db_ddl_guard ENABLE;

-- Retention through the purge function only, audited.
-- (Only a prefix of the sealed chain can go, so the oldest rows are what gets old here.)
UPDATE c77_secure_db_operation_audit SET created_at = now() - interval '100 days';
CREATE TEMP TABLE old_rows AS SELECT count(*)::int AS n FROM c77_secure_db_operation_audit;
SELECT is((c77_secure_db_purge_audit(now() - interval '90 days', (SELECT n - 1 FROM old_rows)) ->> 'deleted_count')::int,
          (SELECT n - 1 FROM old_rows), 'purge deletes one batch');
SELECT is((c77_secure_db_purge_audit(now() - interval '90 days', (SELECT n - 1 FROM old_rows)) ->> 'deleted_count')::int, 1, 'then the rest');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE operation_type = 'purge_audit'), 2, 'each purge is audited');
SELECT is((c77_secure_db_purge_audit(now(), 10) ->> 'success')::boolean, false, 'recent audit rows cannot be purged');

-- The monitor role (the daemon): health, cleanup, read-only verification, audit reads; no writes.
CREATE ROLE daemon LOGIN IN ROLE c77_secure_db_monitor;
SET SESSION AUTHORIZATION daemon;
SELECT lives_ok($$SELECT c77_secure_db_health_check()$$, 'monitor checks health');
SELECT lives_ok($$SELECT c77_secure_db_cleanup_expired_tokens()$$, 'monitor cleans up tokens');
SELECT is((c77_secure_db_verify_range('shop', 'orders', NULL, 100) ->> 'rows_checked')::int, 3, 'monitor verifies ranges');
SELECT lives_ok($$SELECT count(*) FROM c77_secure_db_operation_audit$$, 'monitor reads the audit');
SELECT throws_ok($$SELECT c77_secure_db_operation('{}')$$, '42501', NULL, 'monitor cannot write');
SELECT throws_ok($$SELECT c77_secure_db_purge_audit(now() - interval '1 year')$$, '42501', NULL, 'monitor cannot purge');
SELECT throws_ok($$DELETE FROM c77_secure_db_operation_audit$$, '42501', NULL, 'monitor cannot delete audit rows');
RESET SESSION AUTHORIZATION;

-- Removing a schema takes the protection off, audited.
SELECT is((c77_secure_db_manage_secure_schemas('remove', 'shop') ->> 'success')::boolean, true, 'remove succeeds');
SELECT hasnt_trigger('shop', 'orders', 'c77_secure_db_protect', 'and the trigger is gone');

-- A function merely named like c77_rbac's is never trusted (it would run with the extension's rights).
SELECT c77_secure_db_manage_secure_schemas('add', 'shop');
CREATE FUNCTION public.c77_rbac_can_access(text, text, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SELECT is((c77_secure_db_health_check() ->> 'rbac_available')::boolean, false, 'a look-alike c77_rbac_can_access is not RBAC');
SELECT is(c77_secure_db_operation('{"schema_name":"shop","table_name":"orders","operation":"insert","data":{"amount":1}}', true) ->> 'error',
          'RBAC requested but c77_rbac is not installed', 'and the write path does not call it');
DROP FUNCTION public.c77_rbac_can_access(text, text, text, text);

SELECT * FROM finish();
ROLLBACK;
