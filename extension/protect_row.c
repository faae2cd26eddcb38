/*-------------------------------------------------------------------------
 *
 * protect_row.c
 *		c77_secure_db_protect_row(), the BEFORE ROW trigger of every secure table.
 *
 * A row may be written only under an authorization for it: the grant of
 * c77_secure_db_operation() (write_path.c), or else a token (re-hashing, maintenance writes;
 * c77_secure_db_token_kind() in the 2.0 script checks and uses it up). Any other write fails
 * with the documented "Direct modifications not allowed" error.
 *
 * The trigger then sets the security columns, whichever of them the table has:
 *	insert: created_at and updated_at to now(), deleted_at to NULL;
 *	update: created_at back to its old value, updated_at to now() (not when re-hashing);
 *	both:	content_hash to the row's hash (HASHING.md), hash_version to 1.
 * A column of another type than timestamptz, text or integer gets the value through its
 * type's input function, as PL/pgSQL's assignment would. The function's SET clauses fix the
 * settings the hash's text output depends on (and TimeZone for the timestamps' text).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "c77_secure_db.h"

PG_FUNCTION_INFO_V1(c77_secure_db_protect_row);

/* Plans kept for the session (they name the extension's schema). */
static SPIPlanPtr token_plan;
static SPIPlanPtr cached_meta_plan;
static SPIPlanPtr meta_plan;

/* Which security columns a table has, from c77_secure_db_table_meta_for(). */
typedef struct SecurityColumns
{
	bool		created_at;
	bool		updated_at;
	bool		deleted_at;
	bool		content_hash;
	bool		hash_version;
	ArrayType  *hash_nulled;	/* attribute numbers hashed as NULL */
	char	   *unsafe;			/* what the table would run of a non-superuser's, if any */
} SecurityColumns;

/*
 * Looks up, with SPI connected: the operation a token authorizes for a row of relid (NULL:
 * none; only if need_token), and, if need_columns and it is authorized, the table's security
 * columns, copied into caller's memory.
 */
static const char *
read_table(const char *schema, Oid relid, bool need_token, bool need_columns, SecurityColumns *columns,
		   MemoryContext caller)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			argtype = OIDOID;
	Datum		cached_args[2] = {arg, BoolGetDatum(!need_token)};
	Oid			cached_argtypes[2] = {OIDOID, BOOLOID};
	const char *kind = NULL;
	bool		null;
	HeapTuple	row;
	TupleDesc	desc;

	if (need_token)
	{
		if (SPI_execute_plan(c77_secure_db_session_plan(&token_plan, schema, "SELECT %1$s.c77_secure_db_token_kind($1)",
														1, &argtype),
							 &arg, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "c77_secure_db: could not check the token");
		kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (kind == NULL)
			return NULL;
		kind = MemoryContextStrdup(caller, kind);
	}
	if (!need_columns)
		return kind;

	/* The table's cached description if it may be used (see c77_secure_db_table_meta_for);
	 * else made anew. Under a grant, the write path checked its owners this call ($2). */
	if (SPI_execute_plan(c77_secure_db_session_plan(&cached_meta_plan, schema,
									  "SELECT has_created_at, has_updated_at, has_deleted_at, has_content_hash, has_hash_version,\n"
									  "       hash_nulled, unsafe_functions FROM %1$s.c77_secure_db_table_meta\n"
									  "WHERE relid = $1 AND unsafe_functions IS NULL\n"
									  "  AND ($2 OR %1$s.c77_secure_db_untrusted_objects(relied_on) IS NULL)",
												  2, cached_argtypes),
						 cached_args, NULL, false, 1) != SPI_OK_SELECT
		|| (SPI_processed == 0
			&& SPI_execute_plan(c77_secure_db_session_plan(&meta_plan, schema,
											 "SELECT has_created_at, has_updated_at, has_deleted_at, has_content_hash, has_hash_version,\n"
											 "       hash_nulled, unsafe_functions FROM %1$s.c77_secure_db_table_meta_for($1)",
														 1, &argtype),
								&arg, NULL, false, 1) != SPI_OK_SELECT)
		|| SPI_processed != 1)
		elog(ERROR, "c77_secure_db: could not describe table %u", relid);
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	columns->created_at = DatumGetBool(SPI_getbinval(row, desc, 1, &null)) && !null;
	columns->updated_at = DatumGetBool(SPI_getbinval(row, desc, 2, &null)) && !null;
	columns->deleted_at = DatumGetBool(SPI_getbinval(row, desc, 3, &null)) && !null;
	columns->content_hash = DatumGetBool(SPI_getbinval(row, desc, 4, &null)) && !null;
	columns->hash_version = DatumGetBool(SPI_getbinval(row, desc, 5, &null)) && !null;
	columns->unsafe = SPI_getvalue(row, desc, 7);
	if (columns->unsafe != NULL)
		columns->unsafe = MemoryContextStrdup(caller, columns->unsafe);
	columns->hash_nulled = NULL;
	if (columns->content_hash)
	{
		Datum		nulled = SPI_getbinval(row, desc, 6, &null);

		if (!null)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			columns->hash_nulled = DatumGetArrayTypePCopy(nulled);
			MemoryContextSwitchTo(spi);
		}
	}
	return kind;
}

/* Values to set in the row, by column name. */
typedef struct Changes
{
	TupleDesc	desc;
	int			count;
	int			attnums[5];
	Datum		values[5];
	bool		nulls[5];
} Changes;

/* The attribute number of a column the table's description says it has. */
static int
column_number(TupleDesc desc, const char *name)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("record \"new\" has no field \"%s\"", name)));
	return attnum;
}

/*
 * Sets column name to value, given as a datum of type (or NULL), converted to the column's
 * type as an assignment would: directly when the types match, else through text.
 */
static void
change(Changes *changes, const char *name, Datum value, Oid type, bool null)
{
	int			attnum = column_number(changes->desc, name);
	Form_pg_attribute attribute = TupleDescAttr(changes->desc, attnum - 1);
	int			i = changes->count++;

	changes->attnums[i] = attnum;
	changes->nulls[i] = null;
	if (null)
	{
		/* A domain may refuse NULL. */
		if (get_typtype(attribute->atttypid) == TYPTYPE_DOMAIN)
			domain_check((Datum) 0, true, attribute->atttypid, NULL, CurrentMemoryContext);
		changes->values[i] = (Datum) 0;
	}
	else if (attribute->atttypid == type && attribute->atttypmod < 0)
		changes->values[i] = value;
	else
	{
		Oid			output;
		Oid			input;
		Oid			ioparam;
		bool		varlena;

		getTypeOutputInfo(type, &output, &varlena);
		getTypeInputInfo(attribute->atttypid, &input, &ioparam);
		changes->values[i] = OidInputFunctionCall(input, OidOutputFunctionCall(output, value), ioparam, attribute->atttypmod);
	}
}

/* Whether a foreign key referencing the table has an action that writes the referencing table. */
static bool
cascades(Relation relation)
{
	TriggerDesc *triggers = relation->trigdesc;

	for (int i = 0; triggers != NULL && i < triggers->numtriggers; i++)
	{
		Oid			function = triggers->triggers[i].tgfoid;

		if (function == F_RI_FKEY_CASCADE_DEL || function == F_RI_FKEY_CASCADE_UPD
			|| function == F_RI_FKEY_SETNULL_DEL || function == F_RI_FKEY_SETNULL_UPD
			|| function == F_RI_FKEY_SETDEFAULT_DEL || function == F_RI_FKEY_SETDEFAULT_UPD)
			return true;
	}
	return false;
}

Datum
c77_secure_db_protect_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	MemoryContext caller = CurrentMemoryContext;
	Relation	relation;
	Oid			relid;
	const char *statement;
	const char *kind;
	SecurityColumns columns = {false, false, false, false, false, NULL, NULL};
	bool		granted;
	HeapTuple	row;
	Changes		changes;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event))
		elog(ERROR, "c77_secure_db_protect_row: not called as a BEFORE ROW trigger");
	relation = trigger->tg_relation;
	relid = RelationGetRelid(relation);
	statement = TRIGGER_FIRED_BY_INSERT(trigger->tg_event) ? "INSERT"
		: TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? "UPDATE" : "DELETE";

	kind = c77_secure_db_take_grant(relid, statement);
	granted = kind != NULL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "c77_secure_db: SPI_connect failed");
	{
		const char *token_kind = read_table(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)), relid,
											kind == NULL, !TRIGGER_FIRED_BY_DELETE(trigger->tg_event), &columns, caller);

		if (kind == NULL)
			kind = token_kind;
	}
	SPI_finish();
	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Direct modifications not allowed on secure table %s.%s. Use c77_secure_db_operation() function.",
						get_namespace_name(RelationGetNamespace(relation)), RelationGetRelationName(relation)),
				 errhint("Writes to tables of a secure schema must go through c77_secure_db_operation().")));

	/*
	 * This function runs with its owner's (a superuser's) rights: the row's types are not
	 * converted, nor checked, with them if the table would run a non-superuser's code. And a
	 * foreign key cascading from this table would fire the triggers of the referencing
	 * table, whoever owns it, with the rights of the write path.
	 */
	if (columns.unsafe != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Table %s.%s calls functions owned by a non-superuser (%s) in defaults, constraints, indexes, triggers, policies or rules; it is not written with the extension owner's rights",
						get_namespace_name(RelationGetNamespace(relation)), RelationGetRelationName(relation), columns.unsafe)));
	if (granted && !TRIGGER_FIRED_BY_INSERT(trigger->tg_event) && cascades(relation))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Table %s.%s is referenced by a foreign key with ON UPDATE or ON DELETE CASCADE, SET NULL or SET DEFAULT; c77_secure_db_operation will not run its actions with its owner's rights",
						get_namespace_name(RelationGetNamespace(relation)), RelationGetRelationName(relation))));

	if (TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
		return PointerGetDatum(trigger->tg_trigtuple);

	changes.desc = RelationGetDescr(relation);
	changes.count = 0;
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
	{
		row = trigger->tg_trigtuple;
		if (columns.created_at)
			change(&changes, "created_at", now, TIMESTAMPTZOID, false);
		if (columns.updated_at)
			change(&changes, "updated_at", now, TIMESTAMPTZOID, false);
		if (columns.deleted_at)
			change(&changes, "deleted_at", (Datum) 0, InvalidOid, true);
	}
	else
	{
		row = trigger->tg_newtuple;
		if (columns.created_at)
		{
			int			attnum = column_number(changes.desc, "created_at");
			bool		null;
			Datum		old = heap_getattr(trigger->tg_trigtuple, attnum, changes.desc, &null);

			change(&changes, "created_at", old, TupleDescAttr(changes.desc, attnum - 1)->atttypid, null);
		}
		if (columns.updated_at && strcmp(kind, "rehash") != 0)
			change(&changes, "updated_at", now, TIMESTAMPTZOID, false);
	}
	if (changes.count > 0)
		row = heap_modify_tuple_by_cols(row, changes.desc, changes.count, changes.attnums, changes.values, changes.nulls);

	if (columns.content_hash)
	{
		/* record_out keeps its per-column output functions in its fn_extra for the statement. */
		FmgrInfo   *record_out = (FmgrInfo *) fcinfo->flinfo->fn_extra;

		if (record_out == NULL)
		{
			record_out = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
			fmgr_info_cxt(F_RECORD_OUT, record_out, fcinfo->flinfo->fn_mcxt);
			fcinfo->flinfo->fn_extra = record_out;
		}
		changes.count = 0;
		change(&changes, "content_hash",
			   PointerGetDatum(c77_secure_db_hash_row(heap_copy_tuple_as_datum(row, changes.desc), columns.hash_nulled,
													  record_out)),
			   TEXTOID, false);
		if (columns.hash_version)
			change(&changes, "hash_version", Int32GetDatum(1), INT4OID, false);
		row = heap_modify_tuple_by_cols(row, changes.desc, changes.count, changes.attnums, changes.values, changes.nulls);
	}
	return PointerGetDatum(row);
}
