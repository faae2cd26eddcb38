#!/usr/bin/env bash
# pg_dump / pg_restore of a database using c77_secure_db keeps the registry, the audit and the
# protection. TAP output, for prove. Needs PG* variables naming a cluster (superuser).
set -uo pipefail
n=0 failed=0
check() { n=$((n + 1)); if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (got '$2', want '$3')"; failed=1; fi; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>&1; }

echo "1..9"
dropdb --if-exists c77_dump_src >/dev/null 2>&1; dropdb --if-exists c77_dump_dst >/dev/null 2>&1
createdb c77_dump_src && createdb c77_dump_dst
q c77_dump_src "CREATE EXTENSION c77_secure_db;
  CREATE SCHEMA shop;
  CREATE TABLE shop.orders (id bigserial PRIMARY KEY, amount numeric(12,2), content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
  SELECT c77_secure_db_manage_secure_schemas('add', 'shop');
  SELECT c77_secure_db_operation(jsonb_build_object('schema_name','shop','table_name','orders','operation','insert',
    'data', jsonb_build_object('amount', i))) FROM generate_series(1, 5) i;
  SELECT c77_secure_db_seal_audit();" >/dev/null

dump=$(mktemp /tmp/c77dump.XXXXXX)
pg_dump -Fc -d c77_dump_src -f "$dump"
pg_restore -d c77_dump_dst "$dump" 2>&1 | grep -v '^$' >&2
rm -f "$dump"

check "registry restored" "$(q c77_dump_dst "SELECT string_agg(schema_name, ',') FROM c77_secure_db_secure_schemas")" "shop"
check "audit restored" "$(q c77_dump_dst "SELECT count(*) FROM c77_secure_db_operation_audit WHERE operation_type = 'insert'")" "5"
check "rows restored and verify" "$(q c77_dump_dst "SELECT c77_secure_db_verify_content_hashes('shop','orders')->>'mismatch_count'")" "0"
check "protection restored" "$(q c77_dump_dst "INSERT INTO shop.orders (amount) VALUES (1)" | grep -c 'Direct modifications not allowed')" "1"
check "the sealed audit chain verifies after restore" "$(q c77_dump_dst "SELECT c77_secure_db_verify_audit_chain()->>'valid'")" "true"
check "generated writers are not dumped" "$(q c77_dump_dst "SELECT count(*) FROM pg_proc WHERE proname LIKE 'c77\\_secure\\_db\\_w\\_%'")" "0"
check "write path works after restore" "$(q c77_dump_dst "SELECT c77_secure_db_operation('{\"schema_name\":\"shop\",\"table_name\":\"orders\",\"operation\":\"insert\",\"data\":{\"amount\":9}}')->>'success'")" "true"
check "audit sequence continues" "$(q c77_dump_dst "SELECT count(DISTINCT id) = count(*) FROM c77_secure_db_operation_audit")" "t"
check "self-tests pass after restore" "$(q c77_dump_dst "SELECT c77_secure_db_run_all_tests()->>'overall_status'")" "ALL_TESTS_PASSED"

dropdb c77_dump_src; dropdb c77_dump_dst
exit $failed
