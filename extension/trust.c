/*-------------------------------------------------------------------------
 *
 * trust.c
 *		What c77_secure_db checks before code it does not own runs with its rights, or
 *		before it runs statements as its writer role.
 *
 * The protection trigger and the verification functions run as the extension's (superuser)
 * owner, and so does whatever they make a table run: domain checks, operator classes,
 * casts. c77_secure_db_table_meta_for() refuses a table if any of that belongs to a
 * non-superuser, and keeps the objects it checked in the table's cached description
 * (relied_on). But an owner can change with no DDL on the table -- ALTER FUNCTION ... OWNER
 * TO, ALTER ROLE ... NOSUPERUSER, REASSIGN OWNED -- so a cached description is trusted only
 * while those objects are still owned by superusers (c77_secure_db_untrusted): the write path
 * checks on every call, and a description is read from the cache only after the same check.
 *
 * Also here: whether a function pins a search_path that cannot find a caller's temporary
 * objects first, and the checks of the role the write path runs statements as.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/pg_authid.h"
#include "nodes/pg_list.h"
#include "utils/catcache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "c77_secure_db.h"

PG_FUNCTION_INFO_V1(c77_secure_db_untrusted_objects);
PG_FUNCTION_INFO_V1(c77_secure_db_pins_search_path);

/* How a type is named in a refusal. */
static const char *
type_kind(char typtype)
{
	switch (typtype)
	{
		case TYPTYPE_DOMAIN:
			return "domain";
		case TYPTYPE_ENUM:
			return "enum";
		case TYPTYPE_RANGE:
			return "range";
		case TYPTYPE_MULTIRANGE:
			return "multirange";
		default:
			return "type";
	}
}

/*
 * The owner of one object, and its name for a refusal (made only if asked); false if the
 * object no longer exists (then neither does what used it).
 */
static bool
owner_of(Oid classid, Oid objid, Oid *owner, char **name)
{
	int			cache = classid == ProcedureRelationId ? PROCOID
		: classid == OperatorRelationId ? OPEROID
		: classid == TypeRelationId ? TYPEOID : -1;
	HeapTuple	tuple;

	if (cache < 0)
		elog(ERROR, "c77_secure_db: relied_on names an object of catalog %u", classid);
	tuple = SearchSysCache1(cache, ObjectIdGetDatum(objid));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (classid == ProcedureRelationId)
	{
		*owner = ((Form_pg_proc) GETSTRUCT(tuple))->proowner;
		if (name != NULL)
			*name = format_procedure(objid);
	}
	else if (classid == OperatorRelationId)
	{
		*owner = ((Form_pg_operator) GETSTRUCT(tuple))->oprowner;
		if (name != NULL)
			*name = psprintf("operator %s", format_operator(objid));
	}
	else
	{
		*owner = ((Form_pg_type) GETSTRUCT(tuple))->typowner;
		if (name != NULL)
			*name = psprintf("%s %s", type_kind(((Form_pg_type) GETSTRUCT(tuple))->typtype), format_type_be(objid));
	}
	ReleaseSysCache(tuple);
	return true;
}

char *
c77_secure_db_untrusted(ArrayType *relied_on)
{
	Datum	   *ids;
	int			count;
	StringInfoData names;

	deconstruct_array(relied_on, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &ids, NULL, &count);
	if (count % 2 != 0 || (count > 0 && (ARR_NDIM(relied_on) != 2 || ARR_DIMS(relied_on)[1] != 2)))
		elog(ERROR, "c77_secure_db: relied_on must be an array of {classid, objid} pairs");
	names.data = NULL;
	for (int i = 0; i < count; i += 2)
	{
		Oid			classid = DatumGetObjectId(ids[i]);
		Oid			objid = DatumGetObjectId(ids[i + 1]);
		Oid			owner;
		char	   *name;

		/* The name is made only for what is reported. */
		if (!owner_of(classid, objid, &owner, NULL) || superuser_arg(owner) || !owner_of(classid, objid, &owner, &name))
			continue;
		if (names.data == NULL)
			initStringInfo(&names);
		else
			appendStringInfoString(&names, ", ");
		appendStringInfoString(&names, name);
	}
	return names.data;
}

/*
 * c77_secure_db_untrusted_objects(relied_on oid[]) returns text
 *
 * The objects of relied_on ({{classid, objid}, ...}) a non-superuser owns, named as in the
 * write path's refusals ("own.f(integer), domain own.amount"); NULL if none.
 */
Datum
c77_secure_db_untrusted_objects(PG_FUNCTION_ARGS)
{
	char	   *names = c77_secure_db_untrusted(PG_GETARG_ARRAYTYPE_P(0));

	if (names == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(names));
}

/*
 * c77_secure_db_pins_search_path(config text[]) returns boolean
 *
 * Whether a function's SET clauses (pg_proc.proconfig) pin a search_path that searches pg_temp
 * last: the value parsed as PostgreSQL parses it (a quoted "a, pg_temp" is one schema, and a
 * search_path without pg_temp searches it first), its first pg_temp its last element. Names
 * such a function leaves unqualified cannot find a caller's temporary objects first.
 */
Datum
c77_secure_db_pins_search_path(PG_FUNCTION_ARGS)
{
	Datum	   *settings;
	bool	   *nulls;
	int			count;
	bool		pins = false;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false, TYPALIGN_INT, &settings, &nulls, &count);
	for (int i = 0; i < count; i++)
	{
		char	   *setting;
		List	   *schemas;
		ListCell   *cell;
		int			position = 0;

		if (nulls[i])
			continue;
		setting = TextDatumGetCString(settings[i]);
		if (strncmp(setting, "search_path=", strlen("search_path=")) != 0)
			continue;
		pins = false;
		if (!SplitIdentifierString(setting + strlen("search_path="), ',', &schemas))
			continue;
		foreach(cell, schemas)
		{
			position++;
			if (strcmp((char *) lfirst(cell), "pg_temp") == 0)
			{
				pins = position == list_length(schemas);
				break;
			}
		}
	}
	PG_RETURN_BOOL(pins);
}

/*
 * The role the write path runs statements as, c77_secure_db_writer (see the 2.0 script),
 * after checking that it has no rights of its own to lend: no superuser, login, role or
 * database creation, replication or row-security bypass, and no members or memberships.
 * Roles are the cluster's, so another database, or an administrator, may have changed it.
 */
Oid
c77_secure_db_writer_role(void)
{
	HeapTuple	tuple = SearchSysCache1(AUTHNAME, CStringGetDatum("c77_secure_db_writer"));
	Form_pg_authid role;
	Oid			oid;
	bool		sound;
	CatCList   *members;
	CatCList   *memberships;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role \"c77_secure_db_writer\" does not exist"),
						errhint("ALTER EXTENSION c77_secure_db UPDATE creates it.")));
	role = (Form_pg_authid) GETSTRUCT(tuple);
	oid = role->oid;
	sound = !role->rolsuper && !role->rolcanlogin && !role->rolcreaterole && !role->rolcreatedb
		&& !role->rolreplication && !role->rolbypassrls;
	ReleaseSysCache(tuple);
	members = SearchSysCacheList1(AUTHMEMROLEMEM, ObjectIdGetDatum(oid));
	memberships = SearchSysCacheList1(AUTHMEMMEMROLE, ObjectIdGetDatum(oid));
	sound = sound && members->n_members == 0 && memberships->n_members == 0;
	ReleaseSysCacheList(members);
	ReleaseSysCacheList(memberships);
	if (!sound)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("role c77_secure_db_writer has rights, members or memberships of its own; c77_secure_db will not run statements as it"),
						errhint("It must be NOLOGIN, without SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, and belong to no role nor have members.")));
	return oid;
}
