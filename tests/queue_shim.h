/* A C shim over the runtime's internal queues (C11 atomics, not includable from
 * C++) so GoogleTest can drive them. Items are plain nodes with an id. */
#ifndef ORCA_TEST_QUEUE_SHIM_H
#define ORCA_TEST_QUEUE_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shim_item {
	void *next; /* the orca__qnode link */
	uint32_t id;
} shim_item;

typedef struct shim_rq shim_rq;         /* a run queue */
typedef struct shim_inject shim_inject; /* an inject queue */

unsigned shim_rq_capacity(void);
shim_rq *shim_rq_new(void);
/* A run queue whose indices start at `start` instead of 0, so that a short run
 * reaches their wrap-around at 2^32. */
shim_rq *shim_rq_new_at(uint32_t start);
void shim_rq_free(shim_rq *q);
bool shim_rq_push(shim_rq *q, shim_item *it, shim_inject *overflow);
shim_item *shim_rq_pop(shim_rq *q);
/* Appends as much of the NULL-terminated chain (linked through next) as fits
 * without overflowing; returns the rest. */
shim_item *shim_rq_push_chain(shim_rq *q, shim_item *chain);
shim_item *shim_rq_steal(shim_rq *src, shim_rq *dst);
uint32_t shim_rq_len(shim_rq *q);

shim_inject *shim_inject_new(void);
void shim_inject_free(shim_inject *q);
bool shim_inject_push(shim_inject *q, shim_item *it);
shim_item *shim_inject_pop(shim_inject *q);
/* Removes up to max items: returns them as a NULL-terminated chain, *count says how
 * many. */
shim_item *shim_inject_pop_n(shim_inject *q, size_t max, size_t *count);
bool shim_inject_is_empty(shim_inject *q);
shim_item *shim_inject_close(shim_inject *q);

#ifdef __cplusplus
}
#endif

#endif
