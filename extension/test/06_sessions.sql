-- Things that need committed state and a second session: a token minted by another backend
-- authorizes nothing here. Runs in its own database, dropped at the end.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
DROP DATABASE IF EXISTS c77_test_sessions;
CREATE DATABASE c77_test_sessions;
\c c77_test_sessions
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION dblink;
CREATE EXTENSION c77_secure_db;
CREATE SCHEMA vault;
CREATE TABLE vault.items (id bigserial PRIMARY KEY, label text, content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
SELECT c77_secure_db_manage_secure_schemas('add', 'vault') IS NOT NULL AS registered \gset
SELECT c77_secure_db_operation('{"schema_name":"vault","table_name":"items","operation":"insert","data":{"label":"gold"}}') IS NOT NULL AS inserted \gset

SELECT plan(3);
SELECT set_config('c77_secure_db.auth_token',
    (SELECT t FROM dblink(format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                                 split_part(current_setting('unix_socket_directories'), ',', 1), current_user),
                          $$SELECT c77_secure_db_create_auth_token('elsewhere')::text$$) AS x(t text)), false) IS NOT NULL AS stolen \gset
SELECT throws_ok($$UPDATE vault.items SET label = 'lead'$$, '42501', NULL, 'a token minted by another session is refused');
SELECT is((SELECT count(*)::int FROM c77_secure_db_auth_tokens WHERE operation_type = 'elsewhere' AND NOT used), 1,
          'the other session''s token is still unused');
SELECT is((SELECT label FROM vault.items), 'gold', 'nothing changed');
SELECT * FROM finish();

\c postgres
DROP DATABASE c77_test_sessions;
