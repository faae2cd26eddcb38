#ifndef C77_CSYSTEMD_SHIM_H
#define C77_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <sys/syscall.h>
#include <linux/memfd.h>
#include <fcntl.h>
#include <unistd.h>

/* Seal flags from linux/fcntl.h, which clashes with glibc's fcntl.h when both are included. */
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif

/* A sealed memfd holding `size` bytes of `data`, for journald's large-entry convention;
   -1 with errno set on failure. */
static inline int c77_sealed_memfd(const void *data, size_t size) {
    int fd = (int)syscall(SYS_memfd_create, "journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    const char *next = data;
    while (size > 0) {
        ssize_t written = write(fd, next, size);
        if (written <= 0) { close(fd); return -1; }
        next += written;
        size -= (size_t)written;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) { close(fd); return -1; }
    return fd;
}
#endif
