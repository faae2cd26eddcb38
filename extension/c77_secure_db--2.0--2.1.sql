-- c77_secure_db 2.0 -> 2.1: the audit hash chain, and a write path with cached plans (at the end).
--
-- Every audit row, once *sealed*, carries its position in the chain (seal_seq), the SHA-256 of
-- its own content (row_digest) and a chain digest: SHA-256 of the previous sealed row's chain
-- digest followed by its own row digest. Rewriting, deleting or inserting a sealed row breaks
-- the chain at that position, and c77_secure_db_verify_audit_chain() finds it.
--
-- Sealing is not part of the write path, which stays as fast as in 2.0: writers insert
-- unsealed rows, and c77_secure_db_seal_audit() (the daemon calls it on a schedule) appends the
-- committed ones to the chain in batches. The chain's order is the order of sealing, so a
-- transaction that commits late is simply sealed later; nothing waits for it.
--
-- Only a sealed prefix of the chain can be removed, and only by c77_secure_db_purge_audit(),
-- which first records an anchor (the last removed position and its chain digest) so that the
-- shortened chain still verifies from there. Any other removal leaves a gap that verification
-- reports.
--
-- A superuser can still recompute the whole chain after rewriting history; that is why the
-- daemon keeps signed copies of the chain head outside the database.

\echo Use "ALTER EXTENSION c77_secure_db UPDATE TO '2.1'" to load this file. \quit

ALTER TABLE c77_secure_db_operation_audit
    ADD COLUMN seal_seq     bigint,   -- position in the chain, from 1; NULL until sealed
    ADD COLUMN row_digest   text,     -- c77_secure_db_audit_row_digest() of the row when sealed
    ADD COLUMN chain_digest text;     -- sha256(previous chain_digest || row_digest), hex
CREATE UNIQUE INDEX c77_secure_db_audit_seal_idx ON c77_secure_db_operation_audit (seal_seq);
CREATE INDEX c77_secure_db_audit_unsealed_idx ON c77_secure_db_operation_audit (id) WHERE seal_seq IS NULL;

-- Where the chain starts after its prefix was purged: one row per purge, the newest wins.
CREATE TABLE c77_secure_db_audit_anchors (
    seal_seq     bigint PRIMARY KEY,             -- the last position removed
    chain_digest text NOT NULL,                  -- its chain digest, which the next row continues
    removed_rows bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by   text NOT NULL DEFAULT session_user
);
SELECT pg_catalog.pg_extension_config_dump('c77_secure_db_audit_anchors', '');
GRANT SELECT ON c77_secure_db_audit_anchors TO c77_secure_db_admin, c77_secure_db_monitor;

-- The digest of one audit row: SHA-256 of the record text of its content columns (all but the
-- three chain columns), as HASHING.md describes for content hashes. Inlined into its callers,
-- which fix the settings the text output depends on.
CREATE FUNCTION c77_secure_db_audit_row_digest(a c77_secure_db_operation_audit) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT @extschema@.c77_secure_db_row_hash(ROW(a.id, a.operation_id, a.schema_name, a.table_name,
           a.operation_type, a.record_id, a.content_hash, a.success, a.error_message, a.execution_time_ms, a.user_name,
           a.rbac_user_id, a.required_feature, a.client_addr, a.application_name, a.details, a.created_at))
$$;

-- The chain digest that follows p_previous for a row whose digest is p_row.
CREATE FUNCTION c77_secure_db_audit_chain_step(p_previous text, p_row text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_previous OPERATOR(pg_catalog.||) p_row, 'UTF8')), 'hex') $$;

-- How many audit rows wait to be sealed, counted up to p_cap (so that a large backlog costs
-- no more than p_cap index entries to report).
CREATE FUNCTION c77_secure_db_audit_unsealed(p_cap integer DEFAULT 100000) RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.count(*) FROM (SELECT FROM @extschema@.c77_secure_db_operation_audit AS a
                                      WHERE a.seal_seq IS NULL LIMIT p_cap) AS waiting
$$;

-- The chain's current head: its last sealed position and chain digest; after a purge of the
-- whole chain, the anchor; before anything was sealed, position 0 and 64 zeros.
CREATE FUNCTION c77_secure_db_audit_chain_head(OUT seal_seq bigint, OUT chain_digest text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT a.seal_seq, a.chain_digest INTO seal_seq, chain_digest
    FROM @extschema@.c77_secure_db_operation_audit AS a WHERE a.seal_seq IS NOT NULL ORDER BY a.seal_seq DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT n.seal_seq, n.chain_digest INTO seal_seq, chain_digest
        FROM @extschema@.c77_secure_db_audit_anchors AS n ORDER BY n.seal_seq DESC LIMIT 1;
    END IF;
    IF seal_seq IS NULL THEN
        seal_seq := 0;
        chain_digest := repeat('0', 64);
    END IF;
END
$$;

-- Appends up to p_max_rows committed, unsealed audit rows to the chain, in id order. One
-- sealer at a time (a second waits). Returns {"success", "sealed", "head_seq",
-- "head_digest", "unsealed"} — unsealed: rows still waiting (counted up to 100000).
CREATE FUNCTION c77_secure_db_seal_audit(p_max_rows integer DEFAULT 10000) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '30s' 
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_head record;
    v_seq bigint;
    v_chain text;
    v_row record;
    v_ids bigint[] := '{}';
    v_seqs bigint[] := '{}';
    v_rows text[] := '{}';
    v_chains text[] := '{}';
BEGIN
    IF p_max_rows IS NULL OR p_max_rows < 1 THEN
        RETURN jsonb_build_object('success', false, 'error', 'max_rows must be at least 1', 'timestamp', now());
    END IF;
    LOCK TABLE @extschema@.c77_secure_db_audit_anchors IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO v_head FROM @extschema@.c77_secure_db_audit_chain_head();
    v_seq := v_head.seal_seq;
    v_chain := v_head.chain_digest;
    FOR v_row IN
        SELECT a.id, @extschema@.c77_secure_db_audit_row_digest(a) AS digest
        FROM @extschema@.c77_secure_db_operation_audit AS a
        WHERE a.seal_seq IS NULL ORDER BY a.id LIMIT p_max_rows
    LOOP
        v_seq := v_seq + 1;
        v_chain := @extschema@.c77_secure_db_audit_chain_step(v_chain, v_row.digest);
        v_ids := v_ids || v_row.id;
        v_seqs := v_seqs || v_seq;
        v_rows := v_rows || v_row.digest;
        v_chains := v_chains || v_chain;
    END LOOP;
    UPDATE @extschema@.c77_secure_db_operation_audit AS a
    SET seal_seq = s.seq, row_digest = s.digest, chain_digest = s.chain
    FROM unnest(v_ids, v_seqs, v_rows, v_chains) AS s(id, seq, digest, chain)
    WHERE a.id = s.id;
    RETURN jsonb_build_object(
        'success', true, 'sealed', cardinality(v_ids), 'head_seq', v_seq, 'head_digest', v_chain,
        'unsealed', @extschema@.c77_secure_db_audit_unsealed(),
        'timestamp', now());
END
$$;

-- Verifies the sealed chain from position p_from_seq (default: its start) to p_to_seq
-- (default: its head), set-based. Read-only.
--
-- Returns {"success", "valid", "checked", "first_seq", "last_seq", "head_digest",
-- "anchor_seq", "breaks": [{"seal_seq", "id", "reason"}]} with at most p_max_breaks breaks.
-- A break is one of:
--   "content changed"  the row's digest no longer matches its content (rewritten row);
--   "chain broken"     its chain digest does not follow from the previous one (rewritten
--                      digests, or a row inserted or removed and the chain recomputed after it);
--   "gap"              positions are missing before it (rows deleted; at the start of the
--                      chain: it does not continue the newest purge anchor).
CREATE FUNCTION c77_secure_db_verify_audit_chain(
    p_from_seq bigint DEFAULT NULL, p_to_seq bigint DEFAULT NULL, p_max_breaks integer DEFAULT 100
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_anchor record;
    v_start bigint;
    v_previous record;
    v_result jsonb;
    v_attempt integer := 0;
BEGIN
  -- Each statement sees the rows committed when it starts; a purge that commits between them
  -- would look like a gap at the start. So: again, if the newest anchor moved meanwhile.
  LOOP
    v_attempt := v_attempt + 1;
    SELECT n.seal_seq, n.chain_digest INTO v_anchor FROM @extschema@.c77_secure_db_audit_anchors AS n ORDER BY n.seal_seq DESC LIMIT 1;
    v_start := greatest(coalesce(p_from_seq, 1), coalesce(v_anchor.seal_seq + 1, 1));
    -- What the first checked row continues: the row before it, or the anchor, or the genesis.
    -- (If that row is missing, the first checked row shows a gap.)
    SELECT a.seal_seq, a.chain_digest INTO v_previous
    FROM @extschema@.c77_secure_db_operation_audit AS a WHERE a.seal_seq = v_start - 1;
    IF NOT FOUND AND v_start - 1 = coalesce(v_anchor.seal_seq, 0) THEN
        SELECT coalesce(v_anchor.seal_seq, 0) AS seal_seq, coalesce(v_anchor.chain_digest, repeat('0', 64)) AS chain_digest
        INTO v_previous;
    ELSIF NOT FOUND THEN
        SELECT NULL::bigint AS seal_seq, NULL::text AS chain_digest INTO v_previous;
    END IF;

    WITH chain AS (
        SELECT a.seal_seq, a.id, a.row_digest, a.chain_digest,
               @extschema@.c77_secure_db_audit_row_digest(a) AS content_digest,
               coalesce(lag(a.seal_seq) OVER w, v_previous.seal_seq) AS previous_seq,
               CASE WHEN lag(a.seal_seq) OVER w IS NULL THEN v_previous.chain_digest ELSE lag(a.chain_digest) OVER w END AS previous_chain
        FROM @extschema@.c77_secure_db_operation_audit AS a
        WHERE a.seal_seq >= v_start AND (p_to_seq IS NULL OR a.seal_seq <= p_to_seq)
        WINDOW w AS (ORDER BY a.seal_seq)
    ), breaks AS (
        SELECT seal_seq, id,
               CASE WHEN previous_seq IS DISTINCT FROM seal_seq - 1 THEN 'gap'
                    WHEN content_digest IS DISTINCT FROM row_digest THEN 'content changed'
                    WHEN chain_digest IS DISTINCT FROM @extschema@.c77_secure_db_audit_chain_step(previous_chain, row_digest) THEN 'chain broken'
               END AS reason
        FROM chain
    )
    SELECT jsonb_build_object(
        'success', true,
        'valid', count(*) FILTER (WHERE b.reason IS NOT NULL) = 0,
        'checked', count(*),
        'first_seq', min(b.seal_seq), 'last_seq', max(b.seal_seq),
        'head_digest', (SELECT c.chain_digest FROM chain c ORDER BY c.seal_seq DESC LIMIT 1),
        'anchor_seq', v_anchor.seal_seq,
        'breaks', coalesce((SELECT jsonb_agg(jsonb_build_object('seal_seq', x.seal_seq, 'id', x.id, 'reason', x.reason) ORDER BY x.seal_seq)
                            FROM (SELECT * FROM breaks WHERE reason IS NOT NULL ORDER BY seal_seq LIMIT p_max_breaks) AS x), '[]'),
        'timestamp', now())
    INTO v_result
    FROM breaks AS b;
    EXIT WHEN v_attempt >= 3 OR (SELECT max(seal_seq) FROM @extschema@.c77_secure_db_audit_anchors) IS NOT DISTINCT FROM v_anchor.seal_seq;
  END LOOP;
    RETURN v_result;
END
$$;

-- Retention now removes only a sealed prefix of the chain (sealing what it can first), and
-- records an anchor before it removes anything. Unsealed rows are never removed. Its own audit
-- row names the anchor (anchor_seq, anchor_digest), so an anchor that no purge recorded — rows
-- deleted and an anchor forged to hide the gap — is told apart from a purge (the daemon checks).
CREATE OR REPLACE FUNCTION c77_secure_db_purge_audit(p_before timestamptz, p_batch_size integer DEFAULT 10000) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_last record;
    v_deleted integer := 0;
BEGIN
    IF p_before IS NULL OR p_batch_size IS NULL OR p_batch_size < 1 THEN
        RETURN jsonb_build_object('success', false, 'error', 'before and a positive batch_size are required', 'timestamp', now());
    END IF;
    IF p_before > now() - interval '1 hour' THEN
        RETURN jsonb_build_object('success', false, 'error', 'Refusing to purge audit rows younger than one hour', 'timestamp', now());
    END IF;
    PERFORM @extschema@.c77_secure_db_seal_audit(p_batch_size);
    -- The longest prefix of the chain, at most p_batch_size rows, older than p_before.
    SELECT p.seal_seq, p.chain_digest INTO v_last
    FROM (SELECT a.seal_seq, a.chain_digest, bool_and(a.created_at < p_before) OVER (ORDER BY a.seal_seq) AS old
          FROM (SELECT * FROM @extschema@.c77_secure_db_operation_audit WHERE seal_seq IS NOT NULL
                ORDER BY seal_seq LIMIT p_batch_size) AS a) AS p
    WHERE p.old ORDER BY p.seal_seq DESC LIMIT 1;
    -- Never remove evidence: the prefix must verify (from the previous anchor) before it goes.
    IF v_last.seal_seq IS NOT NULL
       AND NOT (@extschema@.c77_secure_db_verify_audit_chain(NULL, v_last.seal_seq, 1) ->> 'valid')::boolean THEN
        PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), NULL, NULL, 'purge_audit', false,
                                                'The audit chain does not verify up to the rows to purge', v_started,
                                                p_details => jsonb_build_object('before', p_before, 'up_to_seq', v_last.seal_seq));
        RETURN jsonb_build_object('success', false, 'error',
                                  format('Refusing to purge: the audit chain does not verify up to position %s; run c77_secure_db_verify_audit_chain()',
                                         v_last.seal_seq), 'timestamp', now());
    END IF;
    IF v_last.seal_seq IS NOT NULL THEN
        DELETE FROM @extschema@.c77_secure_db_operation_audit WHERE seal_seq <= v_last.seal_seq;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
        INSERT INTO @extschema@.c77_secure_db_audit_anchors (seal_seq, chain_digest, removed_rows)
        VALUES (v_last.seal_seq, v_last.chain_digest, v_deleted);
    END IF;
    PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), NULL, NULL, 'purge_audit', true, NULL, v_started,
                                            p_details => jsonb_build_object('before', p_before, 'deleted_count', v_deleted,
                                                                            'anchor_seq', v_last.seal_seq,
                                                                            'anchor_digest', v_last.chain_digest));
    RETURN jsonb_build_object('success', true, 'deleted_count', v_deleted, 'before', p_before, 'anchor_seq', v_last.seal_seq,
                              'timestamp', now());
END
$$;

-- health_check also reports the chain: its head and how many rows wait to be sealed (counted
-- up to 100000, so the check stays fast whatever the backlog).
CREATE OR REPLACE FUNCTION c77_secure_db_health_check() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_operations bigint;
    v_errors bigint;
    v_head record;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE NOT success) INTO v_operations, v_errors
    FROM @extschema@.c77_secure_db_operation_audit WHERE created_at > now() - interval '1 hour';
    SELECT * INTO v_head FROM @extschema@.c77_secure_db_audit_chain_head();
    RETURN jsonb_build_object(
        'success', true,
        'extension_version', (SELECT extversion FROM pg_extension WHERE extname = 'c77_secure_db'),
        'rbac_available', @extschema@.c77_secure_db_rbac_function() IS NOT NULL,
        'secure_schemas_count', (SELECT count(*) FROM @extschema@.c77_secure_db_secure_schemas),
        'active_tokens', (SELECT count(*) FROM @extschema@.c77_secure_db_auth_tokens WHERE NOT used AND expires_at > clock_timestamp()),
        'recent_operations_1h', v_operations,
        'recent_errors_1h', v_errors,
        'error_rate_1h', CASE WHEN v_operations = 0 THEN 0 ELSE round(100.0 * v_errors / v_operations, 2) END,
        'audit_chain_head_seq', v_head.seal_seq,
        'audit_unsealed', @extschema@.c77_secure_db_audit_unsealed(),
        'timestamp', now());
END
$$;

-- The latest entry of the daemon's signed digest log (kept outside the database), as the daemon
-- recorded it: one witness of the file in the database, so a digest file rolled back to an
-- older state is caught, just as the file catches a rewritten chain here.
CREATE TABLE c77_secure_db_digest_head (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    entry_seq   bigint NOT NULL,
    entry_link  text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by text NOT NULL DEFAULT session_user
);
SELECT pg_catalog.pg_extension_config_dump('c77_secure_db_digest_head', '');
GRANT SELECT ON c77_secure_db_digest_head TO c77_secure_db_admin, c77_secure_db_monitor;

-- Records the digest log's latest entry; refuses to go back to an older one.
CREATE FUNCTION c77_secure_db_record_digest_head(p_entry_seq bigint, p_entry_link text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_current bigint;
BEGIN
    IF p_entry_seq IS NULL OR p_entry_seq < 1 OR p_entry_link !~ '^[0-9a-f]{64}$' THEN
        RETURN jsonb_build_object('success', false, 'error', 'entry_seq must be positive and entry_link 64 hex digits');
    END IF;
    SELECT entry_seq INTO v_current FROM @extschema@.c77_secure_db_digest_head FOR UPDATE;
    IF v_current > p_entry_seq THEN
        RETURN jsonb_build_object('success', false, 'error',
                                  format('digest entry %s is older than the recorded entry %s', p_entry_seq, v_current));
    END IF;
    INSERT INTO @extschema@.c77_secure_db_digest_head AS h (entry_seq, entry_link) VALUES (p_entry_seq, p_entry_link)
    ON CONFLICT (singleton) DO UPDATE SET entry_seq = EXCLUDED.entry_seq, entry_link = EXCLUDED.entry_link,
                                          recorded_at = clock_timestamp(), recorded_by = session_user;
    RETURN jsonb_build_object('success', true, 'entry_seq', p_entry_seq);
END
$$;

-- Privileges. In 2.1 the monitor (the daemon) writes too, but only through these functions:
-- it seals audit rows (which adds chain columns and changes no content) and records the digest
-- log's head. A member of c77_secure_db_monitor who records a false head cannot hide anything:
-- the daemon finds that entry missing from its log and alerts (the remedy is to correct the
-- row as a superuser: UPDATE c77_secure_db_digest_head with the log's latest entry).
REVOKE ALL ON FUNCTION
    c77_secure_db_audit_unsealed(integer),
    c77_secure_db_record_digest_head(bigint, text),
    c77_secure_db_audit_row_digest(c77_secure_db_operation_audit),
    c77_secure_db_audit_chain_step(text, text),
    c77_secure_db_audit_chain_head(),
    c77_secure_db_seal_audit(integer),
    c77_secure_db_verify_audit_chain(bigint, bigint, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    c77_secure_db_seal_audit(integer),
    c77_secure_db_verify_audit_chain(bigint, bigint, integer),
    c77_secure_db_record_digest_head(bigint, text)
TO c77_secure_db_admin, c77_secure_db_monitor;

-- ---------------------------------------------------------------------------------------------
-- The write path with cached plans
-- ---------------------------------------------------------------------------------------------
--
-- In 2.0 every c77_secure_db_operation() call built its statement as text and ran it with
-- EXECUTE, which parses and plans it anew each time, and reached its cached table
-- description, the payload's keys, the token and the audit through five more statements and
-- three helper calls. Now each statement shape -- one table, one kind of statement, one
-- primary key column, one set of payload keys -- gets a generated *writer*: a PL/pgSQL function
-- holding that one statement as static SQL, which PostgreSQL plans once per session. A writer
-- exists only for a shape that passed every check against the catalog (registered schema,
-- table, columns, key column, no unsafe functions, deleted_at for soft_delete), so a call that
-- finds its writer needs no other look-up: one index scan of c77_secure_db_writers. The token
-- and the audit row are written by the write path itself, without helper calls.
--
-- Writers are created on first use by the extension's owner, in the extension's schema, as
-- members of the extension (so pg_dump leaves them out and DROP EXTENSION removes them), with
-- EXECUTE revoked from everyone; the write path calls them directly, as c77_secure_db_writer
-- (write_path.c). Their statements quote every identifier with format('%I'), bind the payload
-- as $1, and name the key's equality with its schema; their bodies are passed as one quoted
-- literal. A writer is named
-- after a hash of everything its statement depends on, and is dropped whenever its table's
-- cached description is (any DDL on the table, DROP TABLE, removing the schema from the
-- registry): c77_secure_db_writers references c77_secure_db_table_meta ON DELETE CASCADE, and
-- a trigger drops the functions of deleted rows. A writer made under other names (the schema
-- was renamed) is not used, and is replaced when the shape is next written.

-- The role the write path runs statements as, c77_secure_db_writer (created by the 2.0 script
-- on a new installation), and its rights on the tables and schemas registered before.
DO $writer$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'c77_secure_db_writer') THEN
        CREATE ROLE c77_secure_db_writer NOLOGIN NOINHERIT;
    END IF;
END
$writer$;
SELECT c77_secure_db_writer_access(c.oid)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname IN (SELECT schema_name FROM c77_secure_db_secure_schemas);
DO $usage$
DECLARE
    v_schema text;
BEGIN
    FOR v_schema IN SELECT s.schema_name FROM c77_secure_db_secure_schemas s JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema_name LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO c77_secure_db_writer', v_schema);
    END LOOP;
END
$usage$;

CREATE TABLE c77_secure_db_writers (
    relid       oid NOT NULL REFERENCES c77_secure_db_table_meta (relid) ON DELETE CASCADE,
    kind        text NOT NULL,          -- insert | update | soft_delete | delete
    pk_column   text NOT NULL,
    columns     text[] NOT NULL,        -- the payload's keys, in jsonb order
    schema_name text NOT NULL,          -- the names the statement was written with
    table_name  text NOT NULL,
    writer      text NOT NULL,          -- 'schema.writer(jsonb)' (not regprocedure, which pg_upgrade refuses in tables)
    PRIMARY KEY (relid, kind, pk_column, columns)
);
REVOKE ALL ON c77_secure_db_writers FROM PUBLIC;

-- Whether the extension may run DDL with its owner's rights now (making or dropping a
-- writer). DDL fires the database's event triggers, which then run as the extension's owner:
-- each one's function must be a superuser's, and in C or pinning a search_path with pg_temp
-- last, or the names it leaves unqualified would find what the caller created in pg_temp.
CREATE FUNCTION c77_secure_db_may_run_ddl() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (
        SELECT FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_roles o ON o.oid = p.proowner
        JOIN pg_language l ON l.oid = p.prolang
        WHERE e.evtenabled <> 'D'
          AND NOT (o.rolsuper AND (l.lanname IN ('c', 'internal')
                                   OR coalesce(@extschema@.c77_secure_db_pins_search_path(p.proconfig), false))))
$$;

-- Drops the writer function of a deleted c77_secure_db_writers row, if DDL may run now; else
-- the function stays, unused, until c77_secure_db_writer_for() makes a writer again.
CREATE FUNCTION c77_secure_db_drop_writer() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regprocedure(OLD.writer) IS NOT NULL AND @extschema@.c77_secure_db_may_run_ddl() THEN
        EXECUTE format('ALTER EXTENSION c77_secure_db DROP FUNCTION %s', OLD.writer);
        EXECUTE format('DROP FUNCTION %s', OLD.writer);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER c77_secure_db_drop_writer AFTER DELETE ON c77_secure_db_writers
    FOR EACH ROW EXECUTE FUNCTION c77_secure_db_drop_writer();

-- The equality of a key column's type (the default btree or hash operator class's, as
-- OPERATOR(schema.name)), or NULL if it has none: the writers' search_path holds pg_catalog
-- only, and names no operator a caller could have created. In C (write_path.c).
CREATE FUNCTION c77_secure_db_key_equality(p_type regtype) RETURNS text
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'c77_secure_db_key_equality';

-- The SQL of one statement of the write path on a checked table and payload, with the payload
-- as $1, returning the written row as jsonb (NULL when no row was written); and its writer,
-- created here, which later calls use. The caller runs the statement this once. No writer is
-- made while another transaction is creating the same one and has not committed yet (the
-- advisory lock lets this one go on at once instead of waiting for that transaction to end),
-- nor for a table with 100 writers already (callers sending ever new key sets cannot fill the
-- catalog with functions), nor while c77_secure_db_may_run_ddl() says no.
--
-- Writers are SECURITY INVOKER: the write path runs them as c77_secure_db_writer.
CREATE FUNCTION c77_secure_db_writer_for(p_relid oid, p_schema text, p_table text, p_kind text, p_pk text, p_columns text[])
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_statement text;
    v_name text;
    v_function text;
    v_orphan regprocedure;
    v_equals text := coalesce(@extschema@.c77_secure_db_key_equality(
                                  (SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = p_relid AND attname = p_pk)), '=');
BEGIN
    v_statement := CASE
        WHEN p_kind = 'insert' AND cardinality(p_columns) = 0 THEN
            format('INSERT INTO %I.%I AS t DEFAULT VALUES RETURNING to_jsonb(t.*)', p_schema, p_table)
        WHEN p_kind = 'insert' THEN
            format('INSERT INTO %1$I.%2$I AS t (%3$s) SELECT %3$s FROM jsonb_populate_record(NULL::%1$I.%2$I, $1) RETURNING to_jsonb(t.*)',
                   p_schema, p_table, (SELECT string_agg(format('%I', c), ', ') FROM unnest(p_columns) AS c))
        WHEN p_kind = 'update' THEN
            format('UPDATE ONLY %1$I.%2$I AS t SET %3$s FROM jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v WHERE t.%4$I %5$s v.%4$I RETURNING to_jsonb(t.*)',
                   p_schema, p_table,
                   coalesce((SELECT string_agg(format('%1$I = v.%1$I', c), ', ') FROM unnest(p_columns) AS c WHERE c <> p_pk),
                            format('%1$I = t.%1$I', p_pk)),
                   p_pk, v_equals)
        WHEN p_kind = 'soft_delete' THEN
            format('UPDATE ONLY %1$I.%2$I AS t SET deleted_at = now() FROM jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v WHERE t.%3$I %4$s v.%3$I RETURNING to_jsonb(t.*)',
                   p_schema, p_table, p_pk, v_equals)
        WHEN p_kind = 'delete' THEN
            format('DELETE FROM ONLY %1$I.%2$I AS t USING jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v WHERE t.%3$I %4$s v.%3$I RETURNING to_jsonb(t.*)',
                   p_schema, p_table, p_pk, v_equals)
    END;
    v_name := 'c77_secure_db_w_' || left(encode(sha256(convert_to(jsonb_build_array(
                  p_relid, p_schema, p_table, p_kind, p_pk, p_columns, v_statement)::text, 'UTF8')), 'hex'), 40);
    v_function := format('%I.%I(jsonb)', '@extschema@', v_name);
    IF NOT pg_try_advisory_xact_lock(hashtext('c77_secure_db_writer'), hashtext(v_name))
       OR (SELECT count(*) FROM @extschema@.c77_secure_db_writers WHERE relid = p_relid) >= 100
       OR NOT @extschema@.c77_secure_db_may_run_ddl() THEN
        RETURN v_statement;
    END IF;
    BEGIN
        -- Writers whose rows went while DDL could not run (c77_secure_db_drop_writer) go now.
        FOR v_orphan IN
            SELECT p.oid::regprocedure FROM pg_proc p
            JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
            JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'c77_secure_db'
            WHERE p.proname LIKE 'c77\_secure\_db\_w\_%'
              AND NOT EXISTS (SELECT FROM @extschema@.c77_secure_db_writers w WHERE to_regprocedure(w.writer) = p.oid)
        LOOP
            EXECUTE format('ALTER EXTENSION c77_secure_db DROP FUNCTION %s', v_orphan);
            EXECUTE format('DROP FUNCTION %s', v_orphan);
        END LOOP;
        -- The one variable, r, never shadows a column (#variable_conflict use_column).
        EXECUTE format('CREATE FUNCTION %s RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS %L',
                       v_function,
                       format(E'#variable_conflict use_column\nDECLARE\n    r jsonb;\nBEGIN\n    %s\n    INTO r;\n    RETURN r;\nEND', v_statement));
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_function);
        EXECUTE format('ALTER EXTENSION c77_secure_db ADD FUNCTION %s', v_function);
        -- A writer of this shape made under the table's former names goes.
        DELETE FROM @extschema@.c77_secure_db_writers
        WHERE relid = p_relid AND kind = p_kind AND pk_column = p_pk AND columns = p_columns;
        INSERT INTO @extschema@.c77_secure_db_writers (relid, kind, pk_column, columns, schema_name, table_name, writer)
        VALUES (p_relid, p_kind, p_pk, p_columns, p_schema, p_table, v_function);
    EXCEPTION WHEN others THEN
        RETURN v_statement;
    END;
    RETURN v_statement;
END
$$;
REVOKE ALL ON FUNCTION c77_secure_db_drop_writer(), c77_secure_db_key_equality(regtype),
    c77_secure_db_writer_for(oid, text, text, text, text, text[]) FROM PUBLIC;

-- c77_secure_db_operation(data, check_rbac, required_feature, scope_type, scope_id): as in
-- 2.0 (same requests, responses, errors and audit rows), now in C (write_path.c): it reads the
-- request, finds the writers of its shape (one index scan of c77_secure_db_writers), calls
-- them directly under a *grant* instead of a token, and writes the audit row. A grant lives in
-- the backend's memory and allows the next row of one table once: nothing to insert, update
-- or clean up, and nothing anyone can read or forge. The functions below are its SQL side:
-- the checks of a new shape, and the protection trigger (in C too), which takes the grants.

-- The checks of a shape not written before, against the registry and the table's description:
-- the table (its oid, and whether it has deleted_at), or why it cannot be written.
CREATE FUNCTION c77_secure_db_check_write_shape(p_schema text, p_table text, p_pk text, p_columns text[],
                                                OUT relid oid, OUT has_deleted_at boolean, OUT error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_meta @extschema@.c77_secure_db_table_meta;
    v_unknown text;
BEGIN
    IF NOT @extschema@.c77_secure_db_is_secure_schema(p_schema) THEN
        error := format('Schema %s is not a registered secure schema', p_schema);
        RETURN;
    END IF;
    relid := @extschema@.c77_secure_db_relid(p_schema, p_table);
    IF relid IS NULL THEN
        error := format('Table %s.%s does not exist', p_schema, p_table);
        RETURN;
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(relid);
    has_deleted_at := v_meta.has_deleted_at;
    SELECT min(k) INTO v_unknown FROM unnest(p_columns) AS k WHERE NOT (k = ANY (v_meta.columns));
    -- Refused before any row is written: a partition's own triggers, indexes and constraints
    -- (not checked for unsafe functions) would run first.
    IF (SELECT relkind FROM pg_class WHERE oid = relid) = 'p' THEN
        error := format('Table %s.%s is partitioned; partitioned tables are not supported in secure schemas yet', p_schema, p_table);
    ELSIF v_meta.unsafe_functions IS NOT NULL THEN
        error := @extschema@.c77_secure_db_unsafe_reason(v_meta);
    ELSIF v_unknown IS NOT NULL THEN
        error := format('Column %s does not exist in table %s.%s', v_unknown, p_schema, p_table);
    ELSIF NOT (p_pk = ANY (v_meta.columns)) THEN
        error := format('Primary key column %s does not exist in table %s.%s', p_pk, p_schema, p_table);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION c77_secure_db_operation(
    p_json_data jsonb, p_check_rbac boolean, p_required_feature text DEFAULT NULL,
    p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL
) RETURNS jsonb
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'c77_secure_db_operation';

-- The 1-argument form, without RBAC: the same function. (In 2.0 a SQL wrapper the planner
-- inlined; but inlining parses its body again whenever a calling query is planned, which is
-- every call of a query sent as text.)
CREATE OR REPLACE FUNCTION c77_secure_db_operation(p_json_data jsonb) RETURNS jsonb
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'c77_secure_db_operation';

-- The protection trigger, now in C (protect_row.c): the same checks and security columns as
-- in 2.0, the write path's grant taken first, then a token (c77_secure_db_token_kind).
CREATE OR REPLACE FUNCTION c77_secure_db_protect_row() RETURNS trigger
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS 'MODULE_PATHNAME', 'c77_secure_db_protect_row';

REVOKE ALL ON FUNCTION c77_secure_db_check_write_shape(text, text, text, text[]) FROM PUBLIC;

-- Forgets the cached descriptions of the tables whose writes run a type or operator that the
-- DDL command being reported altered (see relied_on): ALTER DOMAIN ... ADD CONSTRAINT or
-- ALTER TYPE ... ADD ATTRIBUTE changes what a table runs without touching it. (A pair's two
-- numbers are matched anywhere in relied_on, which may forget a table more: harmless.) It
-- reads the commands itself, so it does nothing outside a ddl_command_end event trigger.
CREATE FUNCTION c77_secure_db_forget_relying_on_altered() RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM @extschema@.c77_secure_db_table_meta AS m
    USING (SELECT c.classid, c.objid FROM pg_event_trigger_ddl_commands() AS c
           WHERE c.classid IN ('pg_type'::regclass, 'pg_operator'::regclass)
           UNION ALL  -- a composite type is a pg_class row too
           SELECT 'pg_type'::regclass, r.reltype FROM pg_event_trigger_ddl_commands() AS c
           JOIN pg_class r ON c.classid = 'pg_class'::regclass AND r.oid = c.objid AND r.relkind = 'c') AS altered
    WHERE m.relied_on @> ARRAY[altered.classid, altered.objid]
$$;
-- The event trigger runs as whoever issues DDL.
GRANT EXECUTE ON FUNCTION c77_secure_db_forget_relying_on_altered() TO PUBLIC;

-- ddl_command_end as in 2.0, except that CREATE INDEX and ALTER INDEX on a secure table now
-- forget its cached description (and so its writers) too, as does DDL on a type or operator
-- it relies on, and that a non-superuser's table may not inherit from a secure table. In 2.0 an index created after the
-- table was described went unnoticed: an expression index calling its owner's function would
-- have run that function with the write path's rights.
CREATE OR REPLACE FUNCTION c77_secure_db_on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_command record;
    v_relid oid;
    v_schema text;
    v_superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    PERFORM @extschema@.c77_secure_db_forget_relying_on_altered();
    FOR v_command IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        v_relid := NULL;
        IF v_command.classid = 'pg_class'::regclass THEN
            v_relid := coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = v_command.objid), v_command.objid);
        ELSIF v_command.classid = 'pg_rewrite'::regclass THEN
            SELECT ev_class INTO v_relid FROM pg_rewrite WHERE oid = v_command.objid;
        ELSIF v_command.classid = 'pg_trigger'::regclass THEN
            SELECT tgrelid INTO v_relid FROM pg_trigger WHERE oid = v_command.objid;
        END IF;
        CONTINUE WHEN v_relid IS NULL;
        -- Inheritance ties a table to its ancestors and descendants (DDL on a parent changes
        -- its children): their cached descriptions go too.
        PERFORM @extschema@.c77_secure_db_forget_table(related.relid)
        FROM (WITH RECURSIVE up(relid) AS (
                  SELECT inhparent FROM pg_inherits WHERE inhrelid = v_relid
                  UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.relid),
              down(relid) AS (
                  SELECT inhrelid FROM pg_inherits WHERE inhparent = v_relid
                  UNION SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.relid)
              SELECT relid FROM up UNION SELECT relid FROM down) AS related;
        -- A table inheriting from a secure table, wherever it is, would show its own rows
        -- (unprotected outside a secure schema) in the secure table's reads and checks.
        IF NOT v_superuser AND v_command.command_tag IN ('CREATE TABLE', 'ALTER TABLE')
           AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                       JOIN pg_namespace n ON n.oid = p.relnamespace
                       WHERE i.inhrelid = v_relid AND @extschema@.c77_secure_db_is_secure_schema(n.nspname::text)) THEN
            RAISE EXCEPTION 'Table % may not inherit from a secure table', v_relid::regclass
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT n.nspname INTO v_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = v_relid AND c.relkind IN ('r', 'p');
        CONTINUE WHEN v_schema IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(v_schema);

        IF v_command.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
            PERFORM @extschema@.c77_secure_db_after_ddl(v_relid, true);
            CONTINUE;
        END IF;
        IF v_command.command_tag IN ('CREATE INDEX', 'ALTER INDEX') THEN
            -- Allowed, but an expression index calls functions on every write: describe the
            -- table anew, so that the write path sees them (unsafe_functions).
            PERFORM @extschema@.c77_secure_db_forget_table(v_relid);
            CONTINUE;
        END IF;
        CONTINUE WHEN v_command.command_tag IN ('GRANT', 'REVOKE', 'CREATE STATISTICS')
                  OR (v_command.command_tag = 'CREATE TRIGGER'
                      AND EXISTS (SELECT 1 FROM pg_trigger WHERE oid = v_command.objid AND tgname LIKE 'c77\_secure\_db\_%'
                                  AND tgfoid IN ('@extschema@.c77_secure_db_protect_row'::regproc, '@extschema@.c77_secure_db_block_truncate'::regproc)));

        IF NOT v_superuser AND NOT @extschema@.c77_secure_db_ddl_window_open(v_relid) THEN
            RAISE EXCEPTION '% on secure table %.% is not allowed',
                v_command.command_tag, v_schema, (SELECT relname FROM pg_class WHERE oid = v_relid)
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Run it in the same transaction after SELECT c77_secure_db_rehash(schema, table) (c77_secure_db_admin), which re-hashes the rows and audits the change.';
        END IF;
        PERFORM @extschema@.c77_secure_db_after_ddl(v_relid, false);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Table digests: what the daemon keeps outside the database to find rows that changed,
-- vanished or appeared without an audited operation (triggers off, hash recomputed). The
-- daemon splits a table into primary-key buckets, keeps each bucket's digest and the digests
-- of its rows, and compares them with the table on every pass. HASHING.md, "Row digests and
-- bucket digests", defines both.
-- ---------------------------------------------------------------------------------------------

-- The digest of a whole row, every column included (content_hash and timestamps too): SHA-256
-- of the row's binary output (record_send). Inlined into its callers, which pin
-- client_encoding (text columns are sent in it).
CREATE FUNCTION c77_secure_db_row_digest(p_row anyelement) RETURNS bytea
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.sha256(pg_catalog.record_send(p_row)) $$;

-- The description of a table the digest functions accept (a table of a secure schema with a
-- single-column primary key), or the reason it is not one.
CREATE FUNCTION c77_secure_db_digest_target(p_schema_name text, p_table_name text,
                                            OUT meta c77_secure_db_table_meta, OUT error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
BEGIN
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        error := format('Table %s.%s is not a table of a secure schema', p_schema_name, p_table_name);
        RETURN;
    END IF;
    meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    error := @extschema@.c77_secure_db_unsafe_reason(meta);
    IF error IS NOT NULL THEN
        meta := NULL;
        RETURN;
    END IF;
    IF meta.pk_column IS NULL THEN
        error := format('Table %s.%s has no single-column primary key', p_schema_name, p_table_name);
        meta := NULL;
    END IF;
END
$$;

-- Digests of the consecutive key ranges (b1, b2], (b2, b3], ..., (bn-1, bn] of a table, for
-- increasing bounds p_bounds (text of the primary key's type; the first may be NULL for no
-- lower bound, the last NULL for no upper bound: '{NULL,NULL}' is the whole table).
-- Read-only; one index range scan per bucket, so a pass reads every row once.
--
-- Returns {"success", "buckets": [{"count", "digest"}, ...]}, one entry per range, in order.
-- A bucket's digest is SHA-256 (hex) of its rows' row digests (32 bytes each) in key order.
CREATE FUNCTION c77_secure_db_bucket_digests(p_schema_name text, p_table_name text, p_bounds text[]) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_encoding = 'UTF8'
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_target record;
    v_sql text;
    v_bucket jsonb;
    v_buckets jsonb := '[]';
BEGIN
    SELECT * INTO v_target FROM @extschema@.c77_secure_db_digest_target(p_schema_name, p_table_name);
    IF v_target.error IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error', v_target.error);
    END IF;
    IF cardinality(p_bounds) IS DISTINCT FROM array_length(p_bounds, 1) OR cardinality(p_bounds) < 2
       OR array_position(p_bounds[2:cardinality(p_bounds) - 1], NULL) IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error',
                                  'bounds must be a list of at least two keys, NULL only first (no lower bound) or last (no upper bound)');
    END IF;
    v_sql := format($q$
        SELECT jsonb_build_object('count', count(*), 'digest', encode(sha256(coalesce(string_agg(d, ''::bytea ORDER BY k), '')), 'hex'))
        FROM (SELECT t.%3$I AS k, @extschema@.c77_secure_db_row_digest(t) AS d
              FROM ONLY %1$I.%2$I AS t
              WHERE ($1::text IS NULL OR t.%3$I > $1::%4$s) AND ($2::text IS NULL OR t.%3$I <= $2::%4$s)) AS bucket
        $q$, (v_target.meta).schema_name, (v_target.meta).table_name, (v_target.meta).pk_column, (v_target.meta).pk_type);
    FOR i IN 1 .. cardinality(p_bounds) - 1 LOOP
        EXECUTE v_sql INTO v_bucket USING p_bounds[i], p_bounds[i + 1];
        v_buckets := v_buckets || jsonb_build_array(v_bucket);
    END LOOP;
    RETURN jsonb_build_object('success', true, 'buckets', v_buckets);
END
$$;

-- The rows of one key range, after p_after_key (NULL: from the start) up to p_until_key
-- (inclusive; NULL: no bound), at most p_max_rows of them (NULL: all), in key order: their
-- keys (text) and row digests (hex). Read-only.
--
-- Returns {"success", "keys": [...], "row_digests": [...], "done"}; done: the range has no
-- rows after the last one returned.
CREATE FUNCTION c77_secure_db_row_digests(
    p_schema_name text, p_table_name text, p_after_key text, p_until_key text, p_max_rows integer DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_encoding = 'UTF8'
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_target record;
    v_result jsonb;
BEGIN
    SELECT * INTO v_target FROM @extschema@.c77_secure_db_digest_target(p_schema_name, p_table_name);
    IF v_target.error IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error', v_target.error);
    END IF;
    IF p_max_rows < 1 THEN
        RETURN jsonb_build_object('success', false, 'error', 'max_rows must be at least 1');
    END IF;
    -- One row more than asked for tells whether the range goes on.
    EXECUTE format($q$
        SELECT jsonb_build_object('success', true,
                                  'keys', coalesce(jsonb_agg(k ORDER BY n) FILTER (WHERE n <= $3 OR $3 IS NULL), '[]'),
                                  'row_digests', coalesce(jsonb_agg(d ORDER BY n) FILTER (WHERE n <= $3 OR $3 IS NULL), '[]'),
                                  'done', $3 IS NULL OR count(*) <= $3)
        FROM (SELECT t.%3$I::text AS k, encode(@extschema@.c77_secure_db_row_digest(t), 'hex') AS d,
                     row_number() OVER (ORDER BY t.%3$I) AS n
              FROM ONLY %1$I.%2$I AS t
              WHERE ($1::text IS NULL OR t.%3$I > $1::%4$s) AND ($2::text IS NULL OR t.%3$I <= $2::%4$s)
              ORDER BY t.%3$I LIMIT $3 + 1) AS range
        $q$, (v_target.meta).schema_name, (v_target.meta).table_name, (v_target.meta).pk_column, (v_target.meta).pk_type)
    INTO v_result USING p_after_key, p_until_key, p_max_rows;
    RETURN v_result;
END
$$;

-- p_text as a value of p_type's type (p_type is only there for its type: pass NULL::type), or
-- NULL when it is not one: an audit record_id is text a caller wrote and need not be a key.
CREATE FUNCTION c77_secure_db_try_cast(p_text text, p_type anyelement) RETURNS anyelement
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_value p_type%TYPE;
BEGIN
    v_value := p_text;
    RETURN v_value;
EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
    RETURN NULL;
END
$$;

-- The successful audited operations that may explain the changes the daemon found in rows
-- p_keys of a table (keys as c77_secure_db_row_digests() gives them): those sealed after
-- position p_after_seq, or not sealed yet. A record_id is text the write path took from JSON
-- (a timestamp with its 'T', char(n) with its padding, a number as the caller wrote it), so it
-- is compared with each key as a value of the key's type, never as text; a record_id that is
-- no value of that type explains nothing. Read-only.
--
-- Returns {"success", "operations": [{"key", "operations": [operation_type, ...]}, ...] (only
-- keys that have some), "rehashed"}: rehashed, whether c77_secure_db_rehash() re-hashed the
-- table (audited without a record_id) in that time.
CREATE FUNCTION c77_secure_db_explaining_operations(p_schema_name text, p_table_name text, p_keys text[], p_after_seq bigint)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_target record;
    v_result jsonb;
BEGIN
    SELECT * INTO v_target FROM @extschema@.c77_secure_db_digest_target(p_schema_name, p_table_name);
    IF v_target.error IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error', v_target.error);
    END IF;
    -- Each distinct record_id is cast once; keys came from the key's own text output.
    EXECUTE format($q$
        WITH audited AS (
            SELECT a.record_id, a.operation_type
            FROM @extschema@.c77_secure_db_operation_audit AS a
            WHERE a.success AND a.schema_name = $1 AND a.table_name = $2 AND (a.seal_seq > $3 OR a.seal_seq IS NULL)
        ), typed AS (
            SELECT @extschema@.c77_secure_db_try_cast(d.record_id, NULL::%1$s) AS value, d.operation_type
            FROM (SELECT DISTINCT record_id, operation_type FROM audited WHERE record_id IS NOT NULL) AS d
        ), matched AS (
            SELECT k.key, array_agg(DISTINCT t.operation_type ORDER BY t.operation_type) AS operations
            FROM unnest($4::text[]) AS k(key) JOIN typed AS t ON t.value = k.key::%1$s
            GROUP BY k.key
        )
        SELECT jsonb_build_object(
            'success', true,
            'operations', coalesce((SELECT jsonb_agg(jsonb_build_object('key', m.key, 'operations', m.operations) ORDER BY m.key) FROM matched AS m), '[]'),
            'rehashed', EXISTS (SELECT 1 FROM audited WHERE record_id IS NULL AND operation_type = 'rehash'))
        $q$, (v_target.meta).pk_type)
    INTO v_result USING p_schema_name, p_table_name, p_after_seq, p_keys;
    RETURN v_result;
END
$$;

REVOKE ALL ON FUNCTION
    c77_secure_db_row_digest(anyelement),
    c77_secure_db_digest_target(text, text),
    c77_secure_db_bucket_digests(text, text, text[]),
    c77_secure_db_row_digests(text, text, text, text, integer),
    c77_secure_db_try_cast(text, anyelement),
    c77_secure_db_explaining_operations(text, text, text[], bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    c77_secure_db_audit_chain_head(),
    c77_secure_db_bucket_digests(text, text, text[]),
    c77_secure_db_row_digests(text, text, text, text, integer),
    c77_secure_db_explaining_operations(text, text, text[], bigint)
TO c77_secure_db_admin, c77_secure_db_monitor;
