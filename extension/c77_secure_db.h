/*-------------------------------------------------------------------------
 *
 * c77_secure_db.h
 *		What the extension's C files share: the row hash, the write path's grants, session plans,
 *		the owners' check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef C77_SECURE_DB_H
#define C77_SECURE_DB_H

#include "executor/spi.h"
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

/*
 * A generic plan of sql (%1$s standing for the extension's schema), prepared on first use and
 * kept for the session in *plan. Generic: parameters never change the plan's shape, and
 * custom plans would be planned anew on every call. SPI must be connected. write_path.c.
 */
extern SPIPlanPtr c77_secure_db_session_plan(SPIPlanPtr *plan, const char *schema, const char *sql, int nargs,
											 Oid *argtypes);

/*
 * The objects of relied_on (an oid[] of {classid, objid} pairs of functions, operators and
 * types) that a non-superuser owns now, named for a refusal; NULL if none. trust.c.
 */
extern char *c77_secure_db_untrusted(ArrayType *relied_on);

/*
 * The oid of c77_secure_db_writer, the role the write path runs statements as; fails if the
 * role has rights, members or memberships of its own. trust.c.
 */
extern Oid	c77_secure_db_writer_role(void);

#endif							/* C77_SECURE_DB_H */
