/* What every Orca header shares: the export macro, time units and error text. */
#ifndef ORCA_COMMON_H
#define ORCA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden symbols; only what is marked ORCA_API is
 * exported. */
#if defined(__GNUC__)
#define ORCA_API __attribute__((visibility("default")))
#else
#define ORCA_API
#endif

/* Durations and instants are int64_t nanoseconds; instants are on the
 * CLOCK_MONOTONIC scale that orca_now() reads. */
#define ORCA_NSEC(n) ((int64_t)(n))
#define ORCA_USEC(n) ((int64_t)(n) * 1000)
#define ORCA_MSEC(n) ((int64_t)(n) * 1000000)
#define ORCA_SEC(n) ((int64_t)(n) * 1000000000)

/* Returns a static, human-readable message for an Orca result code (a negative
 * errno value, or 0). Never fails; any thread. */
ORCA_API const char *orca_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
