#!/usr/bin/env bash
# The write path keeps the writers of the shapes it wrote in its backend's memory. A change
# another session commits -- here an expression index calling a non-superuser's function,
# which the write path must refuse to run -- reaches a session whose cache is warm before its
# next write. TAP output, for prove. Needs PG* variables naming a cluster (superuser).
set -uo pipefail
n=0 failed=0
check() { n=$((n + 1)); if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1 (got '$2', want '$3')"; failed=1; fi; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d c77_writer_cache -c "$1" 2>&1; }

echo "1..4"
dropdb --if-exists c77_writer_cache >/dev/null 2>&1
createdb c77_writer_cache
q "CREATE EXTENSION c77_secure_db; CREATE ROLE c77_cache_owner; CREATE SCHEMA shop;
   CREATE TABLE shop.orders (id bigserial PRIMARY KEY, amount numeric(12,2), content_hash text, hash_version integer DEFAULT 1);
   SELECT c77_secure_db_manage_secure_schemas('add', 'shop');
   CREATE FUNCTION public.c77_cache_f(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT \$1';
   ALTER FUNCTION public.c77_cache_f(numeric) OWNER TO c77_cache_owner;" >/dev/null

# One long-lived session: writes, waits for the other session's DDL, writes again.
insert="SELECT c77_secure_db_operation('{\"schema_name\":\"shop\",\"table_name\":\"orders\",\"operation\":\"insert\",\"data\":{\"amount\":1}}') ->> 'success';"
coproc session { psql -X -At -d c77_writer_cache 2>&1; }
session_pid=$session_PID   # bash unsets session_PID as soon as the coprocess ends
echo "$insert" >&"${session[1]}"; read -r -t 30 first <&"${session[0]}"
echo "$insert" >&"${session[1]}"; read -r -t 30 second <&"${session[0]}"
check "the session writes (its cache warm)" "$first$second" "truetrue"

q "CREATE INDEX ON shop.orders (public.c77_cache_f(amount))" >/dev/null
echo "SELECT c77_secure_db_operation('{\"schema_name\":\"shop\",\"table_name\":\"orders\",\"operation\":\"insert\",\"data\":{\"amount\":2}}') ->> 'error';" >&"${session[1]}"
read -r -t 30 refused <&"${session[0]}"
check "after another session's index calling a non-superuser's function, its next write is refused" \
    "$(echo "$refused" | grep -c 'calls functions owned by a non-superuser (public.c77_cache_f(numeric))')" "1"
check "and nothing was written" "$(q "SELECT count(*) FROM shop.orders")" "2"

q "DROP INDEX shop.orders_c77_cache_f_idx" >/dev/null
echo "$insert" >&"${session[1]}"; read -r -t 30 again <&"${session[0]}"
check "once the index is dropped, it writes again" "$again" "true"

exec {session[1]}>&-
wait "$session_pid" 2>/dev/null
dropdb c77_writer_cache
psql -X -q -c "DROP ROLE c77_cache_owner" >/dev/null 2>&1
exit $failed
