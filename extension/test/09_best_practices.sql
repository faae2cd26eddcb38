-- The BEST_PRACTICES.md and USAGE.md snippets that use only this extension, pasted as written.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(7);
CREATE SCHEMA myapp;
SELECT c77_secure_db_manage_secure_schemas('add', 'myapp');
CREATE TABLE myapp.users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE NOT NULL, content_hash TEXT,
    hash_version INTEGER DEFAULT 1, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
SELECT c77_secure_db_operation(jsonb_build_object( 'schema_name', 'myapp', 'table_name', 'users', 'operation', 'insert', 'data', jsonb_build_object('name', 'John', 'email', 'john@example.com') ));

CREATE OR REPLACE FUNCTION security_health_monitor() RETURNS jsonb LANGUAGE plpgsql AS $$ DECLARE v_health jsonb;
v_alerts jsonb[] := '{}';
v_error_rate numeric;
v_token_count integer;
BEGIN
SELECT c77_secure_db_health_check() INTO v_health;
v_error_rate := (v_health->>'error_rate_1h')::numeric;
IF v_error_rate > 5 THEN v_alerts := v_alerts || jsonb_build_object( 'type', 'HIGH_ERROR_RATE', 'severity', 'WARNING', 'value', v_error_rate, 'threshold', 5, 'message', 'Error rate exceeds acceptable threshold' );
END IF;
v_token_count := (v_health->>'active_tokens')::integer;
IF v_token_count > 100 THEN v_alerts := v_alerts || jsonb_build_object( 'type', 'TOKEN_BUILDUP', 'severity', 'WARNING', 'value', v_token_count, 'threshold', 100, 'message', 'Excessive active tokens may indicate issues' );
END IF;
RETURN jsonb_build_object( 'health_status', v_health, 'alerts', v_alerts, 'alert_count', array_length(v_alerts, 1), 'timestamp', now() );
END;
$$;
SELECT lives_ok('SELECT security_health_monitor()', 'security_health_monitor()');

CREATE OR REPLACE VIEW security_anomalies AS SELECT 'High Error Rate User' as anomaly_type, user_name, count(*) as error_count, count(*) * 100.0 / SUM(count(*)) OVER() as error_percentage FROM c77_secure_db_operation_audit WHERE created_at > now() - interval '24 hours' AND success = false GROUP BY user_name HAVING count(*) > 10 UNION ALL SELECT 'Unusual Activity Volume' as anomaly_type, user_name, count(*) as operation_count, NULL as error_percentage FROM c77_secure_db_operation_audit WHERE created_at > now() - interval '1 hour' GROUP BY user_name HAVING count(*) > 100 UNION ALL SELECT 'Off-Hours Activity' as anomaly_type, user_name, count(*) as operation_count, NULL as error_percentage FROM c77_secure_db_operation_audit WHERE created_at > now() - interval '24 hours' AND EXTRACT(hour FROM created_at) NOT BETWEEN 8 AND 18 GROUP BY user_name HAVING count(*) > 5;
SELECT lives_ok('SELECT * FROM security_anomalies ORDER BY anomaly_type, error_count DESC', 'security_anomalies view');

-- performance_monitor() is left out: the snippet nests avg() inside jsonb_agg(), which
-- PostgreSQL refuses ("aggregate function calls cannot be nested") whatever the extension does.

CREATE OR REPLACE FUNCTION validate_security_update() RETURNS jsonb LANGUAGE plpgsql AS $$ DECLARE v_test_results jsonb;
v_health_before jsonb;
v_health_after jsonb;
BEGIN
SELECT c77_secure_db_health_check() INTO v_health_before;
SELECT c77_secure_db_run_all_tests() INTO v_test_results;
SELECT c77_secure_db_health_check() INTO v_health_after;
IF (v_test_results->>'overall_status') != 'ALL_TESTS_PASSED' THEN RAISE EXCEPTION 'Security update validation failed: %', v_test_results->>'overall_status';
END IF;
RETURN jsonb_build_object( 'update_validated', true, 'test_results', v_test_results, 'health_before', v_health_before, 'health_after', v_health_after, 'validation_timestamp', now() );
END;
$$;
SELECT is(validate_security_update() ->> 'update_validated', 'true', 'validate_security_update()');

-- audit_compliance_check() is left out: the snippet has its own bug (it reads "table_name"
-- from jsonb_each(), whose columns are key and value), not a contract of this extension.

-- USAGE.md, token buildup and health.
DO $$
DECLARE
    v_token_count INTEGER;
BEGIN
    SELECT count(*) INTO v_token_count
    FROM c77_secure_db_auth_tokens
    WHERE expires_at > now() AND used = false;
    IF v_token_count > 100 THEN
        RAISE WARNING 'High number of active tokens detected: %', v_token_count;
    END IF;
END $$;
SELECT pass('token buildup check');
SELECT lives_ok($$SELECT count(*) as total_tokens, count(*) FILTER (WHERE expires_at < now()) as expired_tokens,
    count(*) FILTER (WHERE used = true) as used_tokens, max(created_at) as newest_token FROM c77_secure_db_auth_tokens$$, 'token statistics');
SELECT lives_ok($$SELECT operation_type, count(*) as operation_count, avg(execution_time_ms) as avg_time_ms, max(execution_time_ms) as max_time_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_ms) as p95_time_ms FROM c77_secure_db_operation_audit
    WHERE created_at > now() - interval '1 hour' AND execution_time_ms IS NOT NULL GROUP BY operation_type ORDER BY avg_time_ms DESC$$,
    'performance monitoring query');

-- The retention snippet, as a superuser (administrators use c77_secure_db_purge_audit).
DELETE FROM c77_secure_db_operation_audit WHERE created_at < now() - interval '90 days';
SELECT pass('direct audit retention as superuser');
SELECT * FROM finish();
ROLLBACK;
