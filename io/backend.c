/* Which I/O backend a runtime uses, chosen once before its workers start, and the
 * runtime's debug log.
 *
 * Selection (orca__backend_select):
 *  1. orca_config.backend, if not automatic, decides;
 *  2. else ORCA_BACKEND in the environment: "epoll" or "io_uring" decide, unset or
 *     empty means automatic, anything else is -EINVAL;
 *  3. io_uring (forced or automatic) is probed on the creating thread: one ring set
 *     up and torn down. Refused (ENOSYS, EPERM, EACCES, ENOMEM: a seccomp filter,
 *     kernel.io_uring_disabled, no kernel support, a memlock limit) means epoll
 *     when automatic and the runtime's creation fails when forced.
 * Each worker then creates its own driver of that backend; if an automatic
 * io_uring choice is refused on a worker anyway (memlock exhausted by the Nth
 * ring), the runtime starts again on epoll, so all workers agree.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orca/runtime.h>

#include "driver.h"
#include "scheduler.h"

_Static_assert(ORCA__BACKEND_IO_URING == ORCA_BACKEND_IO_URING, "backend numbers");
_Static_assert(ORCA__BACKEND_EPOLL == ORCA_BACKEND_EPOLL, "backend numbers");

static bool log_enabled(void)
{
	/* Read each time: only runtime creation and worker start log, and a test may
	 * change the variable between runtimes. */
	const char *v = getenv("ORCA_LOG");
	return v && strcmp(v, "debug") == 0;
}

void orca__log_debug(const char *fmt, ...)
{
	if (!log_enabled())
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n] = '\n';
	/* One fprintf per line: stdio's lock keeps lines from different threads whole. */
	fprintf(stderr, "orca: %.*s", n + 1, line);
}

bool orca__backend_refused(int err)
{
	return err == -ENOSYS || err == -EPERM || err == -EACCES || err == -ENOMEM;
}

const char *orca__backend_name(int backend)
{
	switch (backend) {
	case ORCA__BACKEND_IO_URING:
		return "io_uring";
	case ORCA__BACKEND_EPOLL:
		return "epoll";
	default:
		return NULL;
	}
}

int orca__backend_select(int requested, int *backend, bool *may_fall_back)
{
	*may_fall_back = false;
	const char *why;
	bool forced = true;
	if (requested == ORCA_BACKEND_IO_URING || requested == ORCA_BACKEND_EPOLL) {
		why = "orca_config.backend";
	} else if (requested != ORCA_BACKEND_AUTO) {
		orca__log_debug("runtime: orca_config.backend %d is not a backend", requested);
		return -EINVAL;
	} else {
		const char *env = getenv("ORCA_BACKEND");
		why = "ORCA_BACKEND";
		if (env && strcmp(env, "epoll") == 0) {
			requested = ORCA_BACKEND_EPOLL;
		} else if (env && strcmp(env, "io_uring") == 0) {
			requested = ORCA_BACKEND_IO_URING;
		} else if (env && *env) {
			orca__log_debug("runtime: ORCA_BACKEND=%s is neither io_uring nor epoll", env);
			return -EINVAL;
		} else {
			requested = ORCA_BACKEND_IO_URING;
			forced = false;
		}
	}
	if (requested == ORCA_BACKEND_EPOLL) {
		*backend = ORCA__BACKEND_EPOLL;
		orca__log_debug("runtime: backend epoll (%s=epoll)", why);
		return 0;
	}
	int err = orca__uring_probe();
	if (err == 0) {
		*backend = ORCA__BACKEND_IO_URING;
		*may_fall_back = !forced;
		if (forced)
			orca__log_debug("runtime: backend io_uring (%s=io_uring; ring setup works)",
					why);
		else
			orca__log_debug("runtime: backend io_uring (default; ring setup works)");
		return 0;
	}
	if (forced) {
		orca__log_debug("runtime: io_uring required (%s=io_uring) but io_uring_setup "
				"failed: %s",
				why, orca_strerror(err));
		return err;
	}
	if (!orca__backend_refused(err)) {
		orca__log_debug("runtime: io_uring_setup failed: %s (not a refusal; no fallback)",
				orca_strerror(err));
		return err;
	}
	*backend = ORCA__BACKEND_EPOLL;
	orca__log_debug("runtime: backend epoll (io_uring_setup refused: %s)", orca_strerror(err));
	return 0;
}

orca__driver *orca__driver_create(int backend, unsigned worker_index, int *err)
{
	switch (backend) {
	case ORCA__BACKEND_IO_URING:
		return orca__uring_driver_create(worker_index, err);
	case ORCA__BACKEND_EPOLL:
		return orca__epoll_driver_create(worker_index, err);
	default:
		*err = -EINVAL;
		return NULL;
	}
}

const char *orca_runtime_backend(const orca_runtime *rt)
{
	return rt ? orca__backend_name(rt->backend) : NULL;
}
