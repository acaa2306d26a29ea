/* Fuzz target: the per-worker run queue (runtime/run_queue.c) and the inject queue
 * (runtime/inject_queue.c), driven through tests/queue_shim.h on one thread, against
 * a model made of plain FIFOs. The ORCA_TESTING build shrinks the run queue to 16
 * slots, so overflow happens every few operations.
 *
 * The input: one byte choosing where the queues' 32-bit indices start (0, or just
 * below their wrap-around at 2^32), then operations, an opcode byte and its
 * arguments each, on three run queues sharing one inject queue (as workers do):
 *   push, a burst of pushes, push a chain     the owner adds new items; what does
 *                                             not fit goes to the inject queue
 *   pop                                       the owner takes the oldest
 *   steal                                     one queue's owner steals from another
 *   pull                                      a worker takes a batch from the inject
 *                                             queue (worker.c's pull_inject)
 *   inject push, pop, pop_n                   outside threads and idle workers
 * After every operation the lengths agree with the model, and every item that comes
 * out is the one the model expects, which makes each id come out exactly once and
 * in FIFO order; a steal moves exactly half (the larger half) of the victim. At
 * the end the queues are drained and every id made was seen exactly once. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "queue_shim.h"

enum { QUEUES = 3, MAX_ITEMS = 8192 };

/* A FIFO of ids with room for every item, for the model. */
typedef struct fifo {
	uint32_t ids[MAX_ITEMS];
	size_t head, len;
} fifo;

static uint32_t fifo_at(const fifo *f, size_t i)
{
	return f->ids[(f->head + i) % MAX_ITEMS];
}
static void fifo_push(fifo *f, uint32_t id)
{
	f->ids[(f->head + f->len++) % MAX_ITEMS] = id;
}
static uint32_t fifo_pop(fifo *f)
{
	uint32_t id = f->ids[f->head];
	f->head = (f->head + 1) % MAX_ITEMS;
	f->len--;
	return id;
}

enum { ID_UNUSED, ID_QUEUED, ID_TAKEN };

static struct {
	shim_rq *rq[QUEUES];
	shim_inject *inject;
	fifo model_rq[QUEUES];
	fifo model_inject;
	shim_item items[MAX_ITEMS];
	uint8_t where[MAX_ITEMS]; /* ID_* */
	uint32_t made;
	uint32_t cap;
} s;

static shim_item *new_item(void)
{
	shim_item *it = &s.items[s.made];
	it->id = s.made;
	it->next = NULL;
	s.where[s.made++] = ID_QUEUED;
	return it;
}

/* An item came out of the real queues where the model expected `expect`. */
static void took(shim_item *got, uint32_t expect, const char *how)
{
	FUZZ_CHECK(got, "%s: got nothing, model expects id %u", how, expect);
	FUZZ_CHECK(got >= s.items && got < s.items + s.made, "%s: an item that was never pushed", how);
	FUZZ_CHECK(s.where[got->id] != ID_TAKEN, "%s: id %u came out a second time", how, got->id);
	FUZZ_CHECK(got->id == expect, "%s: got id %u, FIFO order says %u", how, got->id, expect);
	s.where[got->id] = ID_TAKEN;
}

/* Owner push of one new item; a full queue moves its older half and the item to
 * the inject queue (run_queue.h, step 2). */
static void push(unsigned q)
{
	if (s.made == MAX_ITEMS)
		return;
	shim_item *it = new_item();
	FUZZ_CHECK(shim_rq_push(s.rq[q], it, s.inject), "push refused with the inject queue open");
	fifo *m = &s.model_rq[q];
	if (m->len < s.cap) {
		fifo_push(m, it->id);
		return;
	}
	for (uint32_t i = 0; i < s.cap / 2; i++)
		fifo_push(&s.model_inject, fifo_pop(m));
	fifo_push(&s.model_inject, it->id);
}

static void pop(unsigned q)
{
	shim_item *got = shim_rq_pop(s.rq[q]);
	fifo *m = &s.model_rq[q];
	if (!m->len) {
		FUZZ_CHECK(!got, "pop of an empty queue returned id %u", got->id);
		return;
	}
	took(got, fifo_pop(m), "pop");
}

static void steal(unsigned src, unsigned dst)
{
	fifo *ms = &s.model_rq[src], *md = &s.model_rq[dst];
	size_t src_before = ms->len, dst_before = md->len;
	shim_item *got = shim_rq_steal(s.rq[src], s.rq[dst]);
	size_t n = src_before - src_before / 2; /* the larger half */
	if (dst_before > s.cap / 2 || n == 0) {
		FUZZ_CHECK(!got, "steal into a queue %zu/%u full (victim has %zu) took id %u",
			   dst_before, s.cap, src_before, got->id);
		return;
	}
	FUZZ_CHECK(shim_rq_len(s.rq[src]) == src_before - n,
		   "steal count is half: victim had %zu, must keep %zu, keeps %u", src_before,
		   src_before - n, shim_rq_len(s.rq[src]));
	FUZZ_CHECK(shim_rq_len(s.rq[dst]) == dst_before + n - 1,
		   "steal count is half: thief had %zu, took %zu (one to run), holds %u", dst_before,
		   n, shim_rq_len(s.rq[dst]));
	/* The thief runs the last of the n it took and queues the others. */
	for (size_t i = 0; i + 1 < n; i++)
		fifo_push(md, fifo_pop(ms));
	took(got, fifo_pop(ms), "steal");
}

/* Checks that chain holds exactly the next `count` ids of the model's inject queue,
 * taking them off the model. */
static void took_chain_from_inject(shim_item *chain, size_t count, const char *how)
{
	size_t k = 0;
	for (shim_item *it = chain; it; it = (shim_item *)it->next, k++) {
		FUZZ_CHECK(k < count, "%s: chain longer than the count %zu", how, count);
		FUZZ_CHECK(s.model_inject.len, "%s: more than the inject queue held", how);
		uint32_t expect = fifo_pop(&s.model_inject);
		FUZZ_CHECK(it->id == expect, "%s: got id %u, FIFO order says %u", how, it->id, expect);
	}
	FUZZ_CHECK(k == count, "%s: chain of %zu, count says %zu", how, k, count);
}

static void inject_pop_n(size_t max)
{
	size_t count = 99;
	size_t expect = s.model_inject.len < max ? s.model_inject.len : max;
	shim_item *chain = shim_inject_pop_n(s.inject, max, &count);
	FUZZ_CHECK(count == expect, "inject pop_n(%zu) of %zu took %zu", max, s.model_inject.len,
		   count);
	for (shim_item *it = chain; it; it = (shim_item *)it->next) {
		FUZZ_CHECK(s.where[it->id] == ID_QUEUED, "inject pop_n: id %u came out twice", it->id);
		s.where[it->id] = ID_TAKEN;
	}
	took_chain_from_inject(chain, count, "inject pop_n");
}

/* Appends as much of a chain as fits into queue q; the rest must come back. */
static void push_chain(unsigned q, shim_item *chain, size_t k)
{
	fifo *m = &s.model_rq[q];
	size_t fit = s.cap - m->len < k ? s.cap - m->len : k;
	shim_item *rest = shim_rq_push_chain(s.rq[q], chain);
	shim_item *it = chain;
	for (size_t i = 0; i < fit; i++, it = (shim_item *)it->next)
		fifo_push(m, it->id);
	FUZZ_CHECK(rest == it, "push_chain of %zu into %zu free slots returned the wrong rest", k,
		   (size_t)s.cap - (m->len - fit));
	/* The owner gives the rest to the inject queue (never drops work). */
	while (rest) {
		shim_item *next = (shim_item *)rest->next;
		FUZZ_CHECK(shim_inject_push(s.inject, rest), "inject push refused while open");
		fifo_push(&s.model_inject, rest->id);
		rest = next;
	}
}

static void push_new_chain(unsigned q, size_t k)
{
	if (k > MAX_ITEMS - s.made)
		k = MAX_ITEMS - s.made;
	if (!k)
		return;
	shim_item *first = NULL, *last = NULL;
	for (size_t i = 0; i < k; i++) {
		shim_item *it = new_item();
		if (last)
			last->next = it;
		else
			first = it;
		last = it;
	}
	push_chain(q, first, k);
}

/* A worker out of local work: takes up to half its free room plus one from the
 * inject queue, runs the first and queues the rest (worker.c, pull_inject). */
static void pull(unsigned q)
{
	size_t want = (s.cap - s.model_rq[q].len) / 2 + 1, count = 0;
	size_t expect = s.model_inject.len < want ? s.model_inject.len : want;
	shim_item *chain = shim_inject_pop_n(s.inject, want, &count);
	FUZZ_CHECK(count == expect, "pull: inject pop_n(%zu) of %zu took %zu", want,
		   s.model_inject.len, count);
	if (!chain)
		return;
	shim_item *rest = (shim_item *)chain->next;
	took(chain, fifo_at(&s.model_inject, 0), "pull");
	fifo_pop(&s.model_inject);
	for (shim_item *it = rest; it; it = (shim_item *)it->next) {
		FUZZ_CHECK(it->id == fifo_at(&s.model_inject, 0), "pull: got id %u, FIFO says %u",
			   it->id, fifo_at(&s.model_inject, 0));
		fifo_pop(&s.model_inject);
	}
	if (rest)
		push_chain(q, rest, count - 1);
}

static void check_lengths(const char *after)
{
	for (unsigned q = 0; q < QUEUES; q++)
		FUZZ_CHECK(shim_rq_len(s.rq[q]) == s.model_rq[q].len,
			   "after %s: queue %u holds %u, model %zu", after, q, shim_rq_len(s.rq[q]),
			   s.model_rq[q].len);
	FUZZ_CHECK(shim_inject_is_empty(s.inject) == (s.model_inject.len == 0),
		   "after %s: inject queue empty is %d, model holds %zu", after,
		   shim_inject_is_empty(s.inject), s.model_inject.len);
}

/* Drains everything; every id made came out exactly once. */
static void drain_and_check(void)
{
	for (unsigned q = 0; q < QUEUES; q++)
		while (s.model_rq[q].len)
			pop(q);
	for (unsigned q = 0; q < QUEUES; q++)
		FUZZ_CHECK(!shim_rq_pop(s.rq[q]), "queue %u not empty after the model's items", q);
	shim_item *rest = shim_inject_close(s.inject);
	size_t n = s.model_inject.len;
	for (shim_item *it = rest; it; it = (shim_item *)it->next)
		s.where[it->id] = ID_TAKEN;
	took_chain_from_inject(rest, n, "inject close");
	shim_item late = {NULL, UINT32_MAX};
	FUZZ_CHECK(!shim_inject_push(s.inject, &late), "a closed inject queue took an item");
	FUZZ_CHECK(shim_inject_is_empty(s.inject), "a closed inject queue is not empty");
	for (uint32_t id = 0; id < s.made; id++)
		FUZZ_CHECK(s.where[id] == ID_TAKEN, "id %u was pushed and never came out", id);
}

static void start(fuzz_input *in)
{
	s.cap = shim_rq_capacity();
	FUZZ_CHECK(s.cap >= 2 && s.cap <= 64, "the testing build's queue capacity (%u)", s.cap);
	uint8_t b = fuzz_u8(in);
	for (unsigned q = 0; q < QUEUES; q++) {
		/* High bit: indices start within 64 operations of the 2^32 wrap-around. */
		uint32_t at = b & 0x80 ? UINT32_MAX - (b & 0x3f) - 7 * q : b;
		s.rq[q] = shim_rq_new_at(at);
		memset(&s.model_rq[q], 0, sizeof(s.model_rq[q]));
	}
	s.inject = shim_inject_new();
	s.model_inject.head = s.model_inject.len = 0;
	s.made = 0;
}

static void finish(void)
{
	for (unsigned q = 0; q < QUEUES; q++)
		shim_rq_free(s.rq[q]);
	shim_inject_free(s.inject);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input in = fuzz_input_of(data, size);
	start(&in);
	while (!fuzz_done(&in)) {
		unsigned op = fuzz_below(&in, 11), q = fuzz_below(&in, QUEUES);
		const char *name = "?";
		switch (op) {
		case 0:
		case 1:
			name = "push";
			push(q);
			break;
		case 2:
			name = "push burst";
			for (unsigned k = fuzz_below(&in, 40) + 1; k; k--)
				push(q);
			break;
		case 3:
			name = "push chain";
			push_new_chain(q, fuzz_below(&in, 40) + 1);
			break;
		case 4:
		case 5:
			name = "pop";
			pop(q);
			break;
		case 6: {
			name = "steal";
			unsigned victim = (q + 1 + fuzz_below(&in, QUEUES - 1)) % QUEUES;
			steal(victim, q);
			break;
		}
		case 7:
			name = "pull";
			pull(q);
			break;
		case 8:
			name = "inject push";
			if (s.made < MAX_ITEMS) {
				shim_item *it = new_item();
				FUZZ_CHECK(shim_inject_push(s.inject, it), "inject push refused while open");
				fifo_push(&s.model_inject, it->id);
			}
			break;
		case 9:
			name = "inject pop_n";
			inject_pop_n(fuzz_below(&in, 20)); /* 0 included: takes nothing */
			break;
		case 10: {
			name = "inject pop";
			shim_item *got = shim_inject_pop(s.inject);
			if (!s.model_inject.len)
				FUZZ_CHECK(!got, "pop of an empty inject queue returned id %u", got->id);
			else
				took(got, fifo_pop(&s.model_inject), "inject pop");
			break;
		}
		}
		check_lengths(name);
	}
	drain_and_check();
	finish();
	return 0;
}
