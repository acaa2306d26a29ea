/* Orca: a multi-threaded, work-stealing async runtime for C on Linux.
 * This header includes the whole public API. */
#ifndef ORCA_H
#define ORCA_H

#include <orca/chan.h>
#include <orca/common.h>
#include <orca/future.h>
#include <orca/io.h>
#include <orca/metrics.h>
#include <orca/blocking.h>
#include <orca/fs.h>
#include <orca/net.h>
#include <orca/runtime.h>
#include <orca/sync.h>
#include <orca/task.h>
#include <orca/time.h>

#endif
