-- USAGE.md's "Examples and Use Cases" (e-commerce, healthcare, financial services), as written,
-- in document order, in one database: every statement must run without an SQL error.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
CREATE EXTENSION c77_rbac;
SELECT plan(6);

-- Earlier in USAGE.md ("Setup RBAC Permissions"), in the same database:
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_insert');
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_update');
SELECT c77_rbac_grant_feature('user_manager', 'secure_db_delete');
SELECT c77_rbac_grant_feature('user_viewer', 'secure_db_read');
SELECT c77_rbac_assign_subject('123', 'user_manager', 'department', 'engineering');
SELECT c77_rbac_assign_subject('456', 'user_viewer', 'department', 'sales');

CREATE SCHEMA ecommerce;
SELECT c77_secure_db_manage_secure_schemas('add', 'ecommerce');
CREATE TABLE ecommerce.customers (id BIGSERIAL PRIMARY KEY, email TEXT UNIQUE NOT NULL, first_name TEXT, last_name TEXT, phone TEXT,
    content_hash TEXT, hash_version INTEGER DEFAULT 1, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
CREATE TABLE ecommerce.orders (id BIGSERIAL PRIMARY KEY, customer_id BIGINT REFERENCES ecommerce.customers(id), total_amount DECIMAL(10,2),
    status TEXT DEFAULT 'pending', content_hash TEXT, hash_version INTEGER DEFAULT 1, created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
SELECT c77_rbac_grant_feature('customer_service', 'secure_db_read');
SELECT c77_rbac_grant_feature('customer_service', 'secure_db_update');
SELECT c77_rbac_grant_feature('order_manager', 'secure_db_insert');
SELECT c77_rbac_grant_feature('order_manager', 'secure_db_update');
SELECT c77_rbac_grant_feature('finance_team', 'secure_db_read');
SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'ecommerce', 'table_name', 'customers', 'operation', 'insert',
    'data', jsonb_build_object('email', 'customer@example.com', 'first_name', 'John', 'last_name', 'Doe', 'phone', '+1-555-0123')));
SET "c77_rbac.external_id" TO '123';
SELECT is((c77_secure_db_operation(jsonb_build_object('schema_name', 'ecommerce', 'table_name', 'orders', 'operation', 'insert',
    'data', jsonb_build_object('customer_id', 1, 'total_amount', 99.99, 'status', 'confirmed')), true, 'secure_db_insert') ->> 'success')::boolean,
    true, 'e-commerce: order created with RBAC');
SELECT is((c77_secure_db_operation(jsonb_build_object('schema_name', 'ecommerce', 'table_name', 'orders', 'operation', 'update',
    'data', jsonb_build_object('id', 1, 'status', 'shipped')), true, 'secure_db_update') ->> 'success')::boolean,
    true, 'e-commerce: order status updated');

CREATE SCHEMA healthcare;
SELECT c77_secure_db_manage_secure_schemas('add', 'healthcare');
CREATE TABLE healthcare.patients (id BIGSERIAL PRIMARY KEY, medical_record_number TEXT UNIQUE NOT NULL, first_name TEXT NOT NULL,
    last_name TEXT NOT NULL, date_of_birth DATE, ssn TEXT, content_hash TEXT, hash_version INTEGER DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
COMMENT ON COLUMN healthcare.patients.content_hash IS '{"exclude_hash_columns": ["last_access_date", "access_count"]}';
SELECT c77_rbac_grant_feature('doctor', 'secure_db_insert');
SELECT c77_rbac_grant_feature('doctor', 'secure_db_update');
SELECT c77_rbac_grant_feature('doctor', 'secure_db_read');
SELECT c77_rbac_grant_feature('nurse', 'secure_db_read');
SELECT c77_rbac_grant_feature('nurse', 'secure_db_update');
SELECT c77_rbac_grant_feature('admin', 'secure_db_admin');
SELECT c77_rbac_assign_subject('doctor_001', 'doctor', 'department', 'cardiology');
SELECT c77_rbac_assign_subject('nurse_001', 'nurse', 'department', 'cardiology');
SET "c77_rbac.external_id" TO 'doctor_001';
SELECT is((c77_secure_db_operation(jsonb_build_object('schema_name', 'healthcare', 'table_name', 'patients', 'operation', 'insert',
    'data', jsonb_build_object('medical_record_number', 'MRN-2025-001', 'first_name', 'Jane', 'last_name', 'Smith',
                               'date_of_birth', '1985-03-15', 'ssn', '123-45-6789')),
    true, 'secure_db_insert', 'department', 'cardiology') ->> 'success')::boolean, true, 'healthcare: patient created in scope');
SELECT is((c77_secure_db_verify_content_hashes('healthcare', 'patients') ->> 'mismatch_count')::int, 0, 'healthcare: integrity check');
SELECT user_name AS healthcare_user, operation_type, count(*) AS operation_count, min(created_at) AS first_access, max(created_at) AS last_access
FROM c77_secure_db_operation_audit WHERE schema_name = 'healthcare' AND created_at > now() - interval '30 days'
GROUP BY user_name, operation_type ORDER BY operation_count DESC;

CREATE SCHEMA finance;
SELECT c77_secure_db_manage_secure_schemas('add', 'finance');
CREATE TABLE finance.accounts (id BIGSERIAL PRIMARY KEY, account_number TEXT UNIQUE NOT NULL, account_type TEXT NOT NULL,
    balance DECIMAL(15,2) DEFAULT 0.00, customer_id BIGINT, status TEXT DEFAULT 'active', content_hash TEXT, hash_version INTEGER DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
CREATE TABLE finance.transactions (id BIGSERIAL PRIMARY KEY, account_id BIGINT REFERENCES finance.accounts(id), transaction_type TEXT NOT NULL,
    amount DECIMAL(15,2) NOT NULL, description TEXT, reference_number TEXT UNIQUE, content_hash TEXT, hash_version INTEGER DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(), deleted_at TIMESTAMPTZ);
SELECT c77_rbac_grant_feature('teller', 'secure_db_read');
SELECT c77_rbac_grant_feature('teller', 'secure_db_insert');
SELECT c77_rbac_grant_feature('account_manager', 'secure_db_read');
SELECT c77_rbac_grant_feature('account_manager', 'secure_db_update');
SELECT c77_rbac_grant_feature('supervisor', 'secure_db_delete');
SELECT c77_rbac_grant_feature('auditor', 'secure_db_admin');
SELECT c77_rbac_assign_subject('teller_001', 'teller', 'branch', 'downtown');
SELECT c77_rbac_assign_subject('manager_001', 'account_manager', 'branch', 'downtown');
SET "c77_rbac.external_id" TO 'teller_001';
SELECT is(c77_secure_db_operation(jsonb_build_object('schema_name', 'finance', 'table_name', 'transactions', 'operation', 'insert',
    'data', jsonb_build_object('account_id', 1001, 'transaction_type', 'deposit', 'amount', 500.00, 'description', 'Cash deposit',
                               'reference_number', 'TXN-' || extract(epoch from now())::bigint)),
    true, 'secure_db_insert', 'branch', 'downtown') ->> 'success', 'false', 'finance: account 1001 does not exist, answered, not raised');
DO $$
DECLARE
    v_accounts_result JSONB;
    v_transactions_result JSONB;
BEGIN
    SELECT c77_secure_db_verify_content_hashes('finance', 'accounts') INTO v_accounts_result;
    SELECT c77_secure_db_verify_content_hashes('finance', 'transactions') INTO v_transactions_result;
    IF (v_accounts_result->>'mismatch_count')::INTEGER > 0 THEN
        RAISE EXCEPTION 'CRITICAL: Account data integrity compromise detected!';
    END IF;
    IF (v_transactions_result->>'mismatch_count')::INTEGER > 0 THEN
        RAISE EXCEPTION 'CRITICAL: Transaction data integrity compromise detected!';
    END IF;
    RAISE NOTICE 'Financial data integrity verification passed';
END $$;
SELECT pass('finance: the daily integrity block runs');
SELECT * FROM finish();
ROLLBACK;
