-- The write path's generated writers: created once per statement shape, locked down, safe with
-- hostile column names, and dropped whenever the table changes.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(43);

CREATE SCHEMA w;
CREATE TABLE w.t (id bigserial PRIMARY KEY, name text, r text, content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
SELECT c77_secure_db_manage_secure_schemas('add', 'w');
CREATE FUNCTION pg_temp.op(p_operation text, p_data jsonb, p_table text DEFAULT 't', p_schema text DEFAULT 'w') RETURNS jsonb
LANGUAGE sql AS $$ SELECT c77_secure_db_operation(jsonb_build_object('schema_name', p_schema, 'table_name', p_table,
                                                                      'operation', p_operation, 'data', p_data)) $$;
CREATE FUNCTION pg_temp.writers(p_table regclass) RETURNS integer
LANGUAGE sql AS $$ SELECT count(*)::int FROM c77_secure_db_writers WHERE relid = p_table $$;
CREATE FUNCTION pg_temp.writer_functions() RETURNS integer
LANGUAGE sql AS $$ SELECT count(*)::int FROM pg_proc WHERE proname LIKE 'c77\_secure\_db\_w\_%' $$;

-- One writer per shape, reused.
SELECT is(pg_temp.op('insert', '{"name": "a", "r": "x"}') ->> 'success', 'true', 'insert succeeds');
SELECT is(pg_temp.writers('w.t'), 1, 'it created one writer');
SELECT is(pg_temp.op('insert', '{"name": "b", "r": "y"}') ->> 'success', 'true', 'a second insert of the same shape succeeds');
SELECT is(pg_temp.writers('w.t'), 1, 'and reuses the writer');
SELECT is((SELECT r FROM w.t WHERE name = 'b'), 'y', 'a column named like the writer''s variable is written');
SELECT is(pg_temp.op('insert', '{"name": "c"}') ->> 'success', 'true', 'another key set');
SELECT is(pg_temp.writers('w.t'), 2, 'gets its own writer');
SELECT is(pg_temp.op('upsert', '{"id": 1, "name": "a2"}') ->> 'success', 'true', 'upsert of an existing key');
SELECT is(pg_temp.op('upsert', '{"id": 77, "name": "new"}') -> 'data' ->> 'id', '77', 'upsert of a new key inserts');
SELECT is(pg_temp.op('soft_delete', '{"id": 2}') ->> 'success', 'true', 'soft_delete');
SELECT is(pg_temp.op('delete', '{"id": 77}') ->> 'success', 'true', 'delete');
SELECT is(pg_temp.op('update', '{"id": null, "name": "z"}') ->> 'error', 'Primary key "id" required for update operation',
          'a found writer still checks the key value');
SELECT is((c77_secure_db_verify_content_hashes('w', 't') ->> 'mismatch_count')::int, 0, 'rows written by writers verify');
CREATE TABLE w.nd (id bigserial PRIMARY KEY, name text, content_hash text, hash_version integer DEFAULT 1);
SELECT is(pg_temp.op('insert', '{"name": "a"}', 'nd') ->> 'success', 'true', 'a table without deleted_at is written');
SELECT is(pg_temp.op('soft_delete', '{"id": 1}', 'nd') ->> 'error', 'Table w.nd has no deleted_at column; soft_delete needs one',
          'but refuses soft_delete');
DROP TABLE w.nd;

-- Locked down: the owner's, SECURITY INVOKER (the write path runs them as the table's owner),
-- search_path pinned to pg_catalog, members of the extension, executable by nobody else.
SELECT is((SELECT count(*)::int FROM c77_secure_db_writers x JOIN pg_proc p ON p.oid = x.writer::regprocedure
           WHERE NOT p.prosecdef AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp']
             AND p.proowner = (SELECT extowner FROM pg_extension WHERE extname = 'c77_secure_db')),
          (SELECT count(*)::int FROM c77_secure_db_writers), 'writers are SECURITY INVOKER with search_path pinned to pg_catalog');
SELECT is((SELECT count(*)::int FROM c77_secure_db_writers x JOIN pg_depend d ON d.classid = 'pg_proc'::regclass
           AND d.objid = x.writer::regprocedure AND d.deptype = 'e'), (SELECT count(*)::int FROM c77_secure_db_writers),
          'writers are members of the extension (pg_dump leaves them out)');
SELECT is((SELECT count(*)::int FROM c77_secure_db_writers x
           WHERE has_function_privilege('c77_secure_db_user', x.writer, 'EXECUTE')
              OR has_function_privilege('c77_secure_db_admin', x.writer, 'EXECUTE')), 0, 'nobody else may call a writer');

-- DDL on the table drops its writers (and their functions); the next call sees the new shape.
ALTER TABLE w.t ADD COLUMN note text;
SELECT is(pg_temp.writers('w.t'), 0, 'ADD COLUMN drops the writers');
SELECT is(pg_temp.writer_functions(), 0, 'and their functions');
SELECT is(pg_temp.op('insert', '{"name": "d", "note": "n"}') ->> 'success', 'true', 'the new column can be written');
ALTER TABLE w.t RENAME COLUMN note TO remark;
SELECT is(pg_temp.writers('w.t'), 0, 'RENAME COLUMN drops the writers');
SELECT is(pg_temp.op('insert', '{"name": "e", "note": "n"}') ->> 'error', 'Column note does not exist in table w.t',
          'the old column name is refused');
SELECT is(pg_temp.op('insert', '{"name": "e", "remark": "n"}') ->> 'success', 'true', 'the new name is written');
ALTER TABLE w.t DROP COLUMN remark;
SELECT is(pg_temp.op('insert', '{"name": "f", "remark": "n"}') ->> 'error', 'Column remark does not exist in table w.t',
          'DROP COLUMN: the dropped column is refused');
ALTER TABLE w.t RENAME TO u;
SELECT is(pg_temp.op('insert', '{"name": "g"}') ->> 'error', 'Table w.t does not exist', 'RENAME: the old table name is refused');
SELECT is(pg_temp.op('insert', '{"name": "g"}', 'u') ->> 'success', 'true', 'the new name is written');
ALTER SCHEMA w RENAME TO w2;
SELECT is(pg_temp.op('insert', '{"name": "h"}', 'u') ->> 'error', 'Table w.u does not exist',
          'ALTER SCHEMA RENAME: a writer made under the old names is not used');
ALTER SCHEMA w2 RENAME TO w;
SELECT is(pg_temp.op('insert', '{"name": "h"}', 'u') ->> 'success', 'true', 'renamed back, the table is written again');
DROP TABLE w.u;
SELECT is((SELECT count(*)::int FROM c77_secure_db_writers), 0, 'DROP TABLE drops the writers');
SELECT is(pg_temp.writer_functions(), 0, 'and their functions');

-- An index created later by the table's owner, calling the owner's function, drops the writers;
-- the write path then refuses to run that function with its rights.
CREATE ROLE w_owner;
CREATE TABLE w.o (id bigserial PRIMARY KEY, name text, content_hash text, hash_version integer DEFAULT 1);
ALTER TABLE w.o OWNER TO w_owner;
GRANT USAGE, CREATE ON SCHEMA w TO w_owner;
SELECT is(pg_temp.op('insert', '{"name": "j"}', 'o') ->> 'success', 'true', 'the owner''s table is written');
SET LOCAL ROLE w_owner;
CREATE FUNCTION w.f(p text) RETURNS text LANGUAGE plpgsql IMMUTABLE
AS $$ BEGIN IF p = 'k' THEN RAISE EXCEPTION 'ran as %', current_user; END IF; RETURN p; END $$;
CREATE INDEX ON w.o (w.f(name));
RESET ROLE;
SELECT is(pg_temp.writers('w.o'), 0, 'CREATE INDEX drops the writers');
SELECT matches(pg_temp.op('insert', '{"name": "k"}', 'o') ->> 'error', 'calls functions owned by a non-superuser \(w.f\(text\)\)',
               'and the index''s function is refused, not run');

-- Removing the schema from the registry drops them too, and the write path refuses the table.
CREATE TABLE w.v (id bigserial PRIMARY KEY, name text, content_hash text, hash_version integer DEFAULT 1);
SELECT is(pg_temp.op('insert', '{"name": "i"}', 'v') ->> 'success', 'true', 'a new table is written');
SELECT c77_secure_db_manage_secure_schemas('remove', 'w');
SELECT is(pg_temp.writer_functions(), 0, 'removing the schema from the registry drops the writers');
SELECT is(pg_temp.op('insert', '{"name": "i"}', 'v') ->> 'error', 'Schema w is not a registered secure schema',
          'and the table is refused');

-- Column names made to break out of the generated code are only names.
CREATE SCHEMA h;
CREATE TABLE h.t (id bigserial PRIMARY KEY, "a$$b" text, "x'); DROP TABLE h.t; --" text, "q""uote" text, "$1" text,
    content_hash text, hash_version integer DEFAULT 1);
SELECT c77_secure_db_manage_secure_schemas('add', 'h');
SELECT is(pg_temp.op('insert', jsonb_build_object('a$$b', 'v1', 'x''); DROP TABLE h.t; --', 'v2', 'q"uote', 'v3', '$1', 'v4'), 't', 'h')
          ->> 'success', 'true', 'hostile column names are written');
SELECT is((SELECT "a$$b" || "x'); DROP TABLE h.t; --" || "q""uote" || "$1" FROM h.t), 'v1v2v3v4', 'to the right columns');
SELECT is(pg_temp.op('update', jsonb_build_object('id', 1, 'a$$b', 'w1', 'x''); DROP TABLE h.t; --', 'w2'), 't', 'h')
          -> 'data' ->> 'a$$b', 'w1', 'and updated');

-- At most 100 writers per table; past that the statements run without one.
CREATE TABLE h.many (id bigserial PRIMARY KEY, a int, b int, c int, d int, e int, f int, g int, content_hash text, hash_version integer DEFAULT 1);
SELECT is((SELECT count(*)::int FROM generate_series(1, 127) AS i
           WHERE pg_temp.op('insert', (SELECT jsonb_object_agg(k, i) FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g']) WITH ORDINALITY AS x(k, n)
                                       WHERE i & (1 << (n::int - 1)) <> 0), 'many', 'h') ->> 'success' = 'true'), 127,
          '127 key sets are written');
SELECT is(pg_temp.writers('h.many'), 100, 'by 100 writers and the statement itself');

-- DROP EXTENSION removes every writer.
SET LOCAL client_min_messages = warning;
DROP EXTENSION c77_secure_db CASCADE;
SELECT is(pg_temp.writer_functions(), 0, 'DROP EXTENSION removes the writers');

SELECT * FROM finish();
ROLLBACK;
