/* Files through io_uring (include/orca/fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <orca/fs.h>

#include "op.h"

int orca_open(const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EFAULT;
	orca_op op;
	orca_op_openat(&op, AT_FDCWD, path, flags, mode);
	return (int)orca_await(&op.base);
}

static void statx_to_stat(const struct statx *sx, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	st->st_ino = sx->stx_ino;
	st->st_mode = sx->stx_mode;
	st->st_nlink = sx->stx_nlink;
	st->st_uid = sx->stx_uid;
	st->st_gid = sx->stx_gid;
	st->st_rdev = makedev(sx->stx_rdev_major, sx->stx_rdev_minor);
	st->st_size = (off_t)sx->stx_size;
	st->st_blksize = sx->stx_blksize;
	st->st_blocks = (blkcnt_t)sx->stx_blocks;
	st->st_atim.tv_sec = sx->stx_atime.tv_sec;
	st->st_atim.tv_nsec = sx->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = sx->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx->stx_ctime.tv_nsec;
}

static int do_statx(int dirfd, const char *path, int flags, struct stat *st)
{
	struct statx sx;
	orca_op o;
	orca__op *op = (orca__op *)(void *)&o;
	/* statx has no orca_op_* builder of its own in the public API (orca_stat and
	 * orca_fstat cover it), so fill the op here. */
	orca_op_openat(&o, dirfd, path, 0, 0);
	op->kind = ORCA_OP_STATX;
	op->flags = (uint32_t)flags;
	op->len = STATX_BASIC_STATS;
	op->off = (uint64_t)(uintptr_t)&sx;
	intptr_t r = orca_await(&o.base);
	if (r == 0)
		statx_to_stat(&sx, st);
	return (int)r;
}

int orca_stat(const char *path, struct stat *st)
{
	if (!path || !st)
		return -EFAULT;
	return do_statx(AT_FDCWD, path, 0, st);
}

int orca_fstat(int fd, struct stat *st)
{
	if (!st)
		return -EFAULT;
	if (fd < 0)
		return -EBADF;
	return do_statx(fd, "", AT_EMPTY_PATH, st);
}
