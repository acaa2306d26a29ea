/* Files, truly asynchronous through io_uring (Tokio hands files to a thread pool).
 * Read and write at an offset with orca_pread / orca_pwrite, sync with orca_fsync,
 * close with orca_close (io.h). */
#ifndef ORCA_FS_H
#define ORCA_FS_H

#include <orca/common.h>
#include <orca/io.h>
#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* open(2): returns the fd (O_CLOEXEC always added) or -errno. May suspend. */
ORCA_API int orca_open(const char *path, int flags, mode_t mode);

/* stat(2) through statx: fills *st. Returns 0 or -errno (-EFAULT for NULL
 * arguments). May suspend. */
ORCA_API int orca_stat(const char *path, struct stat *st);

/* fstat(2) through statx on an open fd. */
ORCA_API int orca_fstat(int fd, struct stat *st);

#ifdef __cplusplus
}
#endif

#endif
