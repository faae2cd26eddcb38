-- c77_rbac 1.0: role-based access control for application users, the companion c77_secure_db
-- consults when an operation is called with check_rbac = true.
--
-- Subjects are application users, named by an `external_id` (the application's user id).
-- Roles carry features (permissions such as secure_db_insert); subjects get roles within a
-- scope (`scope_type`, `scope_id`, e.g. department/cardiology). An assignment in scope
-- global/all counts for every scope.
--
-- c77_rbac_can_access(feature, external_id, scope_type, scope_id) answers:
--   with a scope:    the subject holds the feature in that scope, or in global/all;
--   without a scope: the subject holds the feature in any scope.
--
-- The identity c77_secure_db checks is the `c77_rbac.external_id` setting, which whoever holds
-- the database connection can set: it is only as trustworthy as the application that sets it
-- (see the README). Management functions are for superusers and c77_rbac_admin; everything is
-- SECURITY DEFINER with a pinned search_path, and inputs are validated with clear errors.
-- Install c77_rbac in the same schema as c77_secure_db.

\echo Use "CREATE EXTENSION c77_rbac" to load this file. \quit

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'c77_rbac_admin') THEN
        CREATE ROLE c77_rbac_admin NOLOGIN;
    END IF;
END
$roles$;

CREATE TABLE c77_rbac_subjects (
    id          bigserial PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE c77_rbac_roles (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
CREATE TABLE c77_rbac_features (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
CREATE TABLE c77_rbac_role_features (
    role_id    bigint NOT NULL REFERENCES c77_rbac_roles ON DELETE CASCADE,
    feature_id bigint NOT NULL REFERENCES c77_rbac_features ON DELETE CASCADE,
    PRIMARY KEY (role_id, feature_id)
);
CREATE INDEX c77_rbac_role_features_feature_idx ON c77_rbac_role_features (feature_id);
CREATE TABLE c77_rbac_subject_roles (
    subject_id bigint NOT NULL REFERENCES c77_rbac_subjects ON DELETE CASCADE,
    role_id    bigint NOT NULL REFERENCES c77_rbac_roles ON DELETE CASCADE,
    scope_type text NOT NULL,
    scope_id   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, role_id, scope_type, scope_id)
);
CREATE INDEX c77_rbac_subject_roles_role_idx ON c77_rbac_subject_roles (role_id);

SELECT pg_catalog.pg_extension_config_dump('c77_rbac_subjects', '');
SELECT pg_catalog.pg_extension_config_dump('c77_rbac_roles', '');
SELECT pg_catalog.pg_extension_config_dump('c77_rbac_features', '');
SELECT pg_catalog.pg_extension_config_dump('c77_rbac_role_features', '');
SELECT pg_catalog.pg_extension_config_dump('c77_rbac_subject_roles', '');

-- Every subject's features with the scope they hold them in.
CREATE VIEW c77_rbac_user_permissions AS
SELECT s.external_id, r.name AS role_name, f.name AS feature_name, sr.scope_type, sr.scope_id, sr.created_at AS assigned_at
FROM c77_rbac_subject_roles sr
JOIN c77_rbac_subjects s ON s.id = sr.subject_id
JOIN c77_rbac_roles r ON r.id = sr.role_id
JOIN c77_rbac_role_features rf ON rf.role_id = r.id
JOIN c77_rbac_features f ON f.id = rf.feature_id;

-- Raises a clear error for a NULL or blank argument.
CREATE FUNCTION c77_rbac_require(p_value text, p_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' THEN
        RAISE EXCEPTION 'c77_rbac: % must not be empty', p_name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION c77_rbac_role_id(p_role text) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH new AS (INSERT INTO @extschema@.c77_rbac_roles (name) VALUES (@extschema@.c77_rbac_require(p_role, 'role'))
                 ON CONFLICT (name) DO NOTHING RETURNING id)
    SELECT id FROM new UNION ALL SELECT id FROM @extschema@.c77_rbac_roles WHERE name = p_role LIMIT 1
$$;

CREATE FUNCTION c77_rbac_subject_id(p_external_id text) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH new AS (INSERT INTO @extschema@.c77_rbac_subjects (external_id) VALUES (@extschema@.c77_rbac_require(p_external_id, 'external_id'))
                 ON CONFLICT (external_id) DO NOTHING RETURNING id)
    SELECT id FROM new UNION ALL SELECT id FROM @extschema@.c77_rbac_subjects WHERE external_id = p_external_id LIMIT 1
$$;

-- Gives a role a feature (both created on first use). True when it was new.
CREATE FUNCTION c77_rbac_grant_feature(p_role text, p_feature text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_feature bigint;
BEGIN
    INSERT INTO @extschema@.c77_rbac_features (name) VALUES (@extschema@.c77_rbac_require(p_feature, 'feature'))
    ON CONFLICT (name) DO NOTHING;
    SELECT id INTO v_feature FROM @extschema@.c77_rbac_features WHERE name = p_feature;
    INSERT INTO @extschema@.c77_rbac_role_features (role_id, feature_id) VALUES (@extschema@.c77_rbac_role_id(p_role), v_feature)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;

-- Takes a feature from a role. True when the role had it.
CREATE FUNCTION c77_rbac_revoke_feature(p_role text, p_feature text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.c77_rbac_role_features rf
    USING @extschema@.c77_rbac_roles r, @extschema@.c77_rbac_features f
    WHERE rf.role_id = r.id AND rf.feature_id = f.id
      AND r.name = @extschema@.c77_rbac_require(p_role, 'role') AND f.name = @extschema@.c77_rbac_require(p_feature, 'feature');
    RETURN FOUND;
END
$$;

-- Gives a subject a role within a scope (global/all: every scope). True when it was new.
CREATE FUNCTION c77_rbac_assign_subject(p_external_id text, p_role text, p_scope_type text, p_scope_id text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO @extschema@.c77_rbac_subject_roles (subject_id, role_id, scope_type, scope_id)
    VALUES (@extschema@.c77_rbac_subject_id(p_external_id), @extschema@.c77_rbac_role_id(p_role),
            @extschema@.c77_rbac_require(p_scope_type, 'scope_type'), @extschema@.c77_rbac_require(p_scope_id, 'scope_id'))
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;

-- Takes a role in a scope from a subject. True when the subject had it.
CREATE FUNCTION c77_rbac_revoke_subject_role(p_external_id text, p_role text, p_scope_type text, p_scope_id text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.c77_rbac_subject_roles sr
    USING @extschema@.c77_rbac_subjects s, @extschema@.c77_rbac_roles r
    WHERE sr.subject_id = s.id AND sr.role_id = r.id
      AND s.external_id = @extschema@.c77_rbac_require(p_external_id, 'external_id') AND r.name = @extschema@.c77_rbac_require(p_role, 'role')
      AND sr.scope_type = @extschema@.c77_rbac_require(p_scope_type, 'scope_type') AND sr.scope_id = @extschema@.c77_rbac_require(p_scope_id, 'scope_id');
    RETURN FOUND;
END
$$;

-- Assigns one role in one scope to many subjects; returns how many assignments were new.
CREATE FUNCTION c77_rbac_bulk_assign_subjects(p_external_ids text[], p_role text, p_scope_type text, p_scope_id text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id text;
    v_count integer := 0;
BEGIN
    IF p_external_ids IS NULL OR cardinality(p_external_ids) = 0 THEN
        RAISE EXCEPTION 'c77_rbac: external_ids must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v_id IN ARRAY p_external_ids LOOP
        IF @extschema@.c77_rbac_assign_subject(v_id, p_role, p_scope_type, p_scope_id) THEN
            v_count := v_count + 1;
        END IF;
    END LOOP;
    RETURN v_count;
END
$$;

-- Whether a subject may use a feature: in the given scope (or global/all), or, without a
-- scope, in any scope. Unknown subjects and features are simply denied.
CREATE FUNCTION c77_rbac_can_access(p_feature text, p_external_id text, p_scope_type text DEFAULT NULL, p_scope_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM @extschema@.c77_rbac_subjects s
        JOIN @extschema@.c77_rbac_subject_roles sr ON sr.subject_id = s.id
        JOIN @extschema@.c77_rbac_role_features rf ON rf.role_id = sr.role_id
        JOIN @extschema@.c77_rbac_features f ON f.id = rf.feature_id
        WHERE s.external_id = p_external_id AND f.name = p_feature
          AND (p_scope_type IS NULL
               OR (sr.scope_type = 'global' AND sr.scope_id = 'all')
               OR (sr.scope_type = p_scope_type AND sr.scope_id = coalesce(p_scope_id, sr.scope_id))))
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON c77_rbac_subjects, c77_rbac_roles, c77_rbac_features, c77_rbac_role_features, c77_rbac_subject_roles,
              c77_rbac_user_permissions FROM PUBLIC;
REVOKE ALL ON FUNCTION c77_rbac_require(text, text), c77_rbac_role_id(text), c77_rbac_subject_id(text),
    c77_rbac_grant_feature(text, text), c77_rbac_revoke_feature(text, text),
    c77_rbac_assign_subject(text, text, text, text), c77_rbac_revoke_subject_role(text, text, text, text),
    c77_rbac_bulk_assign_subjects(text[], text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION c77_rbac_grant_feature(text, text), c77_rbac_revoke_feature(text, text),
    c77_rbac_assign_subject(text, text, text, text), c77_rbac_revoke_subject_role(text, text, text, text),
    c77_rbac_bulk_assign_subjects(text[], text, text, text) TO c77_rbac_admin;
GRANT SELECT ON c77_rbac_user_permissions TO c77_rbac_admin;
