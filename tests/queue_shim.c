#include "queue_shim.h"

#include <stdlib.h>

#include "inject_queue.h"
#include "run_queue.h"

_Static_assert(sizeof(orca__qnode) == sizeof(void *), "shim_item must start with the link");

unsigned shim_rq_capacity(void)
{
	return ORCA_RUN_QUEUE_CAP;
}
shim_rq *shim_rq_new(void)
{
	orca__run_queue *q = aligned_alloc(64, sizeof(*q));
	orca__rq_init(q);
	return (shim_rq *)q;
}
shim_rq *shim_rq_new_at(uint32_t start)
{
	orca__run_queue *q = (orca__run_queue *)shim_rq_new();
	/* head packs steal << 32 | real (run_queue.h); both start at `start`. */
	atomic_store(&q->head, (uint64_t)start << 32 | start);
	atomic_store(&q->tail, start);
	return (shim_rq *)q;
}
void shim_rq_free(shim_rq *q)
{
	free(q);
}
bool shim_rq_push(shim_rq *q, shim_item *it, shim_inject *overflow)
{
	return orca__rq_push_back_owner((orca__run_queue *)q, (orca__qnode *)it, (orca__inject *)overflow);
}
shim_item *shim_rq_pop(shim_rq *q)
{
	return (shim_item *)orca__rq_pop_owner((orca__run_queue *)q);
}
shim_item *shim_rq_push_chain(shim_rq *q, shim_item *chain)
{
	return (shim_item *)orca__rq_push_chain_owner((orca__run_queue *)q, (orca__qnode *)chain);
}
shim_item *shim_rq_steal(shim_rq *src, shim_rq *dst)
{
	return (shim_item *)orca__rq_steal_into((orca__run_queue *)src, (orca__run_queue *)dst);
}
uint32_t shim_rq_len(shim_rq *q)
{
	return orca__rq_len((orca__run_queue *)q);
}
shim_inject *shim_inject_new(void)
{
	orca__inject *q = malloc(sizeof(*q));
	orca__inject_init(q);
	return (shim_inject *)q;
}
void shim_inject_free(shim_inject *q)
{
	orca__inject_destroy((orca__inject *)q);
	free(q);
}
bool shim_inject_push(shim_inject *q, shim_item *it)
{
	return orca__inject_push((orca__inject *)q, (orca__qnode *)it);
}
shim_item *shim_inject_pop(shim_inject *q)
{
	return (shim_item *)orca__inject_pop((orca__inject *)q);
}
shim_item *shim_inject_pop_n(shim_inject *q, size_t max, size_t *count)
{
	return (shim_item *)orca__inject_pop_n((orca__inject *)q, max, count);
}
bool shim_inject_is_empty(shim_inject *q)
{
	return orca__inject_is_empty((orca__inject *)q);
}
shim_item *shim_inject_close(shim_inject *q)
{
	return (shim_item *)orca__inject_close((orca__inject *)q);
}
