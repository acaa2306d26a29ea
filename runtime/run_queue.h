/* The per-worker local run queue: a bounded, lock-free ring that its owner worker
 * pushes to and pops from, and that other workers steal half of. A port of Tokio's
 * multi_thread/queue.rs to C11 atomics.
 *
 * head packs two 32-bit indices: `steal` (where the thief currently copying started)
 * and `real` (the first item not yet claimed). steal != real means a thief is
 * copying [steal, real) out; the owner must not overwrite those slots, and a second
 * thief backs off. tail is written only by the owner. Indices wrap at 2^32.
 *
 * Protocol:
 *  1. push (owner): if tail - steal < CAP, write the slot, then store tail+1 with
 *     release (publishes the slot to thieves).
 *  2. push when full: if no steal is in progress, claim CAP/2 items by CAS on head
 *     and move them plus the new item to the inject queue; otherwise put the new
 *     item in the inject queue.
 *  3. pop (owner): CAS head.real forward by one (keeps steal if a steal is running).
 *  4. steal (thief): CAS head from (r, r) to (r, r + n) with n = half of what is
 *     there, copy the n slots into its own queue, then CAS head to (r + n, r + n)
 *     to release the slots to the owner, and publish its own tail.
 * Slots are atomics read and written relaxed: the ordering comes from head and tail.
 *
 * Model: tests/model/run_queue_model.cc checks this protocol under relacy.
 */
#ifndef ORCA_RUNTIME_RUN_QUEUE_H
#define ORCA_RUNTIME_RUN_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "inject_queue.h"
#include "queue_node.h"

/* Test builds shrink the queue so overflow and wrap-around happen constantly. */
#ifdef ORCA_TESTING
#define ORCA_RUN_QUEUE_CAP 16u
#else
#define ORCA_RUN_QUEUE_CAP 256u
#endif
#define ORCA_RUN_QUEUE_MASK (ORCA_RUN_QUEUE_CAP - 1)

typedef struct orca__run_queue {
	_Alignas(64) _Atomic uint64_t head; /* steal << 32 | real; owner and thieves */
	_Alignas(64) _Atomic uint32_t tail; /* owner writes, thieves read */
	_Alignas(64) _Atomic(orca__qnode *) buf[ORCA_RUN_QUEUE_CAP];
} orca__run_queue;

void orca__rq_init(orca__run_queue *q);

/* Owner only. Appends n; when full, moves half the queue and n to `overflow`.
 * Returns false only if the overflow queue refused (closed). */
bool orca__rq_push_back_owner(orca__run_queue *q, orca__qnode *n, orca__inject *overflow);

/* Owner only. Appends as many of the chain as fit without overflowing; returns the
 * rest of the chain (NULL if all fit). */
orca__qnode *orca__rq_push_chain_owner(orca__run_queue *q, orca__qnode *chain);

/* Owner only. Removes the oldest item, or NULL. */
orca__qnode *orca__rq_pop_owner(orca__run_queue *q);

/* Any worker but the owner of src, into its own queue dst: moves half of src's
 * items into dst and returns one of them (NULL if nothing was stolen). */
orca__qnode *orca__rq_steal_into(orca__run_queue *src, orca__run_queue *dst);

/* Items in the queue (a snapshot when read by a non-owner). */
uint32_t orca__rq_len(orca__run_queue *q);

static inline bool orca__rq_is_empty(orca__run_queue *q)
{
	return orca__rq_len(q) == 0;
}

#endif
