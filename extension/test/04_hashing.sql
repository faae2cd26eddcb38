-- Content hashes: the encoding is independent of session settings, unambiguous, honours
-- exclusions, and freshness and verification agree with it.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION c77_secure_db;
SELECT plan(45);

CREATE SCHEMA h;
SELECT c77_secure_db_manage_secure_schemas('add', 'h');
CREATE TABLE h.t (id integer PRIMARY KEY, a text, b text, ts timestamptz, d date, f double precision, iv interval, raw bytea,
    content_hash text, hash_version integer DEFAULT 1, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
    deleted_at timestamptz);

-- The documented encoding, recomputed by hand (see HASHING.md).
-- Columns in table order; the five security columns (always NULL) are the last five fields.
SELECT is(c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x", "b": null}'),
          encode(sha256(convert_to('(1,x,,,,,,,,,,,)', 'UTF8')), 'hex'),
          'hash_version 1 encoding, byte for byte');
SELECT is(c77_secure_db_calculate_content_hash('h', 't',
              '{"id": 2, "a": "say \"hi\", (x)", "b": "", "ts": "2025-01-26T16:00:00+05:30", "f": 0.1, "raw": "\\x00ff"}'),
          encode(sha256(convert_to($$(2,"say ""hi"", (x)","","2025-01-26 10:30:00+00",,0.1,,"\\x00ff",,,,,)$$, 'UTF8')), 'hex'),
          'quoting, empty string, timestamptz in UTC and bytea in hex, byte for byte');
SELECT is((SELECT hash_expression FROM c77_secure_db_table_meta WHERE relid = 'h.t'::regclass),
          $$public.c77_secure_db_row_hash(ROW((@ROW@).id, (@ROW@).a, (@ROW@).b, (@ROW@).ts, (@ROW@).d, (@ROW@).f, (@ROW@).iv, (@ROW@).raw, NULL, NULL, NULL, NULL, NULL))$$,
          'the cached hash expression is the documented one');
-- The C row hash is exactly the SQL expression HASHING.md gives, whatever the row holds.
SELECT is(c77_secure_db_row_hash(r), encode(sha256(convert_to(r::text, 'UTF8')), 'hex'), 'the C row hash equals the SQL expression, row ' || n)
FROM (VALUES (1, ROW(1, 'plain')), (2, ROW(NULL::int, '')), (3, ROW(2, 'quote " comma , paren ) backslash \\ ' || chr(10))),
             (4, ROW(3, 'ünïcödé ✓ 𝄞')), (5, ROW(4, repeat('long', 5000)))) AS v(n, r);
SELECT is(c77_secure_db_row_hash(NULL::record), NULL, 'a NULL row has no hash');
SELECT is(c77_secure_db_row_hash(ROW(1, 'a', 3), '{2}'), c77_secure_db_row_hash(ROW(1, NULL::text, 3)),
          'the listed columns are hashed as NULL');
SELECT throws_ok($$SELECT c77_secure_db_row_hash(ROW(1, 'a'), '{3}')$$, '22023', 'column number 3 is not a column of the row',
                 'a column number out of range is refused');
SELECT isnt(c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": ""}'),
            c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": null}'), 'NULL and empty string differ');
SELECT isnt(c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x,\"b\"=''y''"}'),
            c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x", "b": "y"}'), 'separators inside values are unambiguous');
SELECT isnt(c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "ab", "b": "c"}'),
            c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "a", "b": "bc"}'), 'moving characters between columns changes the hash');
SELECT is(c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x", "content_hash": "zz", "created_at": "2020-01-01", "updated_at": "2021-01-01"}'),
          c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x"}'), 'security columns are not hashed');
SELECT isnt(c77_secure_db_calculate_content_hash('h', 't', '{"id": 2, "a": "x"}'),
            c77_secure_db_calculate_content_hash('h', 't', '{"id": 1, "a": "x"}'), 'the primary key is hashed');

-- Independent of the session's settings.
CREATE TEMP TABLE ref AS SELECT c77_secure_db_calculate_content_hash('h', 't',
    '{"id": 3, "ts": "2025-01-26T10:30:00Z", "d": "2025-01-26", "f": 0.1, "iv": "1 day 2 hours", "raw": "\\x00ff"}') AS hash;
SET LOCAL TimeZone = 'Asia/Kolkata';
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL IntervalStyle = 'iso_8601';
SET LOCAL extra_float_digits = -3;
SET LOCAL bytea_output = 'escape';
SELECT is(c77_secure_db_calculate_content_hash('h', 't',
    '{"id": 3, "ts": "2025-01-26T16:00:00+05:30", "d": "2025-01-26", "f": 0.1, "iv": "1 day 2 hours", "raw": "\\x00ff"}'),
    (SELECT hash FROM ref), 'same hash under other TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output');
SELECT c77_secure_db_operation('{"schema_name":"h","table_name":"t","operation":"insert",
    "data":{"id": 3, "ts": "2025-01-26T10:30:00Z", "d": "2025-01-26", "f": 0.1, "iv": "1 day 2 hours", "raw": "\\x00ff"}}');
RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits; RESET bytea_output;
SELECT is((SELECT content_hash FROM h.t WHERE id = 3), (SELECT hash FROM ref), 'a row written under other settings stores the same hash');
SELECT is((c77_secure_db_verify_content_hashes('h', 't') ->> 'mismatch_count')::int, 0, 'and verifies under default settings');

-- Exclusions from the comment on content_hash; names that do not exist are ignored.
CREATE TABLE h.p (id bigserial PRIMARY KEY, name text, last_login timestamptz, content_hash text, hash_version integer DEFAULT 1,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
COMMENT ON COLUMN h.p.content_hash IS '{"exclude_hash_columns": ["last_login", "no_such_column"]}';
SELECT is(c77_secure_db_calculate_content_hash('h', 'p', '{"id": 1, "name": "n", "last_login": "2025-01-01T00:00:00Z"}'),
          c77_secure_db_calculate_content_hash('h', 'p', '{"id": 1, "name": "n"}'), 'excluded columns do not affect the hash');

-- An excluded column whose domain is NOT NULL does not stop the write path (it is hashed as
-- NULL without building a row that holds NULL there).
CREATE DOMAIN h.required_text AS text NOT NULL;
CREATE TABLE h.dom (id integer PRIMARY KEY, name text, tag h.required_text DEFAULT 'x', content_hash text);
COMMENT ON COLUMN h.dom.content_hash IS '{"exclude_hash_columns": ["tag"]}';
SELECT is((c77_secure_db_operation('{"schema_name":"h","table_name":"dom","operation":"insert","data":{"id": 1, "name": "n", "tag": "t"}}')
           ->> 'success')::boolean, true, 'a NOT NULL domain on an excluded column: the insert succeeds');
SELECT is((SELECT content_hash FROM h.dom), encode(sha256(convert_to('(1,n,,)', 'UTF8')), 'hex'), 'and stores the documented hash');

-- Freshness: the caller's copy against the stored row.
SELECT c77_secure_db_operation('{"schema_name":"h","table_name":"p","operation":"insert","data":{"name":"Jane"}}');
SELECT is((c77_secure_db_check_freshness('h', 'p', '{"id": 1, "name": "Jane"}') ->> 'fresh')::boolean, true, 'fresh copy');
SELECT is((SELECT content_hash FROM h.p WHERE id = 1), c77_secure_db_calculate_content_hash('h', 'p', '{"id": 1, "name": "Jane"}'),
          'the write path and the documented encoding agree on a table with an excluded column');
SELECT ok(c77_secure_db_check_freshness('h', 'p', '{"id": 1, "name": "Jane"}') ?& ARRAY['success', 'id', 'fresh', 'stored_hash',
          'calculated_hash', 'hash_version', 'timestamp'], 'documented freshness keys');
SELECT is((c77_secure_db_check_freshness('h', 'p', '{"id": 1, "name": "Janet"}') ->> 'fresh')::boolean, false, 'stale copy');
SELECT is((c77_secure_db_check_freshness('h', 'p', '{"id": 1}') ->> 'fresh')::boolean, true, 'omitted columns come from the stored row');
SELECT is((c77_secure_db_check_freshness('h', 'p', '{"id": 99, "name": "x"}') ->> 'success')::boolean, false, 'missing record');
SELECT is(c77_secure_db_check_freshness_bulk('h', 'p', '[{"id": 1, "name": "Jane"}, {"id": 1, "name": "X"}, {"id": 42}]')
          - 'results' - 'timestamp',
          '{"success": true, "total_records": 3, "fresh_records": 1, "stale_records": 1, "error_records": 1}'::jsonb, 'bulk freshness summary');

-- A superuser changes a row behind the protection's back.
ALTER TABLE h.p DISABLE TRIGGER c77_secure_db_protect;
UPDATE h.p SET name = 'Mallory' WHERE id = 1;
ALTER TABLE h.p ENABLE TRIGGER c77_secure_db_protect;
SELECT is((c77_secure_db_check_freshness('h', 'p', '{"id": 1, "name": "Jane"}') ->> 'fresh')::boolean, false,
          'a tampered row is never fresh, even for the original values');
SELECT is(c77_secure_db_verify_range('h', 'p', NULL, 10) -> 'mismatches' -> 0 ->> 'primary_key_value', '1', 'verify_range names the row');
SELECT is((c77_secure_db_verify_content_hashes('h', 'p', false, 1) ->> 'mismatch_count')::int, 1, 'batched verification finds it');
SELECT is(c77_secure_db_fix_content_hash('h', 'p', '1', 'not-the-hash-that-was-verified'), NULL,
          'a fix for a row that changed since it was verified rewrites nothing');
SELECT is((c77_secure_db_verify_content_hashes('h', 'p') ->> 'mismatch_count')::int, 1, 'so the row still shows as tampered');
SELECT is((c77_secure_db_verify_content_hashes('h', 'p', true) ->> 'fixed_count')::int, 1, 'an administrator can fix it');
SELECT is((c77_secure_db_verify_content_hashes('h', 'p') ->> 'mismatch_count')::int, 0, 'fixed');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE operation_type = 'fix_hash' AND success), 1, 'the fix is audited');
SELECT is((SELECT count(*)::int FROM c77_secure_db_operation_audit WHERE operation_type = 'fix_hash' AND NOT success), 1, 'and so is the refused one');

-- Registration hashes rows that existed before; until then they are unhashed, not mismatches.
CREATE SCHEMA legacy;
CREATE TABLE legacy.items (id int PRIMARY KEY, label text, content_hash text, hash_version integer DEFAULT 1);
INSERT INTO legacy.items (id, label) VALUES (1, 'a'), (2, 'b');
SELECT is((c77_secure_db_manage_secure_schemas('add', 'legacy') ->> 'rows_hashed')::int, 2, 'registering hashes existing rows');
SELECT is(c77_secure_db_verify_range('legacy', 'items', NULL, 10) - 'last_key',
          '{"success": true, "rows_checked": 2, "unhashed": 0, "done": true, "mismatches": []}'::jsonb, 'and they verify');

-- The write path (trigger) and the set-based expression agree on generated, dropped, array and
-- composite columns.
CREATE TYPE h.pair AS (x int, y text);
CREATE TABLE h.g (id int PRIMARY KEY, gone text, tags text[], p h.pair, c numeric, twice numeric GENERATED ALWAYS AS (c * 2) STORED,
    content_hash text, hash_version integer DEFAULT 1);
SELECT c77_secure_db_operation('{"schema_name":"h","table_name":"g","operation":"insert",
    "data":{"id": 1, "gone": "x", "tags": ["a b", "c,d", null], "p": {"x": 1, "y": "q\"uote"}, "c": 1.5}}');
SELECT c77_secure_db_rehash('h', 'g');
ALTER TABLE h.g DROP COLUMN gone;
SELECT c77_secure_db_operation('{"schema_name":"h","table_name":"g","operation":"insert",
    "data":{"id": 2, "tags": [], "p": {"x": null, "y": ""}, "c": 2}}');
SELECT is((c77_secure_db_verify_content_hashes('h', 'g') ->> 'mismatch_count')::int, 0,
          'rows re-hashed after DROP COLUMN and written after it verify');
SELECT is((SELECT content_hash FROM h.g WHERE id = 2),
          c77_secure_db_calculate_content_hash('h', 'g', '{"id": 2, "tags": [], "p": {"x": null, "y": ""}, "c": 2}'),
          'the trigger and the documented encoding agree with generated, array and composite columns');

-- Splitting a table for parallel verification: about equal key ranges, increasing keys.
CREATE TABLE legacy.many (id int PRIMARY KEY, content_hash text);
ANALYZE legacy.many;
SELECT is(c77_secure_db_split_key_range('legacy', 'many', 4), '[]'::jsonb, 'an empty table is not split');
SET LOCAL session_replication_role = replica;
INSERT INTO legacy.many (id) SELECT i * 3 FROM generate_series(1, 100) i;
RESET session_replication_role;
ANALYZE legacy.many;
SELECT is(c77_secure_db_split_key_range('legacy', 'many', 4), '["75", "150", "225"]'::jsonb, 'four segments of 25 rows');
SELECT is(c77_secure_db_split_key_range('legacy', 'many', 1), '[]'::jsonb, 'one segment needs no boundary');

SELECT * FROM finish();
ROLLBACK;
