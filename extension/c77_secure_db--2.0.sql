-- c77_secure_db 2.0: tamper-evident secure schemas for PostgreSQL.
--
-- What this script builds, and why it is safe:
--
-- * Tables of a *secure schema* refuse direct INSERT, UPDATE, DELETE and TRUNCATE, for every
--   role including their owner and superusers: a BEFORE row trigger lets a write through only
--   while a valid authorization token is in force. Tokens are random UUIDs stored in a table
--   no application role can read, bound to the backend that created them and to one table,
--   valid for about five seconds and consumed by the first row they authorize. Setting the
--   `c77_secure_db.auth_token` variable by hand therefore authorizes nothing unless the value
--   names such a token: forged, replayed, expired and other sessions' tokens all fail.
-- * `c77_secure_db_operation()` is the write path: it validates the request against the
--   catalog, creates a token, runs one statement with quoted identifiers and bound values,
--   and writes an audit row whether the operation succeeded or not.
-- * The protection trigger also maintains `content_hash` (SHA-256 over the row's business
--   columns, see HASHING.md), `hash_version`, `created_at` and `updated_at`, so every row
--   written through the write path carries a hash that verification can recompute.
-- * Event triggers protect tables created later in a secure schema, and refuse to
--   non-superusers the DDL that would silently change rows or their hashes (ALTER TABLE,
--   CREATE RULE, CREATE TRIGGER, DROP of a secure table or of its protection triggers),
--   unless it runs inside the audited `c77_secure_db_rehash()` window.
-- * A superuser can still disable triggers or set session_replication_role = replica; that is
--   what the c77-secure-dbd daemon and the verification functions detect.
--
-- Every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp, and names this
-- extension's objects with their schema: nothing created in any schema, this extension's
-- included, can stand in for a built-in function or operator (an exact-type overload beats a
-- built-in that needs a coercion, wherever it is on the path); every identifier that comes from a caller is quoted with format('%I')
-- after being checked against the catalog; every value is bound with EXECUTE ... USING.
-- Install it into a schema only superusers can create objects in: a schema open to others
-- (like `public` before PostgreSQL 15) gets a warning, since callers' unqualified calls of its
-- functions could resolve to an overload created there.

\echo Use "CREATE EXTENSION c77_secure_db" to load this file. \quit

DO $check$
DECLARE
    v_roles text;
BEGIN
    -- (pg_database_owner stands for the owner of this database.)
    SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END, ', ') INTO v_roles
    FROM pg_catalog.pg_namespace n
    CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) AS a
    LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = CASE WHEN g.rolname = 'pg_database_owner'
        THEN (SELECT d.datdba FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()) ELSE a.grantee END
    WHERE n.nspname = '@extschema@' AND a.privilege_type = 'CREATE' AND (a.grantee = 0 OR NOT r.rolsuper);
    IF v_roles IS NOT NULL THEN
        RAISE WARNING 'c77_secure_db is installed into schema "@extschema@", where % can create objects', v_roles
            USING HINT = 'Functions created there could stand in for the extension''s own; install it into a schema only superusers can create in (CREATE EXTENSION c77_secure_db SCHEMA ...), or REVOKE CREATE.';
    END IF;
END
$check$;

-- ---------------------------------------------------------------------------------------------
-- Roles (cluster-wide; created once, kept when the extension is dropped)
-- ---------------------------------------------------------------------------------------------

DO $roles$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['c77_secure_db_readonly', 'c77_secure_db_user', 'c77_secure_db_admin', 'c77_secure_db_monitor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        END IF;
    END LOOP;
    -- The role the write path runs a table's statements as (write_path.c), so that what they
    -- call runs with no more rights than that: no login, no members, nothing but what
    -- registration grants it on secure tables (row security applies to it).
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'c77_secure_db_writer') THEN
        CREATE ROLE c77_secure_db_writer NOLOGIN NOINHERIT;
    ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'c77_secure_db_writer'
                  AND (rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members
                  WHERE roleid = 'c77_secure_db_writer'::regrole OR member = 'c77_secure_db_writer'::regrole) THEN
        RAISE EXCEPTION 'Role c77_secure_db_writer exists with rights or members of its own'
            USING HINT = 'The write path runs statements as this role; drop it, or remove its attributes and memberships.';
    END IF;
    -- user can do what readonly can; admin what user can.
    IF NOT pg_catalog.pg_has_role('c77_secure_db_user', 'c77_secure_db_readonly', 'MEMBER') THEN
        GRANT c77_secure_db_readonly TO c77_secure_db_user;
    END IF;
    IF NOT pg_catalog.pg_has_role('c77_secure_db_admin', 'c77_secure_db_user', 'MEMBER') THEN
        GRANT c77_secure_db_user TO c77_secure_db_admin;
    END IF;
END
$roles$;

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

-- The registry of secure schemas.
CREATE TABLE c77_secure_db_secure_schemas (
    schema_name   text PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    registered_by text NOT NULL DEFAULT session_user
);

-- Authorization tokens. UNLOGGED: they live for seconds, are never replicated or dumped, and
-- a crash that empties the table only invalidates tokens that had expired anyway.
CREATE UNLOGGED TABLE c77_secure_db_auth_tokens (
    token          uuid PRIMARY KEY,
    session_id     text NOT NULL,
    operation_type text NOT NULL,
    table_oid      oid,                 -- the one table the token may write; NULL: any (admin tokens)
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at     timestamptz NOT NULL,
    used           boolean NOT NULL DEFAULT false
);
CREATE INDEX c77_secure_db_auth_tokens_expires_idx ON c77_secure_db_auth_tokens (expires_at);

-- The audit trail: one row per operation, successful or not, and per administrative action.
CREATE TABLE c77_secure_db_operation_audit (
    id                bigserial PRIMARY KEY,
    operation_id      uuid NOT NULL,
    schema_name       text,
    table_name        text,
    operation_type    text NOT NULL,
    record_id         text,
    content_hash      text,
    success           boolean NOT NULL,
    error_message     text,
    execution_time_ms integer,
    user_name         text NOT NULL DEFAULT session_user,
    rbac_user_id      text,
    required_feature  text,
    client_addr       inet DEFAULT inet_client_addr(),
    application_name  text DEFAULT current_setting('application_name', true),
    details           jsonb,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX c77_secure_db_audit_created_idx ON c77_secure_db_operation_audit (created_at);
CREATE INDEX c77_secure_db_audit_user_idx ON c77_secure_db_operation_audit (user_name, created_at);
CREATE INDEX c77_secure_db_audit_table_idx ON c77_secure_db_operation_audit (schema_name, table_name, created_at);
CREATE INDEX c77_secure_db_audit_failures_idx ON c77_secure_db_operation_audit (created_at) WHERE NOT success;

-- A cache of what the write and verification paths need to know about a secure table, so that
-- they do not read the catalog on every call. Rebuilt on demand; dropped on DDL.
CREATE TABLE c77_secure_db_table_meta (
    relid            oid PRIMARY KEY,
    schema_name      text NOT NULL,
    table_name       text NOT NULL,
    columns          text[] NOT NULL,   -- every column a caller may write
    pk_column        text,              -- NULL unless the primary key is one column
    pk_type          text,
    has_content_hash boolean NOT NULL,
    has_hash_version boolean NOT NULL,
    has_created_at   boolean NOT NULL,
    has_updated_at   boolean NOT NULL,
    has_deleted_at   boolean NOT NULL,
    hash_columns     text[] NOT NULL,   -- in table order
    hash_expression  text NOT NULL,     -- over the placeholder @ROW@
    hash_nulled      smallint[] NOT NULL, -- attribute numbers of the columns hashed as NULL
    unsafe_functions text,              -- see c77_secure_db_table_meta_for
    relied_on        oid[] NOT NULL     -- {{classid, objid}, ...}: the functions, operators and
                                        -- types the table's writes run (trust.c)
);
CREATE INDEX c77_secure_db_table_meta_name_idx ON c77_secure_db_table_meta (schema_name, table_name);

-- Open DDL windows of c77_secure_db_rehash(): (table, transaction) pairs whose DDL is allowed.
CREATE UNLOGGED TABLE c77_secure_db_ddl_windows (
    relid      oid NOT NULL,
    xact       xid8 NOT NULL,
    opened_by  text NOT NULL DEFAULT session_user,
    PRIMARY KEY (relid, xact)
);

-- pg_dump keeps the registry and the audit (and the audit's sequence).
SELECT pg_catalog.pg_extension_config_dump('c77_secure_db_secure_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('c77_secure_db_operation_audit', '');
SELECT pg_catalog.pg_extension_config_dump('c77_secure_db_operation_audit_id_seq', '');

-- ---------------------------------------------------------------------------------------------
-- Internal helpers (not granted to anyone; called by the SECURITY DEFINER functions below)
-- ---------------------------------------------------------------------------------------------

-- The identity tokens are bound to: this backend, in this run of the server. Every name is
-- schema-qualified instead of pinning search_path, so that the planner can inline it.
CREATE FUNCTION c77_secure_db_session_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.pg_backend_pid()::pg_catalog.text OPERATOR(pg_catalog.||) '@'
           OPERATOR(pg_catalog.||) pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time())::pg_catalog.int8::pg_catalog.text
$$;

-- Records one audited event and returns its id; used by every path that must leave a trace.
CREATE FUNCTION c77_secure_db_audit(
    p_operation_id uuid, p_schema text, p_table text, p_operation text, p_success boolean,
    p_error text, p_started timestamptz, p_record_id text DEFAULT NULL, p_content_hash text DEFAULT NULL,
    p_rbac_user text DEFAULT NULL, p_feature text DEFAULT NULL, p_details jsonb DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO @extschema@.c77_secure_db_operation_audit
        (operation_id, schema_name, table_name, operation_type, record_id, content_hash, success, error_message,
         execution_time_ms, rbac_user_id, required_feature, details)
    VALUES (p_operation_id, p_schema, p_table, p_operation, p_record_id, p_content_hash, p_success, p_error,
            ceil(extract(epoch FROM clock_timestamp() - p_started) * 1000)::integer, p_rbac_user, p_feature, p_details)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- SHA-256 (lower-case hex) of the UTF-8 bytes of a record's text output: exactly
-- encode(sha256(convert_to(r::text, 'UTF8')), 'hex'), computed in C (c77_secure_db.c) in one
-- call per row. Callers fix the settings the text output depends on; see HASHING.md.
CREATE FUNCTION c77_secure_db_row_hash(record) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'c77_secure_db_row_hash';

-- The same with the columns numbered in p_nulled (attnums) hashed as NULL: what the write
-- path stores for a row, with no copy of it and no domain check on the nulled columns.
CREATE FUNCTION c77_secure_db_row_hash(record, p_nulled smallint[]) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'c77_secure_db_row_hash';

-- The objects of p_relied_on ({{classid, objid}, ...} of functions, operators and types) a
-- non-superuser owns now, named as in refusals ("own.f(integer), domain own.amount"); NULL if
-- none. In C (trust.c): the write path checks a cached description on every call.
CREATE FUNCTION c77_secure_db_untrusted_objects(p_relied_on oid[]) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'c77_secure_db_untrusted_objects';

-- Whether a function's SET clauses (pg_proc.proconfig) pin a search_path that searches
-- pg_temp last, parsed as PostgreSQL parses it. In C (trust.c).
CREATE FUNCTION c77_secure_db_pins_search_path(p_config text[]) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'c77_secure_db_pins_search_path';

-- Builds (or returns the cached) description of a table: its writable columns, its single-
-- column primary key, which security columns it has, and its hash expression.
--
-- The hash covers every column except content_hash, hash_version, created_at, updated_at,
-- deleted_at, generated columns (NULL in BEFORE triggers) and the names listed in the JSON
-- comment on content_hash ({"exclude_hash_columns": [...]}; unknown names are ignored).
-- See HASHING.md for the encoding.
--
-- It also records what of a non-superuser's the table's writes would run: the write path runs
-- as the extension's (superuser) owner and would run it with superuser rights, so it refuses
-- such tables (unsafe_functions). The functions, operators and types it checked are kept
-- (relied_on), and a cached description is used only while they are all still owned by
-- superusers: owners change without DDL on the table (ALTER ... OWNER TO, ALTER ROLE ...
-- NOSUPERUSER). A table refused is described anew each time, so that it is written again
-- once what got it refused is gone.
CREATE FUNCTION c77_secure_db_table_meta_for(p_relid oid) RETURNS c77_secure_db_table_meta
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cached @extschema@.c77_secure_db_table_meta;
    v_meta @extschema@.c77_secure_db_table_meta;
    v_comment jsonb;
    v_security constant text[] := ARRAY['content_hash', 'hash_version', 'created_at', 'updated_at', 'deleted_at'];
    v_excluded text[] := v_security;
    v_columns text[];
BEGIN
    SELECT * INTO v_cached FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid;
    IF FOUND AND v_cached.unsafe_functions IS NULL AND @extschema@.c77_secure_db_untrusted_objects(v_cached.relied_on) IS NULL THEN
        RETURN v_cached;
    END IF;

    SELECT n.nspname, c.relname INTO v_meta.schema_name, v_meta.table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_relid AND c.relkind IN ('r', 'p');
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_meta.relid := p_relid;

    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_columns
    FROM pg_attribute a WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_meta.columns
    FROM pg_attribute a WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    v_meta.has_content_hash := 'content_hash' = ANY (v_columns);
    v_meta.has_hash_version := 'hash_version' = ANY (v_columns);
    v_meta.has_created_at := 'created_at' = ANY (v_columns);
    v_meta.has_updated_at := 'updated_at' = ANY (v_columns);
    v_meta.has_deleted_at := 'deleted_at' = ANY (v_columns);

    SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO v_meta.pk_column, v_meta.pk_type
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = p_relid AND i.indisprimary AND i.indnatts = 1;

    IF v_meta.has_content_hash THEN
        BEGIN
            v_comment := col_description(p_relid, (SELECT attnum FROM pg_attribute WHERE attrelid = p_relid AND attname = 'content_hash'))::jsonb;
        EXCEPTION WHEN others THEN
            v_comment := NULL;  -- a comment that is not JSON excludes nothing
        END;
        IF jsonb_typeof(v_comment -> 'exclude_hash_columns') = 'array' THEN
            v_excluded := v_excluded || ARRAY(SELECT jsonb_array_elements_text(v_comment -> 'exclude_hash_columns'));
        END IF;
    END IF;

    -- The row's own text output with every column that is not hashed set to NULL; see HASHING.md.
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE h.hashed), '{}'),
           '@extschema@.c77_secure_db_row_hash(ROW('
           || coalesce(string_agg(CASE WHEN h.hashed THEN format('(@ROW@).%I', a.attname) ELSE 'NULL' END, ', ' ORDER BY a.attnum), '')
           || '))',
           coalesce(array_agg(a.attnum ORDER BY a.attnum) FILTER (WHERE NOT h.hashed), '{}')
    INTO v_meta.hash_columns, v_meta.hash_expression, v_meta.hash_nulled
    FROM pg_attribute a
    CROSS JOIN LATERAL (SELECT a.attgenerated = '' AND NOT (a.attname::text = ANY (v_excluded)) AS hashed) AS h
    WHERE a.attrelid = p_relid AND a.attnum > 0 AND NOT a.attisdropped;

    -- The types of the columns, and those they are made of (domains' base types, arrays'
    -- elements, ranges' subtypes, multiranges' ranges, composite types' attributes).
    WITH RECURSIVE used(typ) AS (
        SELECT atttypid FROM pg_attribute WHERE attrelid = p_relid AND attnum > 0 AND NOT attisdropped
        UNION
        SELECT part.typ
        FROM used JOIN pg_type t ON t.oid = used.typ
        CROSS JOIN LATERAL (SELECT t.typbasetype WHERE t.typtype = 'd'
                            UNION ALL SELECT t.typelem WHERE t.typelem <> 0
                            UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid
                            UNION ALL SELECT r.rngtypid FROM pg_range r WHERE r.rngmultitypid = t.oid
                            UNION ALL SELECT a.atttypid FROM pg_attribute a
                                      WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS part(typ)
    ),
    -- What the table's defaults, constraints (its own and its types'), types' defaults,
    -- indexes, triggers, policies and rules depend on.
    deps AS (
        SELECT d.refclassid, d.refobjid FROM pg_depend d
        WHERE (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid = p_relid))
           OR (d.classid = 'pg_constraint'::regclass
               AND d.objid IN (SELECT oid FROM pg_constraint WHERE conrelid = p_relid OR contypid IN (SELECT typ FROM used)))
           OR (d.classid = 'pg_type'::regclass AND d.objid IN (SELECT typ FROM used))
           OR (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT indexrelid FROM pg_index WHERE indrelid = p_relid))
           OR (d.classid = 'pg_trigger'::regclass AND d.objid IN (SELECT oid FROM pg_trigger WHERE tgrelid = p_relid))
           OR (d.classid = 'pg_policy'::regclass AND d.objid IN (SELECT oid FROM pg_policy WHERE polrelid = p_relid))
           OR (d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT oid FROM pg_rewrite WHERE ev_class = p_relid))
    ),
    relied(classid, objid) AS (
        -- Composite, domain, enum, range and multirange types: their owner can add an
        -- attribute or a constraint calling any function, or a cast to json that to_jsonb()
        -- would call, without touching the table. So can the owner of a typed table's type.
        SELECT 'pg_type'::regclass::oid, t.oid
        FROM (SELECT typ FROM used UNION SELECT reloftype FROM pg_class WHERE oid = p_relid AND reloftype <> 0) AS u
        JOIN pg_type t ON t.oid = u.typ
        WHERE t.typtype IN ('c', 'd', 'e', 'r', 'm')
        UNION
        -- Trigger functions: one could change a row after it was hashed.
        SELECT 'pg_proc'::regclass::oid, tgfoid FROM pg_trigger WHERE tgrelid = p_relid AND NOT tgisinternal
        UNION
        -- Functions, SECURITY DEFINER or not (ALTER FUNCTION can make one an invoker's
        -- function at any time, without touching the table).
        SELECT refclassid, refobjid FROM deps WHERE refclassid = 'pg_proc'::regclass
        UNION
        -- Operators, and their functions (expressions depend on the operator, not on its
        -- function).
        SELECT 'pg_operator'::regclass::oid, operator FROM operators
        UNION
        SELECT 'pg_proc'::regclass::oid, op.oprcode FROM operators JOIN pg_operator op ON op.oid = operators.operator
        UNION
        -- The support functions of the indexes' operator families, which every index scan
        -- and insert runs.
        SELECT 'pg_proc'::regclass::oid, ap.amproc FROM pg_amproc ap WHERE ap.amprocfamily IN (SELECT family FROM families)
        UNION
        -- Casts of the column types to json, which to_jsonb() calls.
        SELECT 'pg_proc'::regclass::oid, c.castfunc FROM pg_cast c
        WHERE c.castsource IN (SELECT typ FROM used) AND c.casttarget IN ('json'::regtype, 'jsonb'::regtype) AND c.castfunc <> 0
    ),
    families(family) AS (
        SELECT oc.opcfamily FROM pg_index i CROSS JOIN LATERAL unnest(i.indclass::oid[]) AS k(opclass)
        JOIN pg_opclass oc ON oc.oid = k.opclass WHERE i.indrelid = p_relid    ),
    -- The operators the table's expressions and its indexes' operator families use.
    operators(operator) AS (
        SELECT refobjid FROM deps WHERE refclassid = 'pg_operator'::regclass
        UNION
        SELECT amopopr FROM pg_amop WHERE amopfamily IN (SELECT family FROM families)
    )
    -- Built-in objects are left out: they belong to the bootstrap superuser.
    SELECT coalesce(array_agg(ARRAY[classid, objid] ORDER BY classid, objid), '{}') INTO v_meta.relied_on
    FROM relied WHERE objid >= 16384;

    SELECT string_agg(unsafe, ', ') INTO v_meta.unsafe_functions
    FROM (
    -- What of the above a non-superuser owns.
    SELECT @extschema@.c77_secure_db_untrusted_objects(v_meta.relied_on) AS unsafe
    UNION ALL
    -- A rule: its actions write other tables, with whatever those run.
    SELECT format('rule %s', r.rulename) FROM pg_rewrite r WHERE r.ev_class = p_relid AND r.rulename <> '_RETURN'
    UNION ALL
    -- A parent or child by inheritance or partitioning: DDL on a parent changes the table
    -- (triggers, constraints, columns) with no DDL on it, and a child's rows, unprotected
    -- outside a secure schema, show in the table's reads.
    SELECT format('parent table %s', i.inhparent::regclass) FROM pg_inherits i WHERE i.inhrelid = p_relid
    UNION ALL
    SELECT format('child table %s', i.inhrelid::regclass) FROM pg_inherits i WHERE i.inhparent = p_relid
    ) AS found;

    -- A refused table is described on every call: the cache is written only when the
    -- description changed, and never in a read-only transaction (nor on a standby).
    IF v_meta IS NOT DISTINCT FROM v_cached OR current_setting('transaction_read_only')::boolean THEN
        RETURN v_meta;
    END IF;
    INSERT INTO @extschema@.c77_secure_db_table_meta VALUES (v_meta.*)
    ON CONFLICT (relid) DO UPDATE SET
        schema_name = EXCLUDED.schema_name, table_name = EXCLUDED.table_name, columns = EXCLUDED.columns,
        pk_column = EXCLUDED.pk_column, pk_type = EXCLUDED.pk_type, has_content_hash = EXCLUDED.has_content_hash,
        has_hash_version = EXCLUDED.has_hash_version, has_created_at = EXCLUDED.has_created_at,
        has_updated_at = EXCLUDED.has_updated_at, has_deleted_at = EXCLUDED.has_deleted_at,
        hash_columns = EXCLUDED.hash_columns, hash_expression = EXCLUDED.hash_expression, hash_nulled = EXCLUDED.hash_nulled,
        unsafe_functions = EXCLUDED.unsafe_functions, relied_on = EXCLUDED.relied_on;
    RETURN v_meta;
END
$$;

-- Why the extension's SECURITY DEFINER functions must not read or convert a table's rows
-- (NULL: they may): it would run a non-superuser's code with their owner's rights (see
-- unsafe_functions). Every function that touches a table's data checks it.
--
-- Nor while this session has temporary tables, views or types and a function the table relies
-- on does not pin a search_path with pg_temp last: pg_temp is on every search_path, so the
-- names such a function leaves unqualified could find what the caller made there.
CREATE FUNCTION c77_secure_db_unsafe_reason(p_meta c77_secure_db_table_meta) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_meta.unsafe_functions IS NOT NULL THEN
            format('Table %s.%s calls functions owned by a non-superuser (%s) in defaults, constraints, indexes, triggers, policies or rules; c77_secure_db will not run them with its owner''s rights',
                   p_meta.schema_name, p_meta.table_name, p_meta.unsafe_functions)
        WHEN pg_my_temp_schema() <> 0
             AND (EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_my_temp_schema())
                  OR EXISTS (SELECT FROM pg_type WHERE typnamespace = pg_my_temp_schema()))
             AND EXISTS (SELECT FROM generate_subscripts(p_meta.relied_on, 1) AS i
                         JOIN pg_proc p ON p_meta.relied_on[i][1] = 'pg_proc'::regclass AND p.oid = p_meta.relied_on[i][2]
                         JOIN pg_language l ON l.oid = p.prolang
                         WHERE l.lanname NOT IN ('c', 'internal')
                           AND NOT coalesce(@extschema@.c77_secure_db_pins_search_path(p.proconfig), false)) THEN
            format('This session has temporary tables or types, and table %s.%s relies on functions that do not pin their search_path, where they could stand in for the names those functions use; c77_secure_db will not run them with its owner''s rights',
                   p_meta.schema_name, p_meta.table_name)
    END
$$;

-- The relation a (schema, table) pair names, or NULL; never interprets the names as SQL.
CREATE FUNCTION c77_secure_db_relid(p_schema text, p_table text) RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = p_schema AND c.relname = p_table AND c.relkind IN ('r', 'p'));
END
$$;

-- Whether a schema is registered. SECURITY DEFINER and open to everyone: the event triggers
-- run as whoever issues the DDL and must be able to ask.
CREATE FUNCTION c77_secure_db_is_secure_schema(p_schema text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM @extschema@.c77_secure_db_secure_schemas WHERE schema_name = p_schema);
END
$$;

-- Creates a token for this session and puts it in force for the current transaction.
CREATE FUNCTION c77_secure_db_authorize(p_operation text, p_relid oid) RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_token uuid := gen_random_uuid();
    v_setting text;
BEGIN
    INSERT INTO @extschema@.c77_secure_db_auth_tokens (token, session_id, operation_type, table_oid, expires_at)
    VALUES (v_token, @extschema@.c77_secure_db_session_id(), p_operation, p_relid, clock_timestamp() + interval '5 seconds');
    v_setting := set_config('c77_secure_db.auth_token', v_token::text, true);
    RETURN v_token;
END
$$;

-- Takes the token out of force and marks it used, unless the statement's row consumed it
-- (p_consumed: no need to look). Returns true. Assignments instead of PERFORM, here and in the
-- write path: a plain function call runs without a query executor.
CREATE FUNCTION c77_secure_db_deauthorize(p_token uuid, p_consumed boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_setting text := set_config('c77_secure_db.auth_token', '', true);
BEGIN
    IF NOT p_consumed THEN
        UPDATE @extschema@.c77_secure_db_auth_tokens SET used = true WHERE token = p_token AND NOT used;
    END IF;
    RETURN true;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Protection triggers
-- ---------------------------------------------------------------------------------------------

-- The operation the token in force (c77_secure_db.auth_token) authorizes for the next row of
-- a table, or NULL. The token must exist, belong to this backend, be unexpired and unused,
-- and be for this table (or for any table, if an administrator created it). It is consumed
-- by the row it authorizes, except a 'rehash' token, which the rehash path retires itself
-- after its one statement.
CREATE FUNCTION c77_secure_db_token_kind(p_relid oid) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_setting text := nullif(current_setting('c77_secure_db.auth_token', true), '');
    v_token uuid;
    v_kind text;
BEGIN
    IF v_setting IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        v_token := v_setting::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;
    END;
    UPDATE @extschema@.c77_secure_db_auth_tokens SET used = true
    WHERE token = v_token AND NOT used AND operation_type <> 'rehash' AND expires_at > clock_timestamp()
      AND session_id = @extschema@.c77_secure_db_session_id()
      AND (table_oid IS NULL OR table_oid = p_relid)
    RETURNING operation_type INTO v_kind;
    IF v_kind IS NULL THEN
        -- A 'rehash' token is not consumed: it stays valid for the whole statement that
        -- started after it, however many rows it re-hashes, and its path retires it.
        SELECT operation_type INTO v_kind
        FROM @extschema@.c77_secure_db_auth_tokens
        WHERE token = v_token AND NOT used AND operation_type = 'rehash'
          AND (expires_at > clock_timestamp() OR created_at >= statement_timestamp())
          AND session_id = @extschema@.c77_secure_db_session_id()
          AND table_oid = p_relid;
    END IF;
    RETURN v_kind;
END
$$;

-- BEFORE INSERT/UPDATE/DELETE on every row of a secure table. Lets the write through only
-- while a valid token is in force (c77_secure_db_token_kind), and maintains the security
-- columns.
--
-- Everything here is static SQL (plans cached per session): the hash is the text output of a
-- copy of the row whose unhashed columns are NULL. The fixed settings make that text
-- independent of the session (TimeZone, DateStyle, …); see HASHING.md.
CREATE FUNCTION c77_secure_db_protect_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_kind text := @extschema@.c77_secure_db_token_kind(TG_RELID);
    v_meta @extschema@.c77_secure_db_table_meta;
BEGIN
    IF v_kind IS NULL THEN
        RAISE EXCEPTION 'Direct modifications not allowed on secure table %.%. Use c77_secure_db_operation() function.',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Writes to tables of a secure schema must go through c77_secure_db_operation().';
    END IF;

    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;

    -- The cache hit inline (one query per row, no function call); built on a miss.
    SELECT * INTO v_meta FROM @extschema@.c77_secure_db_table_meta WHERE relid = TG_RELID;
    IF NOT FOUND THEN
        v_meta := @extschema@.c77_secure_db_table_meta_for(TG_RELID);
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF v_meta.has_created_at THEN NEW.created_at := now(); END IF;
        IF v_meta.has_updated_at THEN NEW.updated_at := now(); END IF;
        IF v_meta.has_deleted_at THEN NEW.deleted_at := NULL; END IF;
    ELSE
        IF v_meta.has_created_at THEN NEW.created_at := OLD.created_at; END IF;
        IF v_meta.has_updated_at AND v_kind <> 'rehash' THEN NEW.updated_at := now(); END IF;
    END IF;
    IF v_meta.has_content_hash THEN
        NEW.content_hash := @extschema@.c77_secure_db_row_hash(NEW, v_meta.hash_nulled);
        IF v_meta.has_hash_version THEN NEW.hash_version := 1; END IF;
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE TRUNCATE: never allowed on a secure table (rows would vanish without a trace).
CREATE FUNCTION c77_secure_db_block_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'Direct modifications not allowed on secure table %.%. Use c77_secure_db_operation() function.',
        TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = 'TRUNCATE is never allowed on a secure table.';
END
$$;

-- What the write path's role, c77_secure_db_writer, needs on a secure table: its rows, and the
-- sequences its serial and identity columns draw from.
CREATE FUNCTION c77_secure_db_writer_access(p_relid oid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sequence regclass;
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO c77_secure_db_writer', p_relid::regclass);
    FOR v_sequence IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                        AND d.refobjid = p_relid AND d.deptype IN ('a', 'i') LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO c77_secure_db_writer', v_sequence);
    END LOOP;
END
$$;

-- Puts the protection triggers on a table (idempotent), lets readonly read it, and hashes
-- its rows that have no hash yet. Returns the number of rows hashed.
CREATE FUNCTION c77_secure_db_protect_table(p_relid oid) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_meta @extschema@.c77_secure_db_table_meta;
BEGIN
    DELETE FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid;
    v_meta := @extschema@.c77_secure_db_table_meta_for(p_relid);
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_relid AND tgname = 'c77_secure_db_protect') THEN
        EXECUTE format('CREATE TRIGGER c77_secure_db_protect BEFORE INSERT OR UPDATE OR DELETE ON %I.%I
                        FOR EACH ROW EXECUTE FUNCTION @extschema@.c77_secure_db_protect_row()',
                       v_meta.schema_name, v_meta.table_name);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_relid AND tgname = 'c77_secure_db_no_truncate') THEN
        EXECUTE format('CREATE TRIGGER c77_secure_db_no_truncate BEFORE TRUNCATE ON %I.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.c77_secure_db_block_truncate()',
                       v_meta.schema_name, v_meta.table_name);
    END IF;
    EXECUTE format('GRANT SELECT ON %I.%I TO c77_secure_db_readonly, c77_secure_db_monitor', v_meta.schema_name, v_meta.table_name);
    PERFORM @extschema@.c77_secure_db_writer_access(p_relid);
    RETURN @extschema@.c77_secure_db_rehash_rows(p_relid, true);
END
$$;

-- Removes the protection triggers from a table.
CREATE FUNCTION c77_secure_db_unprotect_table(p_relid oid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := p_relid::regclass::text;
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS c77_secure_db_protect ON %s', v_name);
    EXECUTE format('DROP TRIGGER IF EXISTS c77_secure_db_no_truncate ON %s', v_name);
    EXECUTE format('REVOKE ALL ON %s FROM c77_secure_db_writer', v_name);
    DELETE FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Event triggers: new tables get protected; DDL that would change rows or hashes is guarded
-- ---------------------------------------------------------------------------------------------

-- Whether a rehash window is open on this table in this transaction (DDL by non-superusers
-- passes only then). Open to everyone, like c77_secure_db_is_secure_schema.
CREATE FUNCTION c77_secure_db_ddl_window_open(p_relid oid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM @extschema@.c77_secure_db_ddl_windows
                   WHERE relid = p_relid AND xact = pg_current_xact_id_if_assigned())
$$;

-- What the event triggers do after DDL on a table of a secure schema, with the extension
-- owner's rights (the event triggers themselves run as whoever issued the DDL): protect a new
-- table, or forget the cached description of a changed one and, inside a rehash window,
-- re-hash its rows. Safe for anyone to call: it only ever adds protection, and re-hashes only
-- where an administrator opened a window in this transaction.
CREATE FUNCTION c77_secure_db_after_ddl(p_relid oid, p_created boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema text;
    v_table text;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_relid AND c.relkind IN ('r', 'p');
    IF v_schema IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(v_schema) THEN
        RETURN;
    END IF;
    IF p_created THEN
        IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_relid AND tgname = 'c77_secure_db_protect') THEN
            RETURN;  -- only tables that are not protected yet
        END IF;
        PERFORM @extschema@.c77_secure_db_protect_table(p_relid);
        PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), v_schema, v_table, 'protect_table', true, NULL, clock_timestamp());
        RETURN;
    END IF;
    DELETE FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid;
    PERFORM @extschema@.c77_secure_db_writer_access(p_relid);  -- a serial column may have come
    IF @extschema@.c77_secure_db_ddl_window_open(p_relid) THEN
        PERFORM @extschema@.c77_secure_db_rehash_rows(p_relid);
    END IF;
END
$$;

-- Forgets the cached description of a dropped table.
CREATE FUNCTION c77_secure_db_forget_table(p_relid oid) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ DELETE FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid $$;

-- ddl_command_end: protects tables created in a secure schema; for DDL on an existing secure
-- table (ALTER TABLE, COMMENT, CREATE RULE, CREATE TRIGGER) refuses non-superusers outside a
-- rehash window, and afterwards refreshes the cached table description and re-hashes the rows
-- when the DDL ran inside one.
--
-- The check uses current_user, the role running the DDL (event trigger functions are not
-- SECURITY DEFINER).
CREATE FUNCTION c77_secure_db_on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_command record;
    v_relid oid;
    v_schema text;
    v_superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
BEGIN
    FOR v_command IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        v_relid := NULL;
        IF v_command.classid = 'pg_class'::regclass THEN
            v_relid := v_command.objid;
        ELSIF v_command.classid = 'pg_rewrite'::regclass THEN
            SELECT ev_class INTO v_relid FROM pg_rewrite WHERE oid = v_command.objid;
        ELSIF v_command.classid = 'pg_trigger'::regclass THEN
            SELECT tgrelid INTO v_relid FROM pg_trigger WHERE oid = v_command.objid;
        END IF;
        CONTINUE WHEN v_relid IS NULL;
        SELECT n.nspname INTO v_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = v_relid AND c.relkind IN ('r', 'p');
        CONTINUE WHEN v_schema IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(v_schema);

        IF v_command.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
            PERFORM @extschema@.c77_secure_db_after_ddl(v_relid, true);
            CONTINUE;
        END IF;
        CONTINUE WHEN v_command.command_tag IN ('CREATE INDEX', 'GRANT', 'REVOKE', 'ALTER INDEX', 'CREATE STATISTICS')
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

-- sql_drop: a non-superuser cannot drop a secure table or its protection triggers outside a
-- rehash window; cached descriptions of dropped tables are forgotten.
CREATE FUNCTION c77_secure_db_on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_object record;
    v_relid oid;
BEGIN
    FOR v_object IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        IF v_object.object_type = 'table' AND @extschema@.c77_secure_db_is_secure_schema(v_object.schema_name) THEN
            PERFORM @extschema@.c77_secure_db_forget_table(v_object.objid);
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                RAISE EXCEPTION 'DROP of secure table % is not allowed', v_object.object_identity
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'Remove the schema from the registry first: c77_secure_db_manage_secure_schemas(''remove'', schema).';
            END IF;
        ELSIF v_object.object_type = 'trigger'
              AND (v_object.object_identity LIKE 'c77\_secure\_db\_protect on %' OR v_object.object_identity LIKE 'c77\_secure\_db\_no\_truncate on %') THEN
            v_relid := to_regclass(substring(v_object.object_identity FROM ' on (.*)$'));
            IF v_relid IS NOT NULL AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               AND NOT @extschema@.c77_secure_db_ddl_window_open(v_relid)
               AND @extschema@.c77_secure_db_is_secure_schema(v_object.schema_name) THEN
                RAISE EXCEPTION 'Dropping protection trigger % is not allowed', v_object.object_identity
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
    END LOOP;
END
$$;

CREATE EVENT TRIGGER c77_secure_db_ddl_guard ON ddl_command_end
    EXECUTE FUNCTION c77_secure_db_on_ddl_end();
CREATE EVENT TRIGGER c77_secure_db_drop_guard ON sql_drop
    EXECUTE FUNCTION c77_secure_db_on_sql_drop();

-- Re-hashes the rows of a table under a 'rehash' token (which leaves updated_at alone):
-- every row (after DDL in a rehash window, or on request), or only the unhashed ones (when a
-- table comes under protection). Returns how many rows it hashed.
CREATE FUNCTION c77_secure_db_rehash_rows(p_relid oid, p_only_unhashed boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_meta @extschema@.c77_secure_db_table_meta;
    v_token uuid;
    v_count bigint := 0;
    v_rows boolean;
BEGIN
    DELETE FROM @extschema@.c77_secure_db_table_meta WHERE relid = p_relid;
    v_meta := @extschema@.c77_secure_db_table_meta_for(p_relid);
    -- Re-hashing runs the table's functions with the extension owner's rights: never a
    -- non-superuser's. Such a table is not re-hashed at all (even an UPDATE of no rows runs
    -- statement triggers); with rows to re-hash, that is an error.
    IF v_meta.has_content_hash AND v_meta.unsafe_functions IS NOT NULL THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I%s)', v_meta.schema_name, v_meta.table_name,
                       CASE WHEN p_only_unhashed THEN ' WHERE content_hash IS NULL' ELSE '' END) INTO v_rows;
        IF v_rows THEN
            RAISE EXCEPTION 'Table %.% calls functions owned by a non-superuser (%) in defaults, constraints, indexes, triggers, policies or rules; its rows will not be re-hashed with the extension owner''s rights',
                v_meta.schema_name, v_meta.table_name, v_meta.unsafe_functions
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN 0;
    END IF;
    IF v_meta.has_content_hash THEN
        v_token := @extschema@.c77_secure_db_authorize('rehash', p_relid);
        EXECUTE format('UPDATE ONLY %I.%I SET content_hash = NULL%s', v_meta.schema_name, v_meta.table_name,
                       CASE WHEN p_only_unhashed THEN ' WHERE content_hash IS NULL' ELSE '' END);
        GET DIAGNOSTICS v_count = ROW_COUNT;
        PERFORM @extschema@.c77_secure_db_deauthorize(v_token);
    END IF;
    RETURN v_count;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Administration: the registry, re-hashing, tokens for administrators, retention
-- ---------------------------------------------------------------------------------------------

-- c77_secure_db_manage_secure_schemas('add' | 'remove' | 'list', schema)
--
-- 'add' registers a schema: its tables get protection triggers and their unhashed rows get
-- hashes; tables created in it later are protected as they are created. Adding a registered
-- schema succeeds and says so. 'remove' takes the protection off again. 'list' shows the
-- registry. SECURITY INVOKER, so that the privilege check sees the caller: 'add' and 'remove'
-- need EXECUTE on c77_secure_db_change_registry (c77_secure_db_admin); anyone else gets
-- success:false.
CREATE FUNCTION c77_secure_db_manage_secure_schemas(p_operation text, p_schema_name text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schemas jsonb;
BEGIN
    IF p_operation = 'list' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'schema_name', s.schema_name, 'created_at', s.created_at, 'registered_by', s.registered_by,
                   'table_count', (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE n.nspname = s.schema_name AND c.relkind IN ('r', 'p')))
                   ORDER BY s.schema_name), '[]')
        INTO v_schemas FROM @extschema@.c77_secure_db_secure_schemas s;
        RETURN jsonb_build_object('success', true, 'operation', 'list', 'schemas', v_schemas,
                                  'count', jsonb_array_length(v_schemas), 'timestamp', now());
    END IF;
    IF p_operation IS NULL OR p_operation NOT IN ('add', 'remove') THEN
        RETURN jsonb_build_object('success', false, 'error', format('Invalid operation %L: use add, remove or list', p_operation),
                                  'timestamp', now());
    END IF;
    IF p_schema_name IS NULL OR p_schema_name = '' THEN
        RETURN jsonb_build_object('success', false, 'error', format('Schema name required for %s operation', p_operation),
                                  'timestamp', now());
    END IF;
    IF NOT has_function_privilege('@extschema@.c77_secure_db_change_registry(text, text)', 'EXECUTE') THEN
        RETURN jsonb_build_object('success', false, 'error', 'Permission denied: managing secure schemas requires c77_secure_db_admin',
                                  'timestamp', now());
    END IF;
    RETURN @extschema@.c77_secure_db_change_registry(p_operation, p_schema_name);
END
$$;

-- The 'add' and 'remove' of c77_secure_db_manage_secure_schemas, with the owner's rights.
CREATE FUNCTION c77_secure_db_change_registry(p_operation text, p_schema_name text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_operation_id uuid := gen_random_uuid();
    v_relid oid;
    v_tables int := 0;
    v_rows bigint := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = p_schema_name) THEN
        RETURN jsonb_build_object('success', false, 'error', format('Schema %s does not exist', p_schema_name), 'timestamp', now());
    END IF;

    IF p_operation = 'add' THEN
        IF @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
            RETURN jsonb_build_object('success', true, 'operation', 'add', 'schema_name', p_schema_name,
                                      'message', format('Schema %s is already registered as secure', p_schema_name),
                                      'already_registered', true, 'timestamp', now());
        END IF;
        INSERT INTO @extschema@.c77_secure_db_secure_schemas (schema_name) VALUES (p_schema_name);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO c77_secure_db_readonly, c77_secure_db_monitor, c77_secure_db_writer', p_schema_name);
        FOR v_relid IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = p_schema_name AND c.relkind IN ('r', 'p') ORDER BY c.relname LOOP
            v_rows := v_rows + @extschema@.c77_secure_db_protect_table(v_relid);
            v_tables := v_tables + 1;
        END LOOP;
    ELSE
        IF NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
            RETURN jsonb_build_object('success', false, 'error', format('Schema %s is not registered as secure', p_schema_name),
                                      'timestamp', now());
        END IF;
        FOR v_relid IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = p_schema_name AND c.relkind IN ('r', 'p') LOOP
            PERFORM @extschema@.c77_secure_db_unprotect_table(v_relid);
            v_tables := v_tables + 1;
        END LOOP;
        DELETE FROM @extschema@.c77_secure_db_secure_schemas WHERE schema_name = p_schema_name;
    END IF;

    PERFORM @extschema@.c77_secure_db_audit(v_operation_id, p_schema_name, NULL, 'schema_' || p_operation, true, NULL, v_started,
                                            p_details => jsonb_build_object('tables', v_tables, 'rows_hashed', v_rows));
    RETURN jsonb_build_object(
        'success', true, 'operation', p_operation, 'schema_name', p_schema_name,
        'message', CASE p_operation WHEN 'add' THEN format('Schema %s registered as secure', p_schema_name)
                                    ELSE format('Schema %s removed from the secure registry', p_schema_name) END,
        CASE p_operation WHEN 'add' THEN 'tables_protected' ELSE 'tables_unprotected' END, v_tables,
        'rows_hashed', v_rows, 'operation_id', v_operation_id, 'timestamp', now());
END
$$;

-- c77_secure_db_rehash(schema, table): re-hashes every row of a secure table, audited, and
-- opens a DDL window on it for the rest of the transaction: ALTER TABLE, COMMENT ON COLUMN
-- content_hash, CREATE RULE and the like then pass the DDL guard, and the rows are re-hashed
-- again after each such command. For administrators.
CREATE FUNCTION c77_secure_db_rehash(p_schema_name text, p_table_name text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_rows bigint;
BEGIN
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s is not a table of a secure schema', p_schema_name, p_table_name),
                                  'timestamp', now());
    END IF;
    INSERT INTO @extschema@.c77_secure_db_ddl_windows (relid, xact) VALUES (v_relid, pg_current_xact_id())
    ON CONFLICT DO NOTHING;
    v_rows := @extschema@.c77_secure_db_rehash_rows(v_relid);
    PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), p_schema_name, p_table_name, 'rehash', true, NULL, v_started,
                                            p_details => jsonb_build_object('rows_rehashed', v_rows));
    RETURN jsonb_build_object('success', true, 'schema_name', p_schema_name, 'table_name', p_table_name,
                              'rows_rehashed', v_rows, 'ddl_window', 'open until the end of this transaction', 'timestamp', now());
END
$$;

-- c77_secure_db_create_auth_token(operation): a token for an administrator's own direct write
-- in this session within about 5 seconds (one row of any secure table), for maintenance such
-- as BEST_PRACTICES.md's forensic procedure: put it in force with
-- set_config('c77_secure_db.auth_token', token::text, true).
CREATE FUNCTION c77_secure_db_create_auth_token(p_operation text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_token uuid := gen_random_uuid();
BEGIN
    IF p_operation = 'rehash' THEN
        RAISE EXCEPTION 'The purpose ''rehash'' is reserved for c77_secure_db_rehash()' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO @extschema@.c77_secure_db_auth_tokens (token, session_id, operation_type, table_oid, expires_at)
    VALUES (v_token, @extschema@.c77_secure_db_session_id(), coalesce(p_operation, 'admin'), NULL, clock_timestamp() + interval '5 seconds');
    PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), NULL, NULL, 'create_auth_token', true, NULL, clock_timestamp(),
                                            p_details => jsonb_build_object('purpose', p_operation));
    RETURN v_token;
END
$$;

-- Removes used and expired tokens (and DDL windows of finished transactions); returns how many tokens.
CREATE FUNCTION c77_secure_db_cleanup_expired_tokens() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    DELETE FROM @extschema@.c77_secure_db_auth_tokens WHERE used OR expires_at < clock_timestamp();
    GET DIAGNOSTICS v_count = ROW_COUNT;
    DELETE FROM @extschema@.c77_secure_db_ddl_windows WHERE xact < pg_snapshot_xmin(pg_current_snapshot());
    RETURN v_count;
END
$$;

-- c77_secure_db_purge_audit(before, batch_size): deletes up to batch_size audit rows older than
-- `before`, oldest first, and records the purge in the audit itself. For administrators (or
-- roles granted EXECUTE on it, such as the daemon's when retention is on). Call it until
-- deleted_count is below batch_size.
CREATE FUNCTION c77_secure_db_purge_audit(p_before timestamptz, p_batch_size integer DEFAULT 10000) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_deleted integer;
BEGIN
    IF p_before IS NULL OR p_batch_size IS NULL OR p_batch_size < 1 THEN
        RETURN jsonb_build_object('success', false, 'error', 'before and a positive batch_size are required', 'timestamp', now());
    END IF;
    IF p_before > now() - interval '1 hour' THEN
        RETURN jsonb_build_object('success', false, 'error', 'Refusing to purge audit rows younger than one hour', 'timestamp', now());
    END IF;
    DELETE FROM @extschema@.c77_secure_db_operation_audit
    WHERE id IN (SELECT id FROM @extschema@.c77_secure_db_operation_audit WHERE created_at < p_before
                 ORDER BY created_at, id LIMIT p_batch_size);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), NULL, NULL, 'purge_audit', true, NULL, v_started,
                                            p_details => jsonb_build_object('before', p_before, 'deleted_count', v_deleted));
    RETURN jsonb_build_object('success', true, 'deleted_count', v_deleted, 'before', p_before, 'timestamp', now());
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The write path
-- ---------------------------------------------------------------------------------------------

-- The schema-qualified name of c77_rbac_can_access(text, text, text, text) as the installed
-- c77_rbac extension defines it, or NULL. Never a function of that name that merely exists
-- somewhere on a search_path: that one could be anybody's, and it would run with this
-- extension's rights.
CREATE FUNCTION c77_secure_db_rbac_function() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%I.%I', n.nspname, p.proname)
    FROM pg_extension e
    JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
    JOIN pg_proc p ON p.oid = d.objid AND p.proname = 'c77_rbac_can_access'
                  AND p.proargtypes = '25 25 25 25'::oidvector
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE e.extname = 'c77_rbac'
$$;

-- The RBAC decision for an operation: NULL when allowed, else the failure response.
-- With check_rbac the caller's identity is the c77_rbac.external_id setting; the check is
-- c77_rbac_can_access(feature, external_id, scope_type, scope_id) of the companion extension.
CREATE FUNCTION c77_secure_db_rbac_denial(p_check boolean, p_feature text, p_scope_type text, p_scope_id text, OUT denial jsonb, OUT user_id text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_allowed boolean;
    v_function text;
BEGIN
    IF NOT p_check THEN
        RETURN;
    END IF;
    v_function := @extschema@.c77_secure_db_rbac_function();
    IF v_function IS NULL THEN
        denial := jsonb_build_object('success', false, 'error', 'RBAC requested but c77_rbac is not installed',
                                     'hint', 'CREATE EXTENSION c77_rbac, or call with check_rbac = false', 'timestamp', now());
        RETURN;
    END IF;
    user_id := nullif(current_setting('c77_rbac.external_id', true), '');
    IF user_id IS NULL THEN
        denial := jsonb_build_object('success', false, 'error', 'RBAC enabled but no user context set',
                                     'hint', 'Set c77_rbac.external_id session variable', 'timestamp', now());
        RETURN;
    END IF;
    EXECUTE format('SELECT %s($1, $2, $3, $4)', v_function) INTO v_allowed USING p_feature, user_id, p_scope_type, p_scope_id;
    IF NOT coalesce(v_allowed, false) THEN
        denial := jsonb_build_object('success', false, 'error', 'Insufficient permissions', 'required_feature', p_feature,
                                     'user_id', user_id, 'timestamp', now());
    END IF;
END
$$;

-- c77_secure_db_operation(data, check_rbac, required_feature, scope_type, scope_id)
--
-- The one write path into secure tables. `data` is {"schema_name", "table_name",
-- "operation": insert|update|upsert|delete|soft_delete, "data": {...}, "primary_key": "id"}.
-- Column names are checked against the catalog and quoted; values are bound and converted
-- through the table's row type (jsonb_populate_record), the same conversion the content hash
-- sees. Security columns in `data` are ignored: the protection trigger maintains them.
--
-- Every call is audited. Failures never raise: they return
-- {"success": false, "error": …, "operation_id": …, "timestamp": …}.
-- Without an explicit feature, RBAC checks secure_db_insert (insert), secure_db_update
-- (update, upsert), secure_db_delete (soft_delete) or secure_db_hard_delete (delete).
CREATE FUNCTION c77_secure_db_operation(
    p_json_data jsonb, p_check_rbac boolean, p_required_feature text DEFAULT NULL,
    p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_operation_id uuid := gen_random_uuid();
    v_schema text := p_json_data ->> 'schema_name';
    v_table text := p_json_data ->> 'table_name';
    v_operation text := lower(p_json_data ->> 'operation');
    v_data jsonb := p_json_data -> 'data';
    v_pk text := coalesce(p_json_data ->> 'primary_key', 'id');
    v_feature text;
    v_relid oid;
    v_meta @extschema@.c77_secure_db_table_meta;
    v_denial jsonb;
    v_rbac_user text;
    v_columns text[];
    v_unknown text;
    v_token uuid;
    v_row jsonb;
    v_rows integer := 0;
    v_error text;
    v_record_id text;
    v_response jsonb;
    v_audit_id bigint;
    v_done boolean;
BEGIN
    -- Validate the request.
    IF p_json_data IS NULL OR jsonb_typeof(p_json_data) <> 'object' THEN
        v_error := 'Operation data must be a JSON object';
    ELSIF v_schema IS NULL OR v_table IS NULL OR v_operation IS NULL THEN
        v_error := 'schema_name, table_name and operation are required';
    ELSIF v_operation NOT IN ('insert', 'update', 'upsert', 'delete', 'soft_delete') THEN
        v_error := format('Invalid operation: %s (use insert, update, upsert, delete or soft_delete)', p_json_data ->> 'operation');
    ELSIF v_data IS NULL OR jsonb_typeof(v_data) <> 'object' THEN
        v_error := 'data must be a JSON object';
    ELSE
        -- The cached description, if the table still has the name it was cached under and its
        -- schema is registered: one query instead of three on every call.
        SELECT m.* INTO v_meta
        FROM @extschema@.c77_secure_db_table_meta AS m
        JOIN pg_catalog.pg_class AS c ON c.oid = m.relid AND c.relname = m.table_name
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = m.schema_name
        WHERE m.schema_name = v_schema AND m.table_name = v_table
          AND EXISTS (SELECT FROM @extschema@.c77_secure_db_secure_schemas AS r WHERE r.schema_name = v_schema);
        IF FOUND THEN
            v_relid := v_meta.relid;
        ELSIF NOT @extschema@.c77_secure_db_is_secure_schema(v_schema) THEN
            v_error := format('Schema %s is not a registered secure schema', v_schema);
        ELSE
            v_relid := @extschema@.c77_secure_db_relid(v_schema, v_table);
            IF v_relid IS NULL THEN
                v_error := format('Table %s.%s does not exist', v_schema, v_table);
            ELSE
                v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
            END IF;
        END IF;
    END IF;

    IF v_error IS NULL THEN
        v_data := v_data - ARRAY['content_hash', 'hash_version', 'created_at', 'updated_at', 'deleted_at'];
        SELECT array_agg(k), min(k) FILTER (WHERE NOT (k = ANY (v_meta.columns))) INTO v_columns, v_unknown
        FROM jsonb_object_keys(v_data) AS k;
        IF v_meta.unsafe_functions IS NOT NULL THEN
            v_error := format('Table %s.%s calls functions owned by a non-superuser (%s) in defaults, constraints, indexes, triggers, policies or rules; c77_secure_db_operation will not run them with its owner''s rights',
                              v_schema, v_table, v_meta.unsafe_functions);
        ELSIF v_unknown IS NOT NULL THEN
            v_error := format('Column %s does not exist in table %s.%s', v_unknown, v_schema, v_table);
        ELSIF NOT (v_pk = ANY (v_meta.columns)) THEN
            v_error := format('Primary key column %s does not exist in table %s.%s', v_pk, v_schema, v_table);
        ELSIF v_operation IN ('update', 'delete', 'soft_delete') AND (v_data -> v_pk IS NULL OR v_data -> v_pk = 'null') THEN
            v_error := format('Primary key "%s" required for %s operation', v_pk, v_operation);
        ELSIF v_operation = 'soft_delete' AND NOT v_meta.has_deleted_at THEN
            v_error := format('Table %s.%s has no deleted_at column; soft_delete needs one', v_schema, v_table);
        END IF;
        v_record_id := v_data ->> v_pk;
    END IF;

    v_feature := coalesce(p_required_feature, CASE v_operation
        WHEN 'insert' THEN 'secure_db_insert' WHEN 'update' THEN 'secure_db_update' WHEN 'upsert' THEN 'secure_db_update'
        WHEN 'soft_delete' THEN 'secure_db_delete' WHEN 'delete' THEN 'secure_db_hard_delete' END);

    IF v_error IS NULL AND p_check_rbac THEN
        SELECT denial, user_id INTO v_denial, v_rbac_user
        FROM @extschema@.c77_secure_db_rbac_denial(true, v_feature, p_scope_type, p_scope_id);
        IF v_denial IS NOT NULL THEN
            v_audit_id := @extschema@.c77_secure_db_audit(v_operation_id, v_schema, v_table, v_operation, false, v_denial ->> 'error',
                                                    v_started, v_record_id, NULL, v_rbac_user, v_feature);
            RETURN v_denial || jsonb_build_object('operation_id', v_operation_id);
        END IF;
    END IF;

    IF v_error IS NOT NULL THEN
        v_audit_id := @extschema@.c77_secure_db_audit(v_operation_id, v_schema, v_table, coalesce(v_operation, 'invalid'), false, v_error,
                                                v_started, v_record_id, NULL, NULL, CASE WHEN p_check_rbac THEN v_feature END);
        RETURN jsonb_build_object('success', false, 'error', v_error, 'operation', v_operation, 'schema_name', v_schema,
                                  'table_name', v_table, 'operation_id', v_operation_id, 'timestamp', now());
    END IF;

    -- Perform it: one statement under a fresh token, in a subtransaction so that a failure
    -- (constraint violation, bad value) becomes a success:false answer that is still audited.
    BEGIN
        IF v_operation IN ('update', 'upsert') AND v_data ? v_pk THEN
            v_token := @extschema@.c77_secure_db_authorize(v_operation, v_relid);
            EXECUTE format('UPDATE ONLY %1$I.%2$I AS t SET %3$s FROM jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v
                            WHERE t.%4$I = v.%4$I RETURNING to_jsonb(t.*)',
                           v_schema, v_table,
                           coalesce((SELECT string_agg(format('%1$I = v.%1$I', c), ', ') FROM unnest(v_columns) AS c WHERE c <> v_pk),
                                    format('%1$I = t.%1$I', v_pk)),
                           v_pk)
            INTO v_row USING v_data;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_done := @extschema@.c77_secure_db_deauthorize(v_token, v_rows > 0);
            IF v_rows = 0 AND v_operation = 'update' THEN
                RAISE EXCEPTION 'Record with %s = % not found in %.%', v_pk, v_record_id, v_schema, v_table
                    USING ERRCODE = 'no_data_found';
            END IF;
        END IF;
        IF v_operation = 'insert' OR (v_operation = 'upsert' AND v_rows = 0) THEN
            v_token := @extschema@.c77_secure_db_authorize(v_operation, v_relid);
            IF v_columns IS NULL THEN
                EXECUTE format('INSERT INTO %I.%I AS t DEFAULT VALUES RETURNING to_jsonb(t.*)', v_schema, v_table) INTO v_row;
            ELSE
                EXECUTE format('INSERT INTO %1$I.%2$I AS t (%3$s) SELECT %3$s FROM jsonb_populate_record(NULL::%1$I.%2$I, $1)
                                RETURNING to_jsonb(t.*)',
                               v_schema, v_table, (SELECT string_agg(format('%I', c), ', ') FROM unnest(v_columns) AS c))
                INTO v_row USING v_data;
            END IF;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_done := @extschema@.c77_secure_db_deauthorize(v_token, v_rows > 0);
        ELSIF v_operation = 'soft_delete' THEN
            v_token := @extschema@.c77_secure_db_authorize(v_operation, v_relid);
            EXECUTE format('UPDATE ONLY %1$I.%2$I AS t SET deleted_at = now() FROM jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v
                            WHERE t.%3$I = v.%3$I RETURNING to_jsonb(t.*)', v_schema, v_table, v_pk)
            INTO v_row USING v_data;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_done := @extschema@.c77_secure_db_deauthorize(v_token, v_rows > 0);
        ELSIF v_operation = 'delete' THEN
            v_token := @extschema@.c77_secure_db_authorize(v_operation, v_relid);
            EXECUTE format('DELETE FROM ONLY %1$I.%2$I AS t USING jsonb_populate_record(NULL::%1$I.%2$I, $1) AS v
                            WHERE t.%3$I = v.%3$I RETURNING to_jsonb(t.*)', v_schema, v_table, v_pk)
            INTO v_row USING v_data;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_done := @extschema@.c77_secure_db_deauthorize(v_token, v_rows > 0);
        END IF;
        IF v_rows = 0 AND v_operation IN ('soft_delete', 'delete') THEN
            RAISE EXCEPTION 'Record with %s = % not found in %.%', v_pk, v_record_id, v_schema, v_table
                USING ERRCODE = 'no_data_found';
        END IF;
    EXCEPTION WHEN others THEN
        v_error := SQLERRM;
    END;

    IF v_error IS NOT NULL THEN
        v_audit_id := @extschema@.c77_secure_db_audit(v_operation_id, v_schema, v_table, v_operation, false, v_error, v_started,
                                                v_record_id, NULL, v_rbac_user, CASE WHEN p_check_rbac THEN v_feature END);
        RETURN jsonb_build_object('success', false, 'error', v_error, 'operation', v_operation, 'schema_name', v_schema,
                                  'table_name', v_table, 'operation_id', v_operation_id, 'timestamp', now());
    END IF;

    v_record_id := coalesce(v_row ->> v_pk, v_record_id);
    v_audit_id := @extschema@.c77_secure_db_audit(v_operation_id, v_schema, v_table, v_operation, true, NULL, v_started,
                                            v_record_id, v_row ->> 'content_hash', v_rbac_user,
                                            CASE WHEN p_check_rbac THEN v_feature END);
    v_response := jsonb_build_object(
        'success', true, 'operation', v_operation, 'schema_name', v_schema, 'table_name', v_table,
        'rows_affected', v_rows, 'content_hash', v_row ->> 'content_hash',
        'execution_time_ms', round(extract(epoch FROM clock_timestamp() - v_started) * 1000, 3),
        'operation_id', v_operation_id, 'rbac_check_performed', coalesce(p_check_rbac, false), 'timestamp', now());
    IF v_operation <> 'delete' THEN
        v_response := v_response || jsonb_build_object('data', v_row);
    END IF;
    IF p_check_rbac THEN
        v_response := v_response || jsonb_build_object('rbac_user_id', v_rbac_user, 'required_feature', v_feature);
    END IF;
    RETURN v_response;
END
$$;

-- c77_secure_db_operation(data): the same without RBAC. Neither SECURITY DEFINER nor SET (the
-- function it calls is both, and is named with its schema), so the planner inlines it.
CREATE FUNCTION c77_secure_db_operation(p_json_data jsonb) RETURNS jsonb
LANGUAGE sql
AS $$ SELECT @extschema@.c77_secure_db_operation(p_json_data, false) $$;

-- ---------------------------------------------------------------------------------------------
-- Hashes, freshness and verification
-- ---------------------------------------------------------------------------------------------

-- The content hash `data` would have as a row of schema.table (absent columns are NULL).
CREATE FUNCTION c77_secure_db_calculate_content_hash(p_schema_name text, p_table_name text, p_data jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_hash text;
BEGIN
    IF v_relid IS NULL THEN
        RAISE EXCEPTION 'Table %.% does not exist', p_schema_name, p_table_name USING ERRCODE = 'undefined_table';
    END IF;
    IF p_data IS NULL OR jsonb_typeof(p_data) <> 'object' THEN
        RAISE EXCEPTION 'data must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    IF @extschema@.c77_secure_db_unsafe_reason(v_meta) IS NOT NULL THEN
        RAISE EXCEPTION '%', @extschema@.c77_secure_db_unsafe_reason(v_meta) USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT %s FROM jsonb_populate_record(NULL::%I.%I, $1) AS r',
                   replace(v_meta.hash_expression, '@ROW@', 'r'), v_meta.schema_name, v_meta.table_name)
    INTO v_hash USING p_data;
    RETURN v_hash;
END
$$;

-- Checks one record against the stored row: fresh when the stored row is untampered (its
-- stored hash matches its content) and equals what the caller holds (columns the caller
-- omits are taken from the stored row). With p_check_rbac the caller needs secure_db_read.
CREATE FUNCTION c77_secure_db_check_freshness(
    p_schema_name text, p_table_name text, p_data jsonb,
    p_check_rbac boolean DEFAULT false, p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_result record;
    v_id text;
    v_rbac record;
BEGIN
    SELECT * INTO v_rbac FROM @extschema@.c77_secure_db_rbac_denial(coalesce(p_check_rbac, false), 'secure_db_read', p_scope_type, p_scope_id);
    IF v_rbac.denial IS NOT NULL THEN
        PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), p_schema_name, p_table_name, 'check_freshness', false,
                                                v_rbac.denial ->> 'error', clock_timestamp(), p_data ->> 'id', NULL, v_rbac.user_id, 'secure_db_read');
        RETURN v_rbac.denial;
    END IF;
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s is not a table of a secure schema', p_schema_name, p_table_name),
                                  'timestamp', now());
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    IF @extschema@.c77_secure_db_unsafe_reason(v_meta) IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error', @extschema@.c77_secure_db_unsafe_reason(v_meta), 'timestamp', now());
    END IF;
    IF v_meta.pk_column IS NULL OR NOT v_meta.has_content_hash THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s needs a single-column primary key and a content_hash column',
                                  p_schema_name, p_table_name), 'timestamp', now());
    END IF;
    IF p_data IS NULL OR jsonb_typeof(p_data) <> 'object' OR p_data -> v_meta.pk_column IS NULL THEN
        RETURN jsonb_build_object('success', false, 'error', format('Primary key "%s" required for freshness check', v_meta.pk_column),
                                  'timestamp', now());
    END IF;
    v_id := p_data ->> v_meta.pk_column;
    BEGIN
        EXECUTE format('SELECT s.content_hash AS stored, %6$s AS version, %1$s AS stored_calc, %2$s AS candidate_calc
                        FROM ONLY %3$I.%4$I AS s CROSS JOIN LATERAL jsonb_populate_record(s, $1) AS c
                        WHERE s.%5$I = (jsonb_populate_record(NULL::%3$I.%4$I, $1)).%5$I',
                       replace(v_meta.hash_expression, '@ROW@', 's'), replace(v_meta.hash_expression, '@ROW@', 'c'),
                       v_meta.schema_name, v_meta.table_name, v_meta.pk_column,
                       CASE WHEN v_meta.has_hash_version THEN 's.hash_version' ELSE 'NULL::integer' END)
        INTO v_result USING p_data - ARRAY['content_hash', 'hash_version', 'created_at', 'updated_at', 'deleted_at'];
    EXCEPTION WHEN others THEN
        RETURN jsonb_build_object('success', false, 'id', v_id, 'error', SQLERRM, 'timestamp', now());
    END;
    IF v_result IS NULL OR v_result.stored_calc IS NULL THEN
        RETURN jsonb_build_object('success', false, 'id', v_id, 'error', 'Record not found', 'timestamp', now());
    END IF;
    RETURN jsonb_build_object(
        'success', true, 'id', v_id,
        'fresh', v_result.stored IS NOT NULL AND v_result.stored = v_result.stored_calc AND v_result.stored = v_result.candidate_calc,
        'stored_hash', v_result.stored, 'calculated_hash', v_result.candidate_calc,
        'hash_version', v_result.version, 'timestamp', now());
END
$$;

-- Checks many records; `p_data` is a JSON array of objects. RBAC as for one record.
CREATE FUNCTION c77_secure_db_check_freshness_bulk(
    p_schema_name text, p_table_name text, p_data jsonb,
    p_check_rbac boolean DEFAULT false, p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_results jsonb;
    v_rbac record;
BEGIN
    SELECT * INTO v_rbac FROM @extschema@.c77_secure_db_rbac_denial(coalesce(p_check_rbac, false), 'secure_db_read', p_scope_type, p_scope_id);
    IF v_rbac.denial IS NOT NULL THEN
        PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), p_schema_name, p_table_name, 'check_freshness_bulk', false,
                                                v_rbac.denial ->> 'error', clock_timestamp(), NULL, NULL, v_rbac.user_id, 'secure_db_read');
        RETURN v_rbac.denial;
    END IF;
    IF p_data IS NULL OR jsonb_typeof(p_data) <> 'array' THEN
        RETURN jsonb_build_object('success', false, 'error', 'data must be a JSON array of records', 'timestamp', now());
    END IF;
    SELECT coalesce(jsonb_agg(@extschema@.c77_secure_db_check_freshness(p_schema_name, p_table_name, item) ORDER BY ord), '[]')
    INTO v_results FROM jsonb_array_elements(p_data) WITH ORDINALITY AS e(item, ord);
    RETURN jsonb_build_object(
        'success', true,
        'total_records', jsonb_array_length(v_results),
        'fresh_records', (SELECT count(*) FROM jsonb_array_elements(v_results) r WHERE (r ->> 'success')::boolean AND (r ->> 'fresh')::boolean),
        'stale_records', (SELECT count(*) FROM jsonb_array_elements(v_results) r WHERE (r ->> 'success')::boolean AND NOT (r ->> 'fresh')::boolean),
        'error_records', (SELECT count(*) FROM jsonb_array_elements(v_results) r WHERE NOT (r ->> 'success')::boolean),
        'results', v_results, 'timestamp', now());
END
$$;

-- One keyset batch of verification, the set-based core of both verification functions: the
-- rows with primary key after p_after_key (NULL: from the start) up to p_until_key (inclusive;
-- NULL: no bound), at most p_max_rows of them, in key order. Read-only.
--
-- Returns {"success", "rows_checked", "unhashed", "last_key", "done", "mismatches": [{
-- "primary_key_value", "stored_hash", "calculated_hash", "hash_version"}]}. Rows whose
-- content_hash is NULL are counted as unhashed, never as mismatches.
CREATE FUNCTION c77_secure_db_verify_range(
    p_schema_name text, p_table_name text, p_after_key text, p_max_rows integer, p_until_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_last_key text;
    v_done boolean;
    v_result jsonb;
BEGIN
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s is not a table of a secure schema', p_schema_name, p_table_name));
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    IF @extschema@.c77_secure_db_unsafe_reason(v_meta) IS NOT NULL THEN
        RETURN jsonb_build_object('success', false, 'error', @extschema@.c77_secure_db_unsafe_reason(v_meta));
    END IF;
    IF NOT v_meta.has_content_hash THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s has no content_hash column', p_schema_name, p_table_name));
    END IF;
    IF v_meta.pk_column IS NULL THEN
        RETURN jsonb_build_object('success', false, 'error', format('Table %s.%s has no single-column primary key', p_schema_name, p_table_name));
    END IF;
    IF p_max_rows IS NULL OR p_max_rows < 1 THEN
        RETURN jsonb_build_object('success', false, 'error', 'max_rows must be at least 1');
    END IF;
    -- First the batch's last key, from the index alone; then the batch as a key range, which
    -- needs no sort. Without a last key (fewer rows left) the batch runs to p_until_key.
    EXECUTE format('SELECT k::text FROM (SELECT t.%1$I AS k FROM ONLY %2$I.%3$I AS t
                    WHERE ($1::text IS NULL OR t.%1$I > $1::%4$s) AND ($2::text IS NULL OR t.%1$I <= $2::%4$s)
                    ORDER BY t.%1$I OFFSET $3 - 1 LIMIT 1) AS last', v_meta.pk_column, v_meta.schema_name, v_meta.table_name, v_meta.pk_type)
    INTO v_last_key USING p_after_key, p_until_key, p_max_rows;
    EXECUTE format($q$
        SELECT jsonb_build_object(
            'success', true,
            'rows_checked', count(*),
            'unhashed', count(*) FILTER (WHERE stored IS NULL),
            'mismatches', coalesce(jsonb_agg(jsonb_build_object('primary_key_value', k::text, 'stored_hash', stored,
                                                                'calculated_hash', calc, 'hash_version', version) ORDER BY k)
                                   FILTER (WHERE stored IS NOT NULL AND stored <> calc), '[]'))
        FROM (SELECT t.%3$I AS k, t.content_hash AS stored, %5$s AS version, %4$s AS calc
              FROM ONLY %1$I.%2$I AS t
              WHERE ($1::text IS NULL OR t.%3$I > $1::%6$s) AND ($2::text IS NULL OR t.%3$I <= $2::%6$s)) AS batch
        $q$, v_meta.schema_name, v_meta.table_name, v_meta.pk_column, replace(v_meta.hash_expression, '@ROW@', 't'),
        CASE WHEN v_meta.has_hash_version THEN 't.hash_version' ELSE 'NULL::integer' END, v_meta.pk_type)
    INTO v_result USING p_after_key, coalesce(v_last_key, p_until_key);
    v_done := v_last_key IS NULL;
    IF v_done THEN
        EXECUTE format('SELECT t.%1$I::text FROM ONLY %2$I.%3$I AS t
                        WHERE ($1::text IS NULL OR t.%1$I > $1::%4$s) AND ($2::text IS NULL OR t.%1$I <= $2::%4$s)
                        ORDER BY t.%1$I DESC LIMIT 1', v_meta.pk_column, v_meta.schema_name, v_meta.table_name, v_meta.pk_type)
        INTO v_last_key USING p_after_key, p_until_key;
    END IF;
    v_result := v_result || jsonb_build_object('last_key', v_last_key, 'done', v_done);
    RETURN v_result;
END
$$;

-- Boundary keys that split a table into p_segments key ranges of about equal row counts, as a
-- JSON array of at most p_segments - 1 increasing keys (text), for parallel verification.
-- Read-only. Walks the primary key index once, in steps of (estimated rows / p_segments), so
-- it costs a fraction of a verification pass and needs no max() for the key's type.
CREATE FUNCTION c77_secure_db_split_key_range(p_schema_name text, p_table_name text, p_segments integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C' 
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_rows bigint;
    v_step bigint;
    v_key text;
    v_bounds jsonb := '[]';
BEGIN
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        RAISE EXCEPTION 'Table %.% is not a table of a secure schema', p_schema_name, p_table_name;
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    IF @extschema@.c77_secure_db_unsafe_reason(v_meta) IS NOT NULL THEN
        RAISE EXCEPTION '%', @extschema@.c77_secure_db_unsafe_reason(v_meta) USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_meta.pk_column IS NULL OR p_segments IS NULL OR p_segments < 2 THEN
        RETURN '[]';
    END IF;
    SELECT reltuples::bigint INTO v_rows FROM pg_class WHERE oid = v_relid;
    IF v_rows IS NULL OR v_rows < 0 THEN  -- never analyzed
        EXECUTE format('SELECT count(*) FROM ONLY %I.%I', v_meta.schema_name, v_meta.table_name) INTO v_rows;
    END IF;
    v_step := v_rows / p_segments;
    IF v_step < 1 THEN
        RETURN '[]';
    END IF;
    FOR i IN 1 .. p_segments - 1 LOOP
        EXECUTE format('SELECT k::text FROM (SELECT t.%1$I AS k FROM ONLY %2$I.%3$I AS t
                        WHERE ($1::text IS NULL OR t.%1$I > $1::%4$s) ORDER BY t.%1$I OFFSET $2 - 1 LIMIT 1) AS b',
                       v_meta.pk_column, v_meta.schema_name, v_meta.table_name, v_meta.pk_type)
        INTO v_key USING v_key, v_step;
        EXIT WHEN v_key IS NULL;
        v_bounds := v_bounds || to_jsonb(v_key);
    END LOOP;
    RETURN v_bounds;
END
$$;

-- Recomputes the stored hash of one row (the fix of c77_secure_db_verify_content_hashes),
-- audited with the hash it replaces, if the row still has that stored hash; returns the new
-- hash, or NULL when the row is gone or changed since it was verified. For administrators.
CREATE FUNCTION c77_secure_db_fix_content_hash(p_schema_name text, p_table_name text, p_key text, p_previous_hash text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_token uuid;
    v_hash text;
BEGIN
    IF v_relid IS NULL OR NOT @extschema@.c77_secure_db_is_secure_schema(p_schema_name) THEN
        RAISE EXCEPTION 'Table %.% is not a table of a secure schema', p_schema_name, p_table_name;
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    IF v_meta.unsafe_functions IS NOT NULL THEN
        RAISE EXCEPTION 'Table %.% calls functions owned by a non-superuser (%) in defaults, constraints, indexes, triggers, policies or rules; its rows will not be re-hashed with the extension owner''s rights',
            p_schema_name, p_table_name, v_meta.unsafe_functions
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_token := @extschema@.c77_secure_db_authorize('fix_hash', v_relid);
    -- Only the row as it was verified: if its stored hash changed since, nobody has seen
    -- that change yet, and it is left for the next verification to report.
    EXECUTE format('UPDATE ONLY %1$I.%2$I AS t SET content_hash = NULL
                    WHERE t.%3$I = $1::%4$s AND t.content_hash IS NOT DISTINCT FROM $2 RETURNING t.content_hash',
                   v_meta.schema_name, v_meta.table_name, v_meta.pk_column, v_meta.pk_type)
    INTO v_hash USING p_key, p_previous_hash;
    PERFORM @extschema@.c77_secure_db_deauthorize(v_token);
    PERFORM @extschema@.c77_secure_db_audit(gen_random_uuid(), p_schema_name, p_table_name, 'fix_hash', v_hash IS NOT NULL,
                                            CASE WHEN v_hash IS NULL THEN 'Row not found, or changed since it was verified' END,
                                            v_started, p_key, v_hash, p_details => jsonb_build_object('previous_hash', p_previous_hash));
    RETURN v_hash;
END
$$;

-- c77_secure_db_verify_content_hashes(schema, table, fix_mismatches, batch_size)
--
-- Verifies every row, set-based, in keyset batches of batch_size. With fix_mismatches each
-- mismatching row's hash is recomputed, audited; that needs c77_secure_db_admin (EXECUTE on
-- c77_secure_db_fix_content_hash), which is why this function runs with the caller's rights.
-- With p_check_rbac the caller also needs the secure_db_admin feature.
CREATE FUNCTION c77_secure_db_verify_content_hashes(
    p_schema_name text, p_table_name text, p_fix_mismatches boolean DEFAULT false, p_batch_size integer DEFAULT 1000,
    p_check_rbac boolean DEFAULT false, p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_batch jsonb;
    v_after text;
    v_total bigint := 0;
    v_unhashed bigint := 0;
    v_mismatches jsonb := '[]';
    v_fixed integer := 0;
    v_mismatch jsonb;
    v_rbac record;
BEGIN
    SELECT * INTO v_rbac FROM @extschema@.c77_secure_db_rbac_denial(coalesce(p_check_rbac, false), 'secure_db_admin', p_scope_type, p_scope_id);
    IF v_rbac.denial IS NOT NULL THEN
        RETURN v_rbac.denial;
    END IF;
    IF p_fix_mismatches AND NOT has_function_privilege('@extschema@.c77_secure_db_fix_content_hash(text, text, text, text)', 'EXECUTE') THEN
        RETURN jsonb_build_object('success', false, 'error', 'Permission denied: fixing hashes requires c77_secure_db_admin', 'timestamp', now());
    END IF;
    LOOP
        v_batch := @extschema@.c77_secure_db_verify_range(p_schema_name, p_table_name, v_after, coalesce(p_batch_size, 1000));
        IF NOT (v_batch ->> 'success')::boolean THEN
            RETURN v_batch || jsonb_build_object('timestamp', now());
        END IF;
        v_total := v_total + (v_batch ->> 'rows_checked')::bigint;
        v_unhashed := v_unhashed + (v_batch ->> 'unhashed')::bigint;
        v_mismatches := v_mismatches || (v_batch -> 'mismatches');
        EXIT WHEN (v_batch ->> 'done')::boolean;
        v_after := v_batch ->> 'last_key';
    END LOOP;

    IF p_fix_mismatches THEN
        FOR v_mismatch IN SELECT * FROM jsonb_array_elements(v_mismatches) LOOP
            IF @extschema@.c77_secure_db_fix_content_hash(p_schema_name, p_table_name, v_mismatch ->> 'primary_key_value',
                                                          v_mismatch ->> 'stored_hash') IS NOT NULL THEN
                v_fixed := v_fixed + 1;
            END IF;
        END LOOP;
    END IF;

    RETURN jsonb_build_object(
        'success', true, 'schema_name', p_schema_name, 'table_name', p_table_name,
        'total_records', v_total, 'mismatch_count', jsonb_array_length(v_mismatches), 'unhashed_count', v_unhashed,
        'fixed_count', v_fixed, 'mismatches', v_mismatches,
        'execution_time_ms', round(extract(epoch FROM clock_timestamp() - v_started) * 1000, 3), 'timestamp', now());
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Health, templates and self-tests
-- ---------------------------------------------------------------------------------------------

-- Health figures; error_rate_1h is a percentage of the last hour's audited operations.
CREATE FUNCTION c77_secure_db_health_check() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_operations bigint;
    v_errors bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE NOT success) INTO v_operations, v_errors
    FROM @extschema@.c77_secure_db_operation_audit WHERE created_at > now() - interval '1 hour';
    RETURN jsonb_build_object(
        'success', true,
        'extension_version', (SELECT extversion FROM pg_extension WHERE extname = 'c77_secure_db'),
        'rbac_available', @extschema@.c77_secure_db_rbac_function() IS NOT NULL,
        'secure_schemas_count', (SELECT count(*) FROM @extschema@.c77_secure_db_secure_schemas),
        'active_tokens', (SELECT count(*) FROM @extschema@.c77_secure_db_auth_tokens WHERE NOT used AND expires_at > clock_timestamp()),
        'recent_operations_1h', v_operations,
        'recent_errors_1h', v_errors,
        'error_rate_1h', CASE WHEN v_operations = 0 THEN 0 ELSE round(100.0 * v_errors / v_operations, 2) END,
        'timestamp', now());
END
$$;

-- A ready-to-edit call of c77_secure_db_operation for a table and operation.
CREATE FUNCTION c77_secure_db_get_operation_template(p_schema_name text, p_table_name text, p_operation text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_relid oid := @extschema@.c77_secure_db_relid(p_schema_name, p_table_name);
    v_meta @extschema@.c77_secure_db_table_meta;
    v_fields text[];
    v_body jsonb;
BEGIN
    IF v_relid IS NULL THEN
        RETURN format('-- Table %s.%s does not exist', p_schema_name, p_table_name);
    END IF;
    IF p_operation IS NULL OR p_operation NOT IN ('insert', 'update', 'upsert', 'delete', 'soft_delete') THEN
        RETURN format('-- Invalid operation %s: use insert, update, upsert, delete or soft_delete', p_operation);
    END IF;
    v_meta := @extschema@.c77_secure_db_table_meta_for(v_relid);
    SELECT array_agg(c ORDER BY ord) INTO v_fields
    FROM unnest(v_meta.columns) WITH ORDINALITY AS u(c, ord)
    WHERE c NOT IN ('content_hash', 'hash_version', 'created_at', 'updated_at', 'deleted_at')
      AND (p_operation IN ('update', 'upsert') OR c IS DISTINCT FROM v_meta.pk_column)
      AND (p_operation IN ('insert', 'update', 'upsert') OR c = v_meta.pk_column);
    IF p_operation IN ('delete', 'soft_delete') THEN
        v_fields := ARRAY[coalesce(v_meta.pk_column, 'id')];
    END IF;
    RETURN format(E'-- %s operation template for %s.%s\nSELECT c77_secure_db_operation(\n''{\n    "schema_name": %s,\n    "table_name": %s,\n    "operation": %s,\n    "data": {\n%s\n    }\n}''::jsonb\n);',
                  upper(p_operation), p_schema_name, p_table_name, to_jsonb(p_schema_name), to_jsonb(p_table_name), to_jsonb(p_operation),
                  (SELECT string_agg(format('        %s: %s', to_jsonb(f), CASE WHEN f = v_meta.pk_column THEN '0' ELSE '""' END), E',\n')
                   FROM unnest(v_fields) AS f));
END
$$;

-- Records one self-test result into p_results.
CREATE FUNCTION c77_secure_db_test_result(p_results jsonb, p_name text, p_passed boolean, p_detail text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_results || jsonb_build_array(jsonb_build_object('test', p_name, 'status', CASE WHEN p_passed THEN 'PASS' ELSE 'FAIL' END, 'detail', p_detail)) $$;

-- Whether a statement fails with insufficient_privilege (the protection's refusal).
CREATE FUNCTION c77_secure_db_test_refused(p_sql text) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE p_sql;
    RETURN false;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN true;
END
$$;

-- Security self-test. Checks the installed protection (every secure table's triggers present
-- and enabled, event triggers enabled, every SECURITY DEFINER function with a pinned
-- search_path), then exercises the write path and the attacks on a scratch schema inside a
-- subtransaction that is rolled back, so it leaves nothing behind.
CREATE FUNCTION c77_secure_db_test_security() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb := '[]';
    v_detail text;
    v_response jsonb;
    v_token uuid;
    v_schema text := 'c77_secure_db_selftest_' || pg_backend_pid();
    v_failed int;
BEGIN
    -- The installed protection.
    SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ') INTO v_detail
    FROM @extschema@.c77_secure_db_secure_schemas s
    JOIN pg_namespace n ON n.nspname = s.schema_name
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
    WHERE (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgenabled <> 'D'
           AND t.tgname IN ('c77_secure_db_protect', 'c77_secure_db_no_truncate')) < 2;
    r := @extschema@.c77_secure_db_test_result(r, 'protection_triggers_enabled', v_detail IS NULL,
             coalesce('missing or disabled on ' || v_detail, 'every secure table is protected'));
    SELECT string_agg(evtname, ', ') INTO v_detail FROM pg_event_trigger
    WHERE evtname IN ('c77_secure_db_ddl_guard', 'c77_secure_db_drop_guard') AND evtenabled <> 'D';
    r := @extschema@.c77_secure_db_test_result(r, 'event_triggers_enabled',
             v_detail = 'c77_secure_db_ddl_guard, c77_secure_db_drop_guard' OR v_detail = 'c77_secure_db_drop_guard, c77_secure_db_ddl_guard',
             coalesce('enabled: ' || v_detail, 'none enabled'));
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_detail
    FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'c77_secure_db'
    WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%');
    r := @extschema@.c77_secure_db_test_result(r, 'security_definer_search_path', v_detail IS NULL,
             coalesce('without pinned search_path: ' || v_detail, 'all pinned'));

    -- The write path and the attacks, on a scratch schema that is rolled back.
    BEGIN
        INSERT INTO @extschema@.c77_secure_db_secure_schemas (schema_name) VALUES (v_schema);
        EXECUTE format('CREATE SCHEMA %I', v_schema);
        EXECUTE format('CREATE TABLE %I.t (id bigserial PRIMARY KEY, name text NOT NULL, amount numeric(12,2),
                        content_hash text, hash_version integer DEFAULT 1, created_at timestamptz DEFAULT now(),
                        updated_at timestamptz DEFAULT now(), deleted_at timestamptz)', v_schema);

        r := @extschema@.c77_secure_db_test_result(r, 'new_table_protected',
                 EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = format('%I.t', v_schema)::regclass AND tgname = 'c77_secure_db_protect'));
        r := @extschema@.c77_secure_db_test_result(r, 'direct_insert_blocked',
                 @extschema@.c77_secure_db_test_refused(format('INSERT INTO %I.t (name) VALUES (''x'')', v_schema)));

        v_response := @extschema@.c77_secure_db_operation(jsonb_build_object('schema_name', v_schema, 'table_name', 't',
                          'operation', 'insert', 'data', jsonb_build_object('name', 'alice', 'amount', 10.5)));
        r := @extschema@.c77_secure_db_test_result(r, 'secure_insert_works',
                 (v_response ->> 'success')::boolean AND v_response ->> 'content_hash' IS NOT NULL, v_response ->> 'error');
        r := @extschema@.c77_secure_db_test_result(r, 'content_hash_verifies',
                 (@extschema@.c77_secure_db_verify_content_hashes(v_schema, 't') ->> 'mismatch_count')::int = 0);
        v_response := @extschema@.c77_secure_db_check_freshness(v_schema, 't',
                          jsonb_build_object('id', v_response -> 'data' -> 'id', 'name', 'alice', 'amount', 10.5));
        r := @extschema@.c77_secure_db_test_result(r, 'freshness_check', coalesce((v_response ->> 'fresh')::boolean, false),
                 v_response::text);

        PERFORM set_config('c77_secure_db.auth_token', gen_random_uuid()::text, true);
        r := @extschema@.c77_secure_db_test_result(r, 'forged_token_blocked',
                 @extschema@.c77_secure_db_test_refused(format('UPDATE %I.t SET name = ''mallory''', v_schema)));
        PERFORM set_config('c77_secure_db.auth_token', 'not-a-uuid'' OR 1=1 --', true);
        r := @extschema@.c77_secure_db_test_result(r, 'malformed_token_blocked',
                 @extschema@.c77_secure_db_test_refused(format('DELETE FROM %I.t', v_schema)));

        v_token := gen_random_uuid();
        INSERT INTO @extschema@.c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at)
        VALUES (v_token, @extschema@.c77_secure_db_session_id(), 'test', clock_timestamp() + interval '5 seconds');
        PERFORM set_config('c77_secure_db.auth_token', v_token::text, true);
        EXECUTE format('INSERT INTO %I.t (name) VALUES (''first use'')', v_schema);
        r := @extschema@.c77_secure_db_test_result(r, 'replayed_token_blocked',
                 @extschema@.c77_secure_db_test_refused(format('INSERT INTO %I.t (name) VALUES (''replay'')', v_schema)));

        v_token := gen_random_uuid();
        INSERT INTO @extschema@.c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at)
        VALUES (v_token, @extschema@.c77_secure_db_session_id(), 'test', clock_timestamp() - interval '1 second');
        PERFORM set_config('c77_secure_db.auth_token', v_token::text, true);
        r := @extschema@.c77_secure_db_test_result(r, 'expired_token_blocked',
                 @extschema@.c77_secure_db_test_refused(format('INSERT INTO %I.t (name) VALUES (''late'')', v_schema)));

        v_token := gen_random_uuid();
        INSERT INTO @extschema@.c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at)
        VALUES (v_token, 'another-session', 'test', clock_timestamp() + interval '5 seconds');
        PERFORM set_config('c77_secure_db.auth_token', v_token::text, true);
        r := @extschema@.c77_secure_db_test_result(r, 'other_session_token_blocked',
                 @extschema@.c77_secure_db_test_refused(format('INSERT INTO %I.t (name) VALUES (''stolen'')', v_schema)));
        PERFORM set_config('c77_secure_db.auth_token', '', true);

        r := @extschema@.c77_secure_db_test_result(r, 'direct_update_blocked',
                 @extschema@.c77_secure_db_test_refused(format('UPDATE %I.t SET amount = 0', v_schema)));
        r := @extschema@.c77_secure_db_test_result(r, 'direct_delete_blocked',
                 @extschema@.c77_secure_db_test_refused(format('DELETE FROM %I.t', v_schema)));
        r := @extschema@.c77_secure_db_test_result(r, 'truncate_blocked',
                 @extschema@.c77_secure_db_test_refused(format('TRUNCATE %I.t', v_schema)));

        v_response := @extschema@.c77_secure_db_operation(jsonb_build_object('schema_name', v_schema,
                          'table_name', 't; DROP TABLE x; --', 'operation', 'insert', 'data', jsonb_build_object('name', 'x')));
        r := @extschema@.c77_secure_db_test_result(r, 'injection_rejected', NOT (v_response ->> 'success')::boolean, v_response ->> 'error');
        v_response := @extschema@.c77_secure_db_operation(jsonb_build_object('schema_name', v_schema, 'table_name', 't',
                          'operation', 'insert', 'data', jsonb_build_object('name) VALUES (1); --', 'x')));
        r := @extschema@.c77_secure_db_test_result(r, 'unknown_column_rejected', NOT (v_response ->> 'success')::boolean, v_response ->> 'error');

        -- A row changed behind the protection's back is detected.
        EXECUTE format('ALTER TABLE %I.t DISABLE TRIGGER c77_secure_db_protect', v_schema);
        EXECUTE format('UPDATE %I.t SET amount = 1000000 WHERE name = ''alice''', v_schema);
        EXECUTE format('ALTER TABLE %I.t ENABLE TRIGGER c77_secure_db_protect', v_schema);
        v_response := @extschema@.c77_secure_db_verify_content_hashes(v_schema, 't');
        r := @extschema@.c77_secure_db_test_result(r, 'tampering_detected', (v_response ->> 'mismatch_count')::int = 1,
                 format('%s mismatch(es) of %s rows', v_response ->> 'mismatch_count', v_response ->> 'total_records'));

        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'c77_secure_db self-test rollback';
    EXCEPTION WHEN others THEN
        IF SQLERRM <> 'c77_secure_db self-test rollback' THEN
            r := @extschema@.c77_secure_db_test_result(r, 'self_test_completed', false, SQLERRM);
        END IF;
    END;

    SELECT count(*) INTO v_failed FROM jsonb_array_elements(r) AS e WHERE e ->> 'status' = 'FAIL';
    RETURN jsonb_build_object('success', v_failed = 0, 'status', CASE WHEN v_failed = 0 THEN 'PASSED' ELSE 'FAILED' END,
                              'test_count', jsonb_array_length(r), 'passed', jsonb_array_length(r) - v_failed, 'failed', v_failed,
                              'results', r, 'timestamp', now());
END
$$;

-- RBAC self-test: SKIPPED without c77_rbac; with it, exercises grants, scoped assignment,
-- the three outcomes of an RBAC-checked operation, and revocation, all rolled back.
CREATE FUNCTION c77_secure_db_test_rbac_integration() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb := '[]';
    v_schema text := 'c77_secure_db_rbactest_' || pg_backend_pid();
    -- c77_rbac's schema, quoted (its functions are not on this function's search_path)
    v_rbac_schema text := split_part(@extschema@.c77_secure_db_rbac_function(), '.c77_rbac_can_access', 1);
    v_request jsonb;
    v_response jsonb;
    v_failed int;
BEGIN
    IF @extschema@.c77_secure_db_rbac_function() IS NULL THEN
        RETURN jsonb_build_object('success', true, 'status', 'SKIPPED', 'reason', 'c77_rbac is not installed',
                                  'rbac_available', false, 'timestamp', now());
    END IF;
    BEGIN
        INSERT INTO @extschema@.c77_secure_db_secure_schemas (schema_name) VALUES (v_schema);
        EXECUTE format('CREATE SCHEMA %I', v_schema);
        EXECUTE format('CREATE TABLE %I.t (id bigserial PRIMARY KEY, name text, content_hash text, hash_version integer DEFAULT 1,
                        created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz)', v_schema);
        EXECUTE format('SELECT %s.c77_rbac_grant_feature($1, $2)', v_rbac_schema) USING 'c77_selftest_writer', 'secure_db_insert';
        EXECUTE format('SELECT %s.c77_rbac_assign_subject($1, $2, $3, $4)', v_rbac_schema)
            USING 'c77_selftest_user', 'c77_selftest_writer', 'department', 'selftest';
        v_request := jsonb_build_object('schema_name', v_schema, 'table_name', 't', 'operation', 'insert',
                                        'data', jsonb_build_object('name', 'rbac'));

        PERFORM set_config('c77_rbac.external_id', '', true);
        v_response := @extschema@.c77_secure_db_operation(v_request, true, 'secure_db_insert');
        r := @extschema@.c77_secure_db_test_result(r, 'no_user_context_refused',
                 v_response ->> 'error' = 'RBAC enabled but no user context set', v_response ->> 'error');

        PERFORM set_config('c77_rbac.external_id', 'c77_selftest_user', true);
        v_response := @extschema@.c77_secure_db_operation(v_request, true, 'secure_db_insert', 'department', 'selftest');
        r := @extschema@.c77_secure_db_test_result(r, 'permitted_operation_succeeds',
                 (v_response ->> 'success')::boolean AND (v_response ->> 'rbac_check_performed')::boolean
                 AND v_response ->> 'rbac_user_id' = 'c77_selftest_user', coalesce(v_response ->> 'error', 'ok'));

        v_response := @extschema@.c77_secure_db_operation(v_request || '{"operation": "delete", "data": {"id": 1}}', true);
        r := @extschema@.c77_secure_db_test_result(r, 'missing_feature_denied',
                 v_response ->> 'error' = 'Insufficient permissions' AND v_response ->> 'required_feature' = 'secure_db_hard_delete',
                 v_response ->> 'error');

        v_response := @extschema@.c77_secure_db_operation(v_request, true, 'secure_db_insert', 'department', 'other');
        r := @extschema@.c77_secure_db_test_result(r, 'other_scope_denied', v_response ->> 'error' = 'Insufficient permissions',
                 v_response ->> 'error');

        EXECUTE format('SELECT %s.c77_rbac_revoke_feature($1, $2)', v_rbac_schema) USING 'c77_selftest_writer', 'secure_db_insert';
        v_response := @extschema@.c77_secure_db_operation(v_request, true, 'secure_db_insert', 'department', 'selftest');
        r := @extschema@.c77_secure_db_test_result(r, 'revoked_feature_denied', v_response ->> 'error' = 'Insufficient permissions',
                 v_response ->> 'error');

        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'c77_secure_db self-test rollback';
    EXCEPTION WHEN others THEN
        IF SQLERRM <> 'c77_secure_db self-test rollback' THEN
            r := @extschema@.c77_secure_db_test_result(r, 'self_test_completed', false, SQLERRM);
        END IF;
    END;
    SELECT count(*) INTO v_failed FROM jsonb_array_elements(r) AS e WHERE e ->> 'status' = 'FAIL';
    RETURN jsonb_build_object('success', v_failed = 0, 'status', CASE WHEN v_failed = 0 THEN 'PASSED' ELSE 'FAILED' END,
                              'rbac_available', true, 'test_count', jsonb_array_length(r), 'passed', jsonb_array_length(r) - v_failed,
                              'failed', v_failed, 'results', r, 'timestamp', now());
END
$$;

-- Every self-test; overall_status is ALL_TESTS_PASSED only when every check passed (an RBAC
-- suite SKIPPED because c77_rbac is absent does not fail the run).
CREATE FUNCTION c77_secure_db_run_all_tests() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_security jsonb := @extschema@.c77_secure_db_test_security();
    v_rbac jsonb := @extschema@.c77_secure_db_test_rbac_integration();
    v_passed boolean := (v_security ->> 'success')::boolean AND (v_rbac ->> 'success')::boolean;
BEGIN
    RETURN jsonb_build_object(
        'success', v_passed,
        'overall_status', CASE WHEN v_passed THEN 'ALL_TESTS_PASSED' ELSE 'SOME_TESTS_FAILED' END,
        'security_tests', v_security, 'rbac_tests', v_rbac,
        'health', @extschema@.c77_secure_db_health_check(), 'timestamp', now());
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: least privilege for the four roles
-- ---------------------------------------------------------------------------------------------
--
-- readonly  reads secure tables (granted per table as they are protected), the registry and
--           the audit; lists schemas, checks health, gets templates.
-- user      + the write path and freshness checks.
-- admin     + schema management, verification with fixes, re-hashing, tokens, purge, self-tests.
-- monitor   (the daemon) reads the registry and audit, checks health, cleans up tokens,
--           verifies read-only; it cannot write anything.
-- Nobody but the extension's owner touches tokens, the table cache or DDL windows directly.

REVOKE ALL ON c77_secure_db_secure_schemas, c77_secure_db_auth_tokens, c77_secure_db_operation_audit,
              c77_secure_db_table_meta, c77_secure_db_ddl_windows FROM PUBLIC;
REVOKE ALL ON SEQUENCE c77_secure_db_operation_audit_id_seq FROM PUBLIC;

DO $grants$
DECLARE
    v_function regprocedure;
BEGIN
    FOR v_function IN
        SELECT p.oid::regprocedure FROM pg_proc p
        JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'c77_secure_db'
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_function);
    END LOOP;
END
$grants$;

GRANT SELECT ON c77_secure_db_secure_schemas, c77_secure_db_operation_audit TO c77_secure_db_readonly, c77_secure_db_monitor;

-- Pure computation, so that anyone can recompute a hash.
GRANT EXECUTE ON FUNCTION c77_secure_db_row_hash(record), c77_secure_db_row_hash(record, smallint[]) TO PUBLIC;

-- The event triggers run as whoever issues DDL; these are what they call.
GRANT EXECUTE ON FUNCTION
    c77_secure_db_is_secure_schema(text),
    c77_secure_db_ddl_window_open(oid),
    c77_secure_db_after_ddl(oid, boolean),
    c77_secure_db_forget_table(oid)
TO PUBLIC;

GRANT EXECUTE ON FUNCTION
    c77_secure_db_manage_secure_schemas(text, text),
    c77_secure_db_health_check(),
    c77_secure_db_get_operation_template(text, text, text)
TO c77_secure_db_readonly;

GRANT EXECUTE ON FUNCTION
    c77_secure_db_operation(jsonb),
    c77_secure_db_operation(jsonb, boolean, text, text, text),
    c77_secure_db_check_freshness(text, text, jsonb, boolean, text, text),
    c77_secure_db_check_freshness_bulk(text, text, jsonb, boolean, text, text),
    c77_secure_db_rbac_denial(boolean, text, text, text),
    c77_secure_db_calculate_content_hash(text, text, jsonb)
TO c77_secure_db_user;

GRANT EXECUTE ON FUNCTION
    c77_secure_db_verify_content_hashes(text, text, boolean, integer, boolean, text, text),
    c77_secure_db_verify_range(text, text, text, integer, text)
TO c77_secure_db_user;

GRANT EXECUTE ON FUNCTION
    c77_secure_db_change_registry(text, text),
    c77_secure_db_fix_content_hash(text, text, text, text),
    c77_secure_db_split_key_range(text, text, integer),
    c77_secure_db_rehash(text, text),
    c77_secure_db_create_auth_token(text),
    c77_secure_db_cleanup_expired_tokens(),
    c77_secure_db_purge_audit(timestamptz, integer),
    c77_secure_db_test_security(),
    c77_secure_db_test_rbac_integration(),
    c77_secure_db_run_all_tests()
TO c77_secure_db_admin;

GRANT EXECUTE ON FUNCTION
    c77_secure_db_health_check(),
    c77_secure_db_cleanup_expired_tokens(),
    c77_secure_db_verify_range(text, text, text, integer, text),
    c77_secure_db_split_key_range(text, text, integer),
    c77_secure_db_manage_secure_schemas(text, text)
TO c77_secure_db_monitor;
