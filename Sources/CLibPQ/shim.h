#ifndef C77_CLIBPQ_SHIM_H
#define C77_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
