/*-------------------------------------------------------------------------
 *
 * write_path.c
 *		c77_secure_db_operation(), the one write path into secure tables, and the
 *		authorization it hands to the protection trigger.
 *
 * A call runs as the extension's owner (SECURITY DEFINER) and does, in order:
 *
 *	1. reads the request and checks what the request alone tells (parse_request);
 *	2. finds the writers of its shape, if it was checked before (one index scan of
 *	   c77_secure_db_writers); if not, checks it against the registry and the table's
 *	   description (c77_secure_db_check_write_shape);
 *	3. RBAC, when asked for (c77_secure_db_rbac_denial);
 *	4. in a subtransaction, so that a failing statement is still answered and audited: each
 *	   statement (the keyed one, then an insert for insert and upsert) under a fresh grant,
 *	   as the role c77_secure_db_writer, by calling its writer function directly;
 *	   c77_secure_db_writer_for() makes a missing writer;
 *	5. writes the audit row and builds the answer, in one statement.
 *
 * The statements themselves are in PL/pgSQL writers generated per statement shape (see the
 * 2.1 script). Every query here is planned once per session and names the extension's
 * schema; values are always bound as parameters.
 *
 * A grant authorizes the next row the protection trigger sees on one table, once. It lives
 * in this backend's memory, not in a table or a setting: nobody can read, copy or forge it,
 * and granting costs no write. Only the protection trigger (protect_row.c) takes one; this
 * file sets it right before a writer runs and withdraws it right after, on error too. Tokens in
 * c77_secure_db_auth_tokens remain for administrative writes (c77_secure_db_create_auth_token)
 * and re-hashing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "c77_secure_db.h"

PG_FUNCTION_INFO_V1(c77_secure_db_operation);
PG_FUNCTION_INFO_V1(c77_secure_db_key_equality);

/*
 * The grant in force: the table it allows one row of, the statement that may write it
 * (INSERT, UPDATE or DELETE), and the operation; none if grant_relid is InvalidOid.
 */
static Oid	grant_relid = InvalidOid;
static const char *grant_statement;
static char grant_operation[NAMEDATALEN];

static void
withdraw_grant(void)
{
	grant_relid = InvalidOid;
}

/*
 * The writers of shapes this backend has written (see find_writers), kept so that a call
 * finds them without a query. Any change to a function, a relation or a schema (a writer
 * dropped or made, a table altered or renamed, a schema renamed) marks the cache stale, and
 * the next call that is not nested in another empties it.
 */
static HTAB *writer_cache;
static MemoryContext writer_cache_context;
static bool writer_cache_stale;

/* How many c77_secure_db_operation() calls are running in this backend. */
static int	operation_depth;

static void
mark_writer_cache_stale(Datum arg, int cacheid, uint32 hashvalue)
{
	writer_cache_stale = true;
}

static void
mark_writer_cache_stale_for_relation(Datum arg, Oid relid)
{
	writer_cache_stale = true;
}

/*
 * A grant never outlives its transaction, whatever ended it; nor does the count of running
 * calls (a call that failed, its error caught by a subtransaction, did not count itself out).
 */
static void
at_transaction_end(XactEvent event, void *arg)
{
	withdraw_grant();
	operation_depth = 0;
}

void		_PG_init(void);

void
_PG_init(void)
{
	RegisterXactCallback(at_transaction_end, NULL);
	CacheRegisterSyscacheCallback(PROCOID, mark_writer_cache_stale, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, mark_writer_cache_stale, (Datum) 0);
	CacheRegisterRelcacheCallback(mark_writer_cache_stale_for_relation, (Datum) 0);
}

/* See c77_secure_db.h. */
const char *
c77_secure_db_take_grant(Oid relid, const char *statement)
{
	if (!OidIsValid(grant_relid) || grant_relid != relid || strcmp(grant_statement, statement) != 0)
		return NULL;
	withdraw_grant();
	return grant_operation;
}

/* A write request, read from its JSON (see parse_request). */
typedef struct WriteRequest
{
	char	   *schema;			/* schema_name */
	char	   *table;			/* table_name */
	char	   *operation;		/* lower(operation) */
	char	   *operation_given;	/* operation as given */
	Jsonb	   *data;			/* data, without the columns the write path sets itself */
	char	   *pk;				/* primary_key, by default id */
	const char *keyed;			/* the statement on the keyed row: update (update, upsert),
								 * soft_delete or delete; NULL for insert */
	bool		inserts;		/* whether an insert may follow: insert; upsert when no row
								 * has the key */
	JsonbValue *key;			/* data's value of pk, if any */
	ArrayType  *columns;		/* data's keys, in jsonb order */
	char	   *record_id;		/* data ->> pk */
	const char *feature;		/* the RBAC feature required */
} WriteRequest;

/* Columns a request may not set: the protection trigger does. */
static const char *const set_by_trigger[] = {"content_hash", "hash_version", "created_at", "updated_at", "deleted_at"};

/* object -> key, or NULL if absent. */
static JsonbValue *
field(Jsonb *object, const char *key)
{
	return getKeyJsonValueFromContainer(&object->root, key, strlen(key), NULL);
}

/* A value's text as ->> gives it (NULL for JSON null). */
static char *
value_text(JsonbValue *value)
{
	if (value == NULL)
		return NULL;
	switch (value->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(value->val.string.val, value->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value->val.numeric)));
		case jbvBool:
			return pstrdup(value->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, value->val.binary.data, value->val.binary.len);
	}
}

/* data without the columns the trigger sets, and its keys. */
static void
take_data(WriteRequest *req, Jsonb *data)
{
	Datum	   *keys;
	int			count = 0;
	JsonbIterator *it;
	JsonbValue	value;
	JsonbIteratorToken token;

	for (int i = 0; i < lengthof(set_by_trigger); i++)
		if (field(data, set_by_trigger[i]) != NULL)
		{
			Datum		names[lengthof(set_by_trigger)];

			for (int j = 0; j < lengthof(set_by_trigger); j++)
				names[j] = CStringGetTextDatum(set_by_trigger[j]);
			data = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete_array, JsonbPGetDatum(data),
													  PointerGetDatum(construct_array(names, lengthof(names), TEXTOID, -1, false, TYPALIGN_INT))));
			break;
		}
	keys = palloc(sizeof(Datum) * Max(JB_ROOT_COUNT(data), 1));
	it = JsonbIteratorInit(&data->root);
	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
		if (token == WJB_KEY)
			keys[count++] = PointerGetDatum(cstring_to_text_with_len(value.val.string.val, value.val.string.len));
	req->data = data;
	req->columns = construct_array(keys, count, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Reads a request: {"schema_name", "table_name", "operation", "data", "primary_key"}.
 * Returns what is wrong with it, if the request alone tells (NULL: nothing yet).
 */
static char *
parse_request(Jsonb *json, const char *required_feature, WriteRequest *req)
{
	JsonbValue *data;

	memset(req, 0, sizeof(*req));
	if (json == NULL || !JB_ROOT_IS_OBJECT(json))
		return "Operation data must be a JSON object";
	req->schema = value_text(field(json, "schema_name"));
	req->table = value_text(field(json, "table_name"));
	req->operation_given = value_text(field(json, "operation"));
	if (req->operation_given != NULL)
		req->operation = str_tolower(req->operation_given, strlen(req->operation_given), DEFAULT_COLLATION_OID);
	req->pk = value_text(field(json, "primary_key"));
	if (req->pk == NULL)
		req->pk = "id";
	if (req->operation == NULL)
		req->feature = required_feature;
	else if (strcmp(req->operation, "insert") == 0)
		req->feature = "secure_db_insert", req->inserts = true;
	else if (strcmp(req->operation, "update") == 0)
		req->feature = "secure_db_update", req->keyed = "update";
	else if (strcmp(req->operation, "upsert") == 0)
		req->feature = "secure_db_update", req->keyed = "update", req->inserts = true;
	else if (strcmp(req->operation, "soft_delete") == 0)
		req->feature = "secure_db_delete", req->keyed = "soft_delete";
	else if (strcmp(req->operation, "delete") == 0)
		req->feature = "secure_db_hard_delete", req->keyed = "delete";
	if (required_feature != NULL)
		req->feature = required_feature;

	if (req->schema == NULL || req->table == NULL || req->operation == NULL)
		return "schema_name, table_name and operation are required";
	if (req->keyed == NULL && !req->inserts)
		return psprintf("Invalid operation: %s (use insert, update, upsert, delete or soft_delete)", req->operation_given);
	data = field(json, "data");
	if (data == NULL || data->type != jbvBinary || !JsonContainerIsObject(data->val.binary.data))
		return "data must be a JSON object";
	take_data(req, JsonbValueToJsonb(data));
	req->key = field(req->data, req->pk);
	req->record_id = value_text(req->key);
	return NULL;
}

/* Plans kept for the session: they name the extension's schema, which cannot move. */
static SPIPlanPtr writers_plan;
static SPIPlanPtr shape_plan;
static SPIPlanPtr writer_for_plan;
static SPIPlanPtr rbac_plan;
static SPIPlanPtr audit_plan;

/* See c77_secure_db.h. */
SPIPlanPtr
c77_secure_db_session_plan(SPIPlanPtr *plan, const char *schema, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		char	   *query = psprintf(sql, quote_identifier(schema));
		SPIPlanPtr	prepared = SPI_prepare_cursor(query, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (prepared == NULL)
			elog(ERROR, "c77_secure_db: could not prepare \"%s\": %s", query, SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	return *plan;
}

/*
 * Runs a plan that must return at most one row; returns it (NULL: none), with its
 * descriptor. A statement returning more fails (and its subtransaction is rolled back).
 */
static HeapTuple
run_for_row(SPIPlanPtr plan, Datum *values, const char *nulls, TupleDesc *desc)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 2);

	if (rc != SPI_OK_SELECT && rc != SPI_OK_INSERT_RETURNING && rc != SPI_OK_UPDATE_RETURNING
		&& rc != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "c77_secure_db: unexpected result %s", SPI_result_code_string(rc));
	if (SPI_processed > 1)
		ereport(ERROR, (errcode(ERRCODE_TOO_MANY_ROWS), errmsg("query returned more than one row")));
	*desc = SPI_tuptable->tupdesc;
	return SPI_processed == 0 ? NULL : SPI_tuptable->vals[0];
}

/* The first column of a plan's row (NULL if none), copied into the current memory context. */
static Datum
run_for_value(SPIPlanPtr plan, Datum *values, const char *nulls, bool *isnull)
{
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	desc;
	HeapTuple	row = run_for_row(plan, values, nulls, &desc);
	Datum		value;

	*isnull = true;
	if (row == NULL)
		return (Datum) 0;
	value = heap_getattr(row, 1, desc, isnull);
	MemoryContextSwitchTo(caller);
	return *isnull ? value : datumCopy(value, TupleDescAttr(desc, 0)->attbyval, TupleDescAttr(desc, 0)->attlen);
}

/* A C string as a text argument, and its null flag. */
static Datum
text_arg(const char *value, char *null)
{
	*null = value == NULL ? 'n' : ' ';
	return value == NULL ? (Datum) 0 : CStringGetTextDatum(value);
}

/* The writers of the request's shape, if it was checked before under these names. */
typedef struct Writers
{
	Oid			relid;			/* InvalidOid: the shape has no writer yet */
	Oid			keyed;			/* the keyed statement's writer, if made */
	Oid			insert;			/* the insert's writer, if made */
	FmgrInfo   *keyed_call;		/* their call information, if cached */
	FmgrInfo   *insert_call;
	ArrayType  *relied_on;		/* what the table's writes run (see trust.c); NULL: nothing */
} Writers;

/* An entry of writer_cache. */
typedef struct CachedWriters
{
	uint32		hash;			/* the key: hash_bytes of shape */
	char	   *shape;			/* see describe_shape */
	Writers		writers;
	FmgrInfo	keyed_call;
	FmgrInfo	insert_call;
} CachedWriters;

/*
 * Everything a shape's writers depend on, as one string: names, key column, statements and
 * payload keys, each prefixed by its length (so no two shapes read alike).
 */
static char *
describe_shape(WriteRequest *req)
{
	StringInfoData shape;
	Datum	   *columns;
	bool	   *nulls;
	int			count;
	const char *parts[5] = {req->schema, req->table, req->pk, req->keyed ? req->keyed : "", req->inserts ? "insert" : ""};

	initStringInfo(&shape);
	for (int i = 0; i < lengthof(parts); i++)
		appendStringInfo(&shape, "%zu:%s", strlen(parts[i]), parts[i]);
	deconstruct_array(req->columns, TEXTOID, -1, false, TYPALIGN_INT, &columns, &nulls, &count);
	for (int i = 0; i < count; i++)
	{
		text	   *column = DatumGetTextPP(columns[i]);

		appendStringInfo(&shape, "%zu:", (size_t) VARSIZE_ANY_EXHDR(column));
		appendBinaryStringInfo(&shape, VARDATA_ANY(column), VARSIZE_ANY_EXHDR(column));
	}
	return shape.data;
}

/* writer_cache, emptied if stale; NULL inside a nested call, which must not empty it. */
static HTAB *
usable_writer_cache(void)
{
	HASHCTL		ctl;

	if (operation_depth > 1)
		return NULL;
	if (writer_cache != NULL && !writer_cache_stale)
		return writer_cache;
	if (writer_cache_context == NULL)
		writer_cache_context = AllocSetContextCreate(TopMemoryContext, "c77_secure_db writers", ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(writer_cache_context);
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(CachedWriters);
	ctl.hcxt = writer_cache_context;
	writer_cache = hash_create("c77_secure_db writers", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	writer_cache_stale = false;
	return writer_cache;
}

/*
 * Fails unless a function is one of the extension's writers: a SECURITY INVOKER function of
 * the extension's owner (the current user here), a member of the extension.
 */
static void
check_writer(Oid writer)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(writer));
	bool		writes;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "c77_secure_db: writer %u does not exist", writer);
	writes = ((Form_pg_proc) GETSTRUCT(tuple))->proowner == GetUserId()
		&& !((Form_pg_proc) GETSTRUCT(tuple))->prosecdef
		&& getExtensionOfObject(ProcedureRelationId, writer) == get_extension_oid("c77_secure_db", false);
	ReleaseSysCache(tuple);
	if (!writes)
		elog(ERROR, "c77_secure_db: function %u is not one of the extension's writers", writer);
}

static void
query_writers(const char *schema, WriteRequest *req, Writers *writers)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		args[6];
	char		nulls[6];
	TupleDesc	desc;
	HeapTuple	row;
	bool		null;
	Datum		value;

	args[0] = text_arg(req->schema, &nulls[0]);
	args[1] = text_arg(req->table, &nulls[1]);
	args[2] = text_arg(req->pk, &nulls[2]);
	args[3] = text_arg(req->keyed, &nulls[3]);
	args[4] = text_arg(req->inserts ? "insert" : NULL, &nulls[4]);
	args[5] = PointerGetDatum(req->columns);
	nulls[5] = ' ';
	row = run_for_row(c77_secure_db_session_plan(&writers_plan, schema,
								   "SELECT max(w.relid), max(to_regprocedure(w.writer)::oid) FILTER (WHERE w.kind = $4),\n"
								   "       max(to_regprocedure(w.writer)::oid) FILTER (WHERE w.kind = 'insert'), max(m.relied_on)\n"
								   "FROM %1$s.c77_secure_db_writers AS w JOIN %1$s.c77_secure_db_table_meta AS m USING (relid)\n"
								   "WHERE w.relid = to_regclass(format('%%I.%%I', $1, $2))::oid AND w.kind IN ($4, $5)\n"
								   "  AND w.pk_column = $3 AND w.columns = $6 AND w.schema_name = $1 AND w.table_name = $2",
								   6, argtypes),
					  args, nulls, &desc);
	value = heap_getattr(row, 1, desc, &null);
	writers->relid = null ? InvalidOid : DatumGetObjectId(value);
	value = heap_getattr(row, 2, desc, &null);
	writers->keyed = null ? InvalidOid : DatumGetObjectId(value);
	value = heap_getattr(row, 3, desc, &null);
	writers->insert = null ? InvalidOid : DatumGetObjectId(value);
	value = heap_getattr(row, 4, desc, &null);
	writers->relied_on = null ? NULL : DatumGetArrayTypePCopy(value);
	if (writers->relied_on != NULL && ARR_NDIM(writers->relied_on) == 0)
		writers->relied_on = NULL;
	writers->keyed_call = writers->insert_call = NULL;
}

/*
 * The writers of the request's shape, if it was checked before under these names: from the
 * cache, or from c77_secure_db_writers (then cached once every writer the shape needs exists).
 */
static void
find_writers(const char *schema, WriteRequest *req, Writers *writers)
{
	HTAB	   *cache = usable_writer_cache();
	char	   *shape;
	uint32		hash;
	CachedWriters *cached;
	bool		found;
	FmgrInfo	keyed_call;
	FmgrInfo	insert_call;
	ArrayType  *relied_on;

	if (cache == NULL)
	{
		query_writers(schema, req, writers);
		return;
	}
	shape = describe_shape(req);
	hash = hash_bytes((const unsigned char *) shape, strlen(shape));
	cached = hash_search(cache, &hash, HASH_FIND, &found);
	if (found && strcmp(cached->shape, shape) == 0)
	{
		*writers = cached->writers;
		return;
	}
	query_writers(schema, req, writers);
	if (!OidIsValid(writers->relid)
		|| (req->keyed != NULL && req->key != NULL && !OidIsValid(writers->keyed))
		|| (req->inserts && !OidIsValid(writers->insert)))
		return;

	/* Everything that can fail comes before the entry is made, so no entry is half made. */
	if (OidIsValid(writers->keyed))
	{
		check_writer(writers->keyed);
		fmgr_info_cxt(writers->keyed, &keyed_call, writer_cache_context);
	}
	if (OidIsValid(writers->insert))
	{
		check_writer(writers->insert);
		fmgr_info_cxt(writers->insert, &insert_call, writer_cache_context);
	}
	shape = MemoryContextStrdup(writer_cache_context, shape);
	relied_on = NULL;
	if (writers->relied_on != NULL)
	{
		relied_on = MemoryContextAlloc(writer_cache_context, VARSIZE(writers->relied_on));
		memcpy(relied_on, writers->relied_on, VARSIZE(writers->relied_on));
	}
	cached = hash_search(cache, &hash, HASH_ENTER, &found);
	cached->shape = shape;
	cached->writers = *writers;
	cached->writers.relied_on = relied_on;
	cached->keyed_call = keyed_call;
	cached->insert_call = insert_call;
	cached->writers.keyed_call = OidIsValid(writers->keyed) ? &cached->keyed_call : NULL;
	cached->writers.insert_call = OidIsValid(writers->insert) ? &cached->insert_call : NULL;
	*writers = cached->writers;
}

/*
 * The checks of a shape not written before, against the registry and the table's
 * description (c77_secure_db_check_write_shape). Returns what is wrong (NULL: nothing), and
 * sets *relid and *has_deleted_at.
 */
static char *
check_shape(const char *schema, WriteRequest *req, Oid *relid, bool *has_deleted_at)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	TupleDesc	desc;
	HeapTuple	row;
	bool		null;
	Datum		value;

	args[0] = CStringGetTextDatum(req->schema);
	args[1] = CStringGetTextDatum(req->table);
	args[2] = CStringGetTextDatum(req->pk);
	args[3] = PointerGetDatum(req->columns);
	row = run_for_row(c77_secure_db_session_plan(&shape_plan, schema,
								   "SELECT relid, has_deleted_at, error FROM %1$s.c77_secure_db_check_write_shape($1, $2, $3, $4)",
								   4, argtypes),
					  args, nulls, &desc);
	value = heap_getattr(row, 3, desc, &null);
	if (!null)
		return TextDatumGetCString(value);
	*relid = DatumGetObjectId(heap_getattr(row, 1, desc, &null));
	*has_deleted_at = DatumGetBool(heap_getattr(row, 2, desc, &null));
	return NULL;
}

/* Calls a writer function with data; returns the row it wrote as jsonb (NULL: none). */
static Datum
call_writer(FmgrInfo *flinfo, Jsonb *data, bool *isnull)
{
	LOCAL_FCINFO(call, 1);
	Datum		result;

	InitFunctionCallInfoData(*call, flinfo, 1, InvalidOid, NULL, NULL);
	call->args[0].value = JsonbPGetDatum(data);
	call->args[0].isnull = false;
	result = FunctionCallInvoke(call);
	*isnull = call->isnull;
	return result;
}

/*
 * c77_secure_db_key_equality(type regtype) returns text
 *
 * The equality operator of a type's default btree or hash operator class, the one the type's
 * keys are matched with, as OPERATOR(schema.name); NULL if it has none. See the 2.1 script.
 */
Datum
c77_secure_db_key_equality(PG_FUNCTION_ARGS)
{
	TypeCacheEntry *type = lookup_type_cache(PG_GETARG_OID(0), TYPECACHE_EQ_OPR);
	HeapTuple	tuple;
	char	   *equality;

	if (!OidIsValid(type->eq_opr))
		PG_RETURN_NULL();
	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(type->eq_opr));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "c77_secure_db: operator %u does not exist", type->eq_opr);
	equality = psprintf("OPERATOR(%s.%s)",
						quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tuple))->oprnamespace)),
						NameStr(((Form_pg_operator) GETSTRUCT(tuple))->oprname));
	ReleaseSysCache(tuple);
	PG_RETURN_TEXT_P(cstring_to_text(equality));
}

/*
 * Runs one statement of the request (kind: insert, update, soft_delete or delete) under a
 * grant for one row of the table, and returns the written row as jsonb (NULL: none). The
 * writer is called directly if it exists; otherwise c77_secure_db_writer_for() makes it, if
 * it can, and hands back the statement, run this once through SPI.
 */
static Datum
write_statement(const char *schema, WriteRequest *req, Oid relid, const char *kind, Oid writer, FmgrInfo *call,
				bool *isnull)
{
	SPIPlanPtr	statement = NULL;
	FmgrInfo	local;
	Datum		result;
	Oid			caller;
	int			caller_context;

	if (OidIsValid(writer) && call == NULL)
	{
		check_writer(writer);
		fmgr_info(writer, &local);
		call = &local;
	}
	else if (!OidIsValid(writer))
	{
		Oid			argtypes[6] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
		Datum		args[6];
		Oid			jsonb_type = JSONBOID;
		Datum		sql;
		bool		null;

		args[0] = ObjectIdGetDatum(relid);
		args[1] = CStringGetTextDatum(req->schema);
		args[2] = CStringGetTextDatum(req->table);
		args[3] = CStringGetTextDatum(kind);
		args[4] = CStringGetTextDatum(req->pk);
		args[5] = PointerGetDatum(req->columns);
		sql = run_for_value(c77_secure_db_session_plan(&writer_for_plan, schema,
										 "SELECT %1$s.c77_secure_db_writer_for($1, $2, $3, $4, $5, $6)", 6, argtypes),
							args, NULL, &null);
		if (null)
			elog(ERROR, "c77_secure_db: no statement for a write of %s.%s", req->schema, req->table);
		statement = SPI_prepare(TextDatumGetCString(sql), 1, &jsonb_type);
		if (statement == NULL)
			elog(ERROR, "c77_secure_db: could not prepare a write: %s", SPI_result_code_string(SPI_result));
	}

	strlcpy(grant_operation, req->operation, sizeof(grant_operation));
	grant_statement = strcmp(kind, "insert") == 0 ? "INSERT" : strcmp(kind, "delete") == 0 ? "DELETE" : "UPDATE";
	grant_relid = relid;

	/*
	 * The statement runs as c77_secure_db_writer, a role with no rights but its rows and
	 * sequences (see the 2.0 script), in a security-restricted operation: whatever the
	 * table's writes call -- defaults, domain checks, index expressions, triggers, and what
	 * those call -- runs with no more rights than that, never the write path's. The
	 * protection trigger and the audit keep the extension owner's. On error, the
	 * subtransaction's abort restores the user.
	 */
	GetUserIdAndSecContext(&caller, &caller_context);
	SetUserIdAndSecContext(c77_secure_db_writer_role(),
						   caller_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (statement != NULL)
	{
		Datum		data = JsonbPGetDatum(req->data);

		result = run_for_value(statement, &data, NULL, isnull);
		SPI_freeplan(statement);
	}
	else
		result = call_writer(call, req->data, isnull);
	SetUserIdAndSecContext(caller, caller_context);

	/*
	 * The grant must have been taken by the row the statement wrote, and only then: taken
	 * with no row written, another write used it (code the statement ran, such as a domain
	 * check); not taken with a row written, the row bypassed the trigger. Either fails, and
	 * the subtransaction is rolled back.
	 */
	if (*isnull != OidIsValid(grant_relid))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("a write of %s.%s did not pass the protection trigger exactly once", req->schema, req->table)));
	withdraw_grant();
	return result;
}

/*
 * The statements of the request, in a subtransaction: the keyed one (update, upsert,
 * soft_delete, delete), then an insert (insert; upsert when no row had the key). Returns
 * the written row (NULL: none), or sets *error to why it failed; a failure is rolled back.
 */
static Datum
perform(const char *schema, WriteRequest *req, Writers *writers, bool *row_null, char **error)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Datum		row = (Datum) 0;

	*row_null = true;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		if (req->keyed != NULL && req->key != NULL)
		{
			row = write_statement(schema, req, writers->relid, req->keyed, writers->keyed, writers->keyed_call, row_null);
			if (*row_null && strcmp(req->operation, "upsert") != 0)
				ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
								errmsg("Record with %s = %s not found in %s.%s",
									   req->pk, req->record_id ? req->record_id : "<NULL>", req->schema, req->table)));
		}
		if (req->inserts && *row_null)
			row = write_statement(schema, req, writers->relid, "insert", writers->insert, writers->insert_call, row_null);
		MemoryContextSwitchTo(caller);
		if (!*row_null)
			row = datumCopy(row, false, -1);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		withdraw_grant();
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		/* A cancel or timeout ends the call, as it would a PL/pgSQL exception block. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		*error = edata->message;
		*row_null = true;
	}
	PG_END_TRY();
	return row;
}

/* Writes the audit row of a call (the values in order of audit_columns). */
static void
write_audit(const char *schema, Datum *values, const char *nulls)
{
	static const Oid argtypes[11] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, INT4OID,
	TEXTOID, TEXTOID};
	int			rc = SPI_execute_plan(c77_secure_db_session_plan(&audit_plan, schema,
												   "INSERT INTO %1$s.c77_secure_db_operation_audit\n"
												   "    (operation_id, schema_name, table_name, operation_type, record_id, content_hash,\n"
												   "     success, error_message, execution_time_ms, rbac_user_id, required_feature)\n"
												   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
												   11, (Oid *) argtypes),
									  values, nulls, false, 0);

	if (rc != SPI_OK_INSERT)
		elog(ERROR, "c77_secure_db: could not write the audit row: %s", SPI_result_code_string(rc));
}

/* Puts a member into the answer, a JSON object under construction. */
static void
put(JsonbParseState **answer, const char *key, JsonbValue value)
{
	JsonbValue	name = {.type = jbvString, .val.string.len = strlen(key), .val.string.val = (char *) key};

	pushJsonbValue(answer, WJB_KEY, &name);
	pushJsonbValue(answer, WJB_VALUE, &value);
}

/* A string member's value; JSON null for NULL. */
static JsonbValue
text_value(const char *text)
{
	if (text == NULL)
		return (JsonbValue) {.type = jbvNull};
	return (JsonbValue) {.type = jbvString, .val.string.len = strlen(text), .val.string.val = (char *) text};
}

/* A JSON document as a member's value (pushJsonbValue copies it in); JSON null for NULL. */
static JsonbValue
jsonb_value(Jsonb *json)
{
	if (json == NULL)
		return (JsonbValue) {.type = jbvNull};
	return (JsonbValue) {.type = jbvBinary, .val.binary.data = &json->root, .val.binary.len = VARSIZE(json) - VARHDRSZ};
}

static Jsonb *
finish_answer(JsonbParseState **answer)
{
	return JsonbValueToJsonb(pushJsonbValue(answer, WJB_END_OBJECT, NULL));
}

/* Whether argument n was passed and is not NULL. */
static bool
given(FunctionCallInfo fcinfo, int n)
{
	return PG_NARGS() > n && !PG_ARGISNULL(n);
}

/*
 * c77_secure_db_operation(data jsonb [, check_rbac boolean, required_feature text,
 *                         scope_type text, scope_id text]) returns jsonb
 *
 * USAGE.md documents the requests, answers, errors and audit rows. Without check_rbac, no
 * RBAC check.
 */
Datum
c77_secure_db_operation(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	char	   *schema = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	bool		check_rbac = given(fcinfo, 1) && PG_GETARG_BOOL(1);
	WriteRequest req;
	Writers		writers = {InvalidOid, InvalidOid, InvalidOid, NULL, NULL, NULL};
	char	   *error;
	Datum		denial = (Datum) 0;
	bool		denial_null = true;
	char	   *rbac_user = NULL;
	Datum		row = (Datum) 0;
	bool		row_null = true;
	Datum		answer;

	/* Catalog changes committed by others since this transaction last looked (a writer
	 * dropped with its table's description) reach writer_cache first. */
	AcceptInvalidationMessages();
	operation_depth++;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "c77_secure_db: SPI_connect failed");

	/* The request, and the writers of its shape; without them, the checks of a new shape. */
	error = parse_request(given(fcinfo, 0) ? PG_GETARG_JSONB_P(0) : NULL,
						  given(fcinfo, 2) ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : NULL, &req);
	if (error == NULL)
	{
		bool		has_deleted_at = true;

		find_writers(schema, &req, &writers);
		/* Writers were made for a table whose writes run only superusers' code; if that no
		 * longer holds, the checks of a new shape describe the table anew and refuse it. */
		if (OidIsValid(writers.relid) && writers.relied_on != NULL && c77_secure_db_untrusted(writers.relied_on) != NULL)
			writers.relid = InvalidOid;
		if (!OidIsValid(writers.relid))
			error = check_shape(schema, &req, &writers.relid, &has_deleted_at);
		/* The key is checked every time; deleted_at with the description only (a soft_delete
		 * writer exists only for a table that has it). */
		if (error == NULL && strcmp(req.operation, "upsert") != 0 && req.keyed != NULL
			&& (req.key == NULL || req.key->type == jbvNull))
			error = psprintf("Primary key \"%s\" required for %s operation", req.pk, req.operation);
		else if (error == NULL && !has_deleted_at && strcmp(req.operation, "soft_delete") == 0)
			error = psprintf("Table %s.%s has no deleted_at column; soft_delete needs one", req.schema, req.table);
	}

	/* RBAC. */
	if (error == NULL && check_rbac)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		args[3];
		char		nulls[3];
		TupleDesc	desc;
		HeapTuple	verdict;
		bool		null;
		Datum		value;

		args[0] = text_arg(req.feature, &nulls[0]);
		args[1] = given(fcinfo, 3) ? PG_GETARG_DATUM(3) : (Datum) 0;
		nulls[1] = given(fcinfo, 3) ? ' ' : 'n';
		args[2] = given(fcinfo, 4) ? PG_GETARG_DATUM(4) : (Datum) 0;
		nulls[2] = given(fcinfo, 4) ? ' ' : 'n';
		verdict = run_for_row(c77_secure_db_session_plan(&rbac_plan, schema,
										   "SELECT denial, user_id, denial ->> 'error' FROM %1$s.c77_secure_db_rbac_denial(true, $1, $2, $3)",
										   3, argtypes),
							  args, nulls, &desc);
		denial = heap_getattr(verdict, 1, desc, &denial_null);
		value = heap_getattr(verdict, 2, desc, &null);
		rbac_user = null ? NULL : TextDatumGetCString(value);
		value = heap_getattr(verdict, 3, desc, &null);
		error = null ? NULL : TextDatumGetCString(value);
	}

	/* Perform it. */
	if (error == NULL)
		row = perform(schema, &req, &writers, &row_null, &error);

	/* Audit it, successful or not, and answer. */
	{
		Datum		operation_id = DirectFunctionCall1(gen_random_uuid, (Datum) 0);
		char	   *operation_id_text = DatumGetCString(DirectFunctionCall1(uuid_out, operation_id));
		Jsonb	   *written = row_null ? NULL : DatumGetJsonbP(row);
		char	   *record_id = req.record_id;
		char	   *content_hash = written ? value_text(field(written, "content_hash")) : NULL;
		int64		elapsed = Max(GetCurrentTimestamp() - started, 0); /* microseconds */
		Datum		values[11];
		char		nulls[11];
		JsonbParseState *state = NULL;

		if (error == NULL && written != NULL && field(written, req.pk) != NULL)
			record_id = value_text(field(written, req.pk));
		values[0] = operation_id;
		nulls[0] = ' ';
		values[1] = text_arg(req.schema, &nulls[1]);
		values[2] = text_arg(req.table, &nulls[2]);
		values[3] = text_arg(req.operation ? req.operation : "invalid", &nulls[3]);
		values[4] = text_arg(record_id, &nulls[4]);
		values[5] = text_arg(content_hash, &nulls[5]);
		values[6] = BoolGetDatum(error == NULL);
		nulls[6] = ' ';
		values[7] = text_arg(error, &nulls[7]);
		values[8] = Int32GetDatum((int32) ((elapsed + 999) / 1000));
		nulls[8] = ' ';
		values[9] = text_arg(rbac_user, &nulls[9]);
		values[10] = text_arg(check_rbac ? req.feature : NULL, &nulls[10]);
		write_audit(schema, values, nulls);

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		put(&state, "operation_id", text_value(operation_id_text));
		if (!denial_null)
			answer = DirectFunctionCall2(jsonb_concat, denial, JsonbPGetDatum(finish_answer(&state)));
		else
		{
			char	   *now = JsonEncodeDateTime(NULL, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
												 TIMESTAMPTZOID, NULL);

			put(&state, "success", (JsonbValue) {.type = jbvBool, .val.boolean = error == NULL});
			put(&state, "operation", text_value(req.operation));
			put(&state, "schema_name", text_value(req.schema));
			put(&state, "table_name", text_value(req.table));
			put(&state, "timestamp", text_value(now));
			if (error != NULL)
				put(&state, "error", text_value(error));
			else
			{
				Datum		milliseconds = DirectFunctionCall3(numeric_in,
															   CStringGetDatum(psprintf(INT64_FORMAT ".%03d", elapsed / 1000, (int) (elapsed % 1000))),
															   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

				put(&state, "rows_affected", (JsonbValue) {.type = jbvNumeric, .val.numeric = int64_to_numeric(written == NULL ? 0 : 1)});
				put(&state, "content_hash", text_value(content_hash));
				put(&state, "execution_time_ms", (JsonbValue) {.type = jbvNumeric, .val.numeric = DatumGetNumeric(milliseconds)});
				put(&state, "rbac_check_performed", (JsonbValue) {.type = jbvBool, .val.boolean = check_rbac});
				if (strcmp(req.operation, "delete") != 0)
					put(&state, "data", jsonb_value(written));
				if (check_rbac)
				{
					put(&state, "rbac_user_id", text_value(rbac_user));
					put(&state, "required_feature", text_value(req.feature));
				}
			}
			answer = JsonbPGetDatum(finish_answer(&state));
		}
	}

	answer = SPI_datumTransfer(answer, false, -1);
	SPI_finish();
	operation_depth--;
	PG_RETURN_DATUM(answer);
}
