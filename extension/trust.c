/*-------------------------------------------------------------------------
 *
 * trust.c
 *		Whether the functions, operators and types a table's writes run are still its
 *		superusers'.
 *
 * The write path and the protection trigger run as the extension's (superuser) owner, and so
 * does whatever a table's writes call: defaults, constraints, index expressions, triggers,
 * domains. c77_secure_db_table_meta_for() refuses a table if any of that belongs to a
 * non-superuser, and keeps the objects it checked in the table's cached description
 * (relied_on). But an owner can change with no DDL on the table -- ALTER FUNCTION ... OWNER
 * TO, ALTER ROLE ... NOSUPERUSER, REASSIGN OWNED -- so a cached description is trusted only
 * while those objects are still owned by superusers: the write path checks on every call, and
 * a description is read from the cache only after the same check.
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
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "c77_secure_db.h"

PG_FUNCTION_INFO_V1(c77_secure_db_untrusted_objects);

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
