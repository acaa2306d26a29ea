/* See run_queue.h for the protocol; the numbers in comments refer to its steps. */
#include "run_queue.h"

#include "panic.h"

static inline uint64_t pack(uint32_t steal, uint32_t real)
{
	return (uint64_t)steal << 32 | real;
}
static inline uint32_t unpack_steal(uint64_t h)
{
	return (uint32_t)(h >> 32);
}
static inline uint32_t unpack_real(uint64_t h)
{
	return (uint32_t)h;
}

void orca__rq_init(orca__run_queue *q)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	for (uint32_t i = 0; i < ORCA_RUN_QUEUE_CAP; i++)
		atomic_init(&q->buf[i], NULL);
}

uint32_t orca__rq_len(orca__run_queue *q)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
	return t - unpack_real(h);
}

/* Step 2: claim half of a full queue (no steal in progress) and send it, with n, to
 * the inject queue. Returns false if head moved under us (a thief); retry then. */
static bool push_overflow(orca__run_queue *q, orca__qnode *n, uint32_t head, uint32_t tail,
			  orca__inject *overflow, bool *refused)
{
	const uint32_t half = ORCA_RUN_QUEUE_CAP / 2;
	if (tail - head != ORCA_RUN_QUEUE_CAP)
		orca__panic("run queue: overflow of a queue that is not full");
	uint64_t prev = pack(head, head);
	/* Release is not needed for the slots (we read them ourselves), but the CAS
	 * must fail if a thief claimed items meanwhile. */
	if (!atomic_compare_exchange_strong_explicit(&q->head, &prev, pack(head + half, head + half),
						     memory_order_release, memory_order_relaxed))
		return false;
	orca__qnode *first = atomic_load_explicit(&q->buf[head & ORCA_RUN_QUEUE_MASK],
						  memory_order_relaxed);
	orca__qnode *last = first;
	for (uint32_t i = 1; i < half; i++) {
		orca__qnode *x = atomic_load_explicit(&q->buf[(head + i) & ORCA_RUN_QUEUE_MASK],
						      memory_order_relaxed);
		last->next = x;
		last = x;
	}
	last->next = n;
	*refused = !orca__inject_push_batch(overflow, first, n, half + 1);
	return true;
}

bool orca__rq_push_back_owner(orca__run_queue *q, orca__qnode *n, orca__inject *overflow)
{
	for (;;) {
		uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t steal = unpack_steal(h), real = unpack_real(h);
		uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* owner */
		if (tail - steal < ORCA_RUN_QUEUE_CAP) {
			/* Step 1. */
			atomic_store_explicit(&q->buf[tail & ORCA_RUN_QUEUE_MASK], n, memory_order_relaxed);
			atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
			return true;
		}
		if (steal != real) {
			/* A thief is freeing room right now; don't wait for it. */
			return orca__inject_push(overflow, n);
		}
		bool refused = false;
		if (push_overflow(q, n, real, tail, overflow, &refused))
			return !refused;
	}
}

orca__qnode *orca__rq_push_chain_owner(orca__run_queue *q, orca__qnode *chain)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t steal = unpack_steal(h);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	while (chain && tail - steal < ORCA_RUN_QUEUE_CAP) {
		orca__qnode *next = chain->next;
		atomic_store_explicit(&q->buf[tail & ORCA_RUN_QUEUE_MASK], chain, memory_order_relaxed);
		tail++;
		chain = next;
	}
	atomic_store_explicit(&q->tail, tail, memory_order_release);
	return chain;
}

orca__qnode *orca__rq_pop_owner(orca__run_queue *q)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	for (;;) {
		uint32_t steal = unpack_steal(h), real = unpack_real(h);
		uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* owner */
		if (real == tail)
			return NULL;
		uint32_t next_real = real + 1;
		uint64_t next;
		if (steal == real) {
			next = pack(next_real, next_real);
		} else {
			if (steal == next_real)
				orca__panic("run queue: pop overtook a steal in progress");
			next = pack(steal, next_real);
		}
		/* Step 3. AcqRel: we take the slot (acquire against a thief that released
		 * it back), and the claim is published to thieves. */
		if (atomic_compare_exchange_weak_explicit(&q->head, &h, next, memory_order_acq_rel,
							  memory_order_acquire))
			return atomic_load_explicit(&q->buf[real & ORCA_RUN_QUEUE_MASK],
						    memory_order_relaxed);
	}
}

/* Step 4, first half: claim and copy up to half of src into dst's slots starting at
 * dst_tail. Returns how many were copied (dst's tail is not yet published). */
static uint32_t steal_into2(orca__run_queue *src, orca__run_queue *dst, uint32_t dst_tail)
{
	uint64_t prev = atomic_load_explicit(&src->head, memory_order_acquire);
	uint64_t next;
	uint32_t n;
	for (;;) {
		uint32_t steal = unpack_steal(prev), real = unpack_real(prev);
		if (steal != real)
			return 0; /* another thief is at work */
		/* Acquire: the slots below tail were written before tail was published. */
		uint32_t src_tail = atomic_load_explicit(&src->tail, memory_order_acquire);
		n = src_tail - real;
		n -= n / 2;
		if (n == 0)
			return 0;
		if (n > ORCA_RUN_QUEUE_CAP / 2) {
			/* Only possible with a stale head (the tail we read is newer): the CAS
			 * below would fail anyway; read head again. */
			prev = atomic_load_explicit(&src->head, memory_order_acquire);
			continue;
		}
		next = pack(steal, real + n);
		if (atomic_compare_exchange_weak_explicit(&src->head, &prev, next, memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	uint32_t first = unpack_steal(next);
	for (uint32_t i = 0; i < n; i++) {
		orca__qnode *x = atomic_load_explicit(&src->buf[(first + i) & ORCA_RUN_QUEUE_MASK],
						      memory_order_relaxed);
		atomic_store_explicit(&dst->buf[(dst_tail + i) & ORCA_RUN_QUEUE_MASK], x,
				      memory_order_relaxed);
	}
	/* Release the claimed slots back to the owner: head = (real + n, real + n). The
	 * owner may have popped meanwhile (real moved), so loop. */
	prev = next;
	for (;;) {
		uint32_t real = unpack_real(prev);
		uint64_t done = pack(real, real);
		/* AcqRel: our reads of the slots happen-before the owner reuses them. */
		if (atomic_compare_exchange_weak_explicit(&src->head, &prev, done, memory_order_acq_rel,
							  memory_order_acquire))
			return n;
		if (unpack_steal(prev) == unpack_real(prev))
			orca__panic("run queue: steal finished by someone else");
	}
}

orca__qnode *orca__rq_steal_into(orca__run_queue *src, orca__run_queue *dst)
{
	uint32_t dst_tail = atomic_load_explicit(&dst->tail, memory_order_relaxed); /* dst owner */
	uint64_t dh = atomic_load_explicit(&dst->head, memory_order_acquire);
	if (dst_tail - unpack_steal(dh) > ORCA_RUN_QUEUE_CAP / 2)
		return NULL; /* no room for half a queue: we have work anyway */
	uint32_t n = steal_into2(src, dst, dst_tail);
	if (n == 0)
		return NULL;
	n--;
	orca__qnode *ret = atomic_load_explicit(&dst->buf[(dst_tail + n) & ORCA_RUN_QUEUE_MASK],
						memory_order_relaxed);
	if (n)
		atomic_store_explicit(&dst->tail, dst_tail + n, memory_order_release);
	return ret;
}
