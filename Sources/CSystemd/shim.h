#ifndef C77_CSYSTEMD_SHIM_H
#define C77_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
