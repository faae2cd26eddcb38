/*-------------------------------------------------------------------------
 *
 * c77_secure_db.c
 *		The row hash: the SHA-256 of a row's text output (the module's magic block is here too).
 *
 * A content hash (HASHING.md) is SHA-256 over the UTF-8 bytes of a record's text output,
 * ROW(...)::text. In SQL that is encode(sha256(convert_to(r::text, 'UTF8')), 'hex'): four
 * calls, two copies, and a new digest context per row. This function computes the same bytes
 * once per row with a digest context and the record output function kept for the session,
 * which makes verification of big tables about twice as fast; the result is identical, so
 * hashes stay checkable with nothing but SQL (or any SHA-256 tool).
 *
 * With a second argument, the listed columns (attribute numbers) are hashed as NULL: the
 * security columns and any excluded ones. That is the text output of a copy of the row with
 * those columns set to NULL, built as a tuple, so no domain constraint of theirs is checked
 * and the write path needs no copy of the row in PL/pgSQL.
 *
 * Like the SQL expression, the text output depends on DateStyle, TimeZone, IntervalStyle,
 * extra_float_digits and bytea_output: callers fix them (see the SET clauses of the
 * extension's functions).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "c77_secure_db.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(c77_secure_db_row_hash);

/* Kept for the backend's life: OpenSSL state lives outside PostgreSQL's memory contexts. */
static const EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_ctx = NULL;

static void
prepare_digest(void)
{
	if (sha256_ctx != NULL)
		return;
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_md == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not load SHA-256 from OpenSSL")));
	sha256_ctx = EVP_MD_CTX_new();
	if (sha256_ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

/*
 * The row with the columns numbered in "nulled" set to NULL, as a new composite datum.
 */
static Datum
row_with_nulls(HeapTupleHeader row, ArrayType *nulled)
{
	Oid			type = HeapTupleHeaderGetTypeId(row);
	int32		typmod = HeapTupleHeaderGetTypMod(row);
	TupleDesc	desc = lookup_rowtype_tupdesc(type, typmod);
	HeapTupleData tuple;
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *isnull = palloc(desc->natts * sizeof(bool));
	Datum	   *attnums;
	bool	   *attnum_nulls;
	int			count;
	HeapTuple	result;

	if (ARR_NDIM(nulled) > 1 || ARR_ELEMTYPE(nulled) != INT2OID)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the columns to hash as NULL must be a one-dimensional smallint[]")));
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	heap_deform_tuple(&tuple, desc, values, isnull);

	deconstruct_array(nulled, INT2OID, sizeof(int16), true, TYPALIGN_SHORT, &attnums, &attnum_nulls, &count);
	for (int i = 0; i < count; i++)
	{
		int			attnum = attnum_nulls[i] ? 0 : DatumGetInt16(attnums[i]);

		if (attnum < 1 || attnum > desc->natts)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("column number %d is not a column of the row", attnum)));
		isnull[attnum - 1] = true;
	}
	result = heap_form_tuple(desc, values, isnull);
	ReleaseTupleDesc(desc);
	return HeapTupleGetDatum(result);
}

/* See c77_secure_db.h. */
text *
c77_secure_db_hash_row(Datum row, ArrayType *nulled, FmgrInfo *record_out)
{
	char	   *textual;
	char	   *utf8;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len;
	char		hex[64 + 1];
	static const char hexdigits[] = "0123456789abcdef";

	prepare_digest();
	if (nulled != NULL)
		row = row_with_nulls(DatumGetHeapTupleHeader(row), nulled);
	textual = OutputFunctionCall(record_out, row);
	utf8 = pg_server_to_any(textual, strlen(textual), PG_UTF8);

	if (EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1
		|| EVP_DigestUpdate(sha256_ctx, utf8, strlen(utf8)) != 1
		|| EVP_DigestFinal_ex(sha256_ctx, digest, &digest_len) != 1
		|| digest_len != 32)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute SHA-256")));

	for (unsigned int i = 0; i < 32; i++)
	{
		hex[2 * i] = hexdigits[digest[i] >> 4];
		hex[2 * i + 1] = hexdigits[digest[i] & 0x0f];
	}
	hex[64] = '\0';
	return cstring_to_text_with_len(hex, 64);
}

/*
 * c77_secure_db_row_hash(record [, nulled smallint[]]) returns text
 *
 * Lower-case hex SHA-256 of convert_to(record::text, 'UTF8'), with the columns in "nulled"
 * taken as NULL; NULL for a NULL record (the function is STRICT).
 */
Datum
c77_secure_db_row_hash(PG_FUNCTION_ARGS)
{
	FmgrInfo   *record_out = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	/* record_out caches its per-column output functions in its own fn_extra, across rows. */
	if (record_out == NULL)
	{
		record_out = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(F_RECORD_OUT, record_out, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = record_out;
	}
	PG_RETURN_TEXT_P(c77_secure_db_hash_row(PG_GETARG_DATUM(0), PG_NARGS() > 1 ? PG_GETARG_ARRAYTYPE_P(1) : NULL,
											record_out));
}
