/*-------------------------------------------------------------------------
 *
 * c77_secure_db.h
 *		What the extension's C files share: the row hash and the write path's grants.
 *
 *-------------------------------------------------------------------------
 */
#ifndef C77_SECURE_DB_H
#define C77_SECURE_DB_H

#include "fmgr.h"
#include "utils/array.h"

/*
 * The content hash of a row (a composite datum): lower-case hex SHA-256 of its text output,
 * the columns numbered in nulled (may be NULL) taken as NULL. record_out: an FmgrInfo of
 * record_out kept by the caller across rows. c77_secure_db.c.
 */
extern text *c77_secure_db_hash_row(Datum row, ArrayType *nulled, FmgrInfo *record_out);

/*
 * The operation granted for one row of relid written by statement (INSERT, UPDATE or
 * DELETE), which uses the grant up; NULL if there is none. write_path.c.
 */
extern const char *c77_secure_db_take_grant(Oid relid, const char *statement);

#endif							/* C77_SECURE_DB_H */
