/* Fuzz target: the per-worker timer heap (runtime/timer.c), driven the way the
 * sleep future (runtime/sleep.c) and the workers drive it, on one thread, against a
 * model that keeps every timer's deadline and state in plain arrays.
 *
 * The input: one byte choosing the time unit of the deltas (so deadlines are equal
 * often, or spread out), then operations, an opcode byte and its arguments each, on
 * 160 timer entries and two heaps (two workers) sharing one clock:
 *   arm, a burst of arms       a sleep polled for the first time: deadline = now +
 *                              a signed delta, or "never" (INT64_MAX)
 *   check                      a sleep polled again (with the same or another waker);
 *                              a fired one completes, as sleep_poll does
 *   cancel                     a sleep dropped, armed, fired or neither
 *   advance and fire           the clock moves forward (or not) and a worker fires
 *                              one heap, or every heap (an idle worker)
 * After every operation: nothing fired early, everything due fired, each exactly
 * once and in deadline order; a cancelled timer never fires; each fire returns how
 * many it woke; `earliest` from arm and the heap's next deadline agree with the
 * model; every entry's state matches; every waker clone the heap took was woken or
 * dropped exactly once; and the heap is a heap (each entry knows its index, no
 * parent is later than its child). */
#include <string.h>

#include "counting_waker.h"
#include "fuzz_support.h"
#include "timer.h"

enum { HEAPS = 2, ENTRIES = 160 };
enum { M_IDLE, M_ARMED, M_FIRED };

static struct {
	orca__timer_heap heaps[HEAPS];
	orca__timer_entry e[ENTRIES];
	counting_waker wk[ENTRIES][2];
	/* The model. */
	int state[ENTRIES]; /* M_* */
	unsigned heap[ENTRIES];
	unsigned waker[ENTRIES]; /* the waker the heap holds while armed */
	uint32_t expect_wakes[ENTRIES][2];
	int64_t now, unit;
	bool woken_now[ENTRIES];
} s;

static void arm(unsigned i, unsigned h, int64_t deadline, unsigned k)
{
	if (s.state[i] != M_IDLE)
		return; /* a sleep arms once, from idle */
	bool earliest_model = true;
	for (unsigned j = 0; j < ENTRIES; j++)
		if (s.state[j] == M_ARMED && s.heap[j] == h && s.e[j].deadline <= deadline)
			earliest_model = false;
	s.e[i].deadline = deadline;
	orca_waker w = counting_waker_ref(&s.wk[i][k]);
	bool earliest = !earliest_model;
	int r = orca__timer_arm(&s.heaps[h], &s.e[i], &w, &earliest);
	FUZZ_CHECK(r == 0, "arm failed: %d", r);
	FUZZ_CHECK(earliest == earliest_model, "arm of entry %u at %lld: earliest %d, model %d", i,
		   (long long)deadline, earliest, earliest_model);
	s.state[i] = M_ARMED;
	s.heap[i] = h;
	s.waker[i] = k;
}

static int64_t deadline_of(uint8_t b)
{
	if (b == 0x80)
		return INT64_MAX; /* never */
	return s.now + (int8_t)b * s.unit;
}

/* A sleep polled again: completes if fired, else the heap keeps (a clone of) the
 * latest waker. */
static void check(unsigned i, unsigned k)
{
	if (!s.e[i].heap)
		return; /* sleep_poll checks only an entry that is in a heap */
	orca_waker w = counting_waker_ref(&s.wk[i][k]);
	bool fired = orca__timer_check(&s.e[i], &w);
	FUZZ_CHECK(fired == (s.state[i] == M_FIRED), "check of entry %u: fired %d, model state %d", i,
		   fired, s.state[i]);
	if (fired) {
		/* What sleep_poll does with a fired entry before returning READY. */
		s.e[i].heap = NULL;
		s.e[i].state = ORCA_TIMER_IDLE;
		s.state[i] = M_IDLE;
	} else {
		s.waker[i] = k;
	}
}

static void cancel(unsigned i)
{
	orca__timer_cancel(&s.e[i]);
	s.state[i] = M_IDLE;
}

static void fire(unsigned h)
{
	size_t due = 0;
	memset(s.woken_now, 0, sizeof(s.woken_now));
	for (unsigned j = 0; j < ENTRIES; j++)
		if (s.state[j] == M_ARMED && s.heap[j] == h && s.e[j].deadline <= s.now)
			due++;
	wake_log_reset();
	size_t n = orca__timer_fire(&s.heaps[h], s.now);
	FUZZ_CHECK(wake_log_len() <= WAKE_LOG_MAX, "fire woke more than there are wakers");
	int64_t last = INT64_MIN;
	for (size_t w = 0; w < wake_log_len(); w++) {
		uint32_t tag = wake_log_at(w);
		unsigned i = tag / 2, k = tag % 2;
		FUZZ_CHECK(i < ENTRIES, "a wake of something that is no timer's waker");
		FUZZ_CHECK(s.state[i] != M_FIRED || !s.woken_now[i], "entry %u fired twice", i);
		FUZZ_CHECK(s.state[i] == M_ARMED, "entry %u fired while %s", i,
			   s.state[i] == M_IDLE ? "cancelled or idle" : "already fired");
		FUZZ_CHECK(s.heap[i] == h, "entry %u of heap %u fired by heap %u", i, s.heap[i], h);
		FUZZ_CHECK(s.e[i].deadline <= s.now, "entry %u fired early: deadline %lld, now %lld", i,
			   (long long)s.e[i].deadline, (long long)s.now);
		FUZZ_CHECK(s.e[i].deadline >= last, "entry %u (deadline %lld) fired after one due at %lld",
			   i, (long long)s.e[i].deadline, (long long)last);
		FUZZ_CHECK(k == s.waker[i], "entry %u woke waker %u, it holds waker %u", i, k,
			   s.waker[i]);
		last = s.e[i].deadline;
		s.state[i] = M_FIRED;
		s.woken_now[i] = true;
		s.expect_wakes[i][k]++;
	}
	FUZZ_CHECK(wake_log_len() == due, "fire of heap %u at %lld: %zu woken, %zu due", h,
		   (long long)s.now, wake_log_len(), due);
	FUZZ_CHECK(n == due, "fire of heap %u at %lld: returned %zu, %zu fired", h, (long long)s.now, n,
		   due);
}

static void check_all(const char *after)
{
	size_t armed[HEAPS] = {0};
	int64_t first[HEAPS] = {INT64_MAX, INT64_MAX};
	for (unsigned i = 0; i < ENTRIES; i++) {
		orca__timer_entry *e = &s.e[i];
		if (s.state[i] == M_ARMED) {
			armed[s.heap[i]]++;
			if (e->deadline < first[s.heap[i]])
				first[s.heap[i]] = e->deadline;
		}
		static const int real_state[] = {ORCA_TIMER_IDLE, ORCA_TIMER_ARMED, ORCA_TIMER_FIRED};
		FUZZ_CHECK(e->state == real_state[s.state[i]], "after %s: entry %u state %d, model %d",
			   after, i, e->state, s.state[i]);
		FUZZ_CHECK((e->heap != NULL) == (s.state[i] != M_IDLE) &&
				   (!e->heap || e->heap == &s.heaps[s.heap[i]]),
			   "after %s: entry %u in the wrong heap", after, i);
		for (unsigned k = 0; k < 2; k++) {
			FUZZ_CHECK(s.wk[i][k].wakes == s.expect_wakes[i][k],
				   "after %s: entry %u waker %u woken %u times, model %u", after, i, k,
				   s.wk[i][k].wakes, s.expect_wakes[i][k]);
			int held = s.state[i] == M_ARMED && s.waker[i] == k;
			FUZZ_CHECK(s.wk[i][k].clones == held,
				   "after %s: entry %u waker %u has %d clones alive, %d expected (a waker "
				   "leaked or was dropped twice)",
				   after, i, k, s.wk[i][k].clones, held);
		}
	}
	for (unsigned h = 0; h < HEAPS; h++) {
		orca__timer_heap *heap = &s.heaps[h];
		FUZZ_CHECK(heap->len == armed[h] && atomic_load(&heap->armed) == armed[h],
			   "after %s: heap %u holds %zu (armed says %zu), model %zu", after, h, heap->len,
			   atomic_load(&heap->armed), armed[h]);
		int64_t next = orca__timer_next_deadline(heap);
		int64_t expect = armed[h] ? first[h] : -1;
		FUZZ_CHECK(next == expect, "after %s: heap %u next deadline %lld, model %lld", after, h,
			   (long long)next, (long long)expect);
		for (size_t j = 0; j < heap->len; j++) {
			FUZZ_CHECK(heap->items[j]->index == j, "after %s: heap %u slot %zu says index %zu",
				   after, h, j, heap->items[j]->index);
			FUZZ_CHECK(j == 0 || heap->items[(j - 1) / 2]->deadline <= heap->items[j]->deadline,
				   "after %s: heap %u slot %zu is due before its parent", after, h, j);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input in = fuzz_input_of(data, size);
	memset(&s, 0, sizeof(s));
	for (unsigned h = 0; h < HEAPS; h++)
		orca__timer_heap_init(&s.heaps[h]);
	for (unsigned i = 0; i < ENTRIES; i++)
		for (unsigned k = 0; k < 2; k++)
			counting_waker_init(&s.wk[i][k], 2 * i + k);
	uint8_t b = fuzz_u8(&in);
	static const int64_t units[] = {1, 3, 1000, 1000000};
	s.unit = units[b % 4];
	s.now = b & 4 ? (int64_t)1 << 40 : 0;
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned i = fuzz_u8(&in) % ENTRIES, h = op >> 7, k = (op >> 6) & 1;
		const char *name = "?";
		switch (op % 10) {
		case 0:
		case 1:
			name = "arm";
			arm(i, h, deadline_of(fuzz_u8(&in)), k);
			break;
		case 2:
			name = "burst of arms";
			for (unsigned n = fuzz_below(&in, 100) + 1; n; n--, i = (i + 1) % ENTRIES)
				arm(i, h, deadline_of(fuzz_u8(&in)), k);
			break;
		case 3:
			name = "check";
			check(i, k);
			break;
		case 4:
			name = "cancel";
			cancel(i);
			break;
		case 5:
		case 6:
			name = "advance and fire";
			/* Forward only, as the clock does; 0 fires what is due now. */
			s.now += (int64_t)fuzz_u8(&in) * s.unit;
			fire(h);
			break;
		case 7:
			name = "fire every heap";
			for (unsigned j = 0; j < HEAPS; j++)
				fire(j);
			break;
		case 8:
			name = "check every entry";
			for (unsigned j = 0; j < ENTRIES; j++)
				check(j, k);
			break;
		case 9:
			name = "jump";
			s.now += (int64_t)(fuzz_u8(&in) + 1) << 30;
			break;
		}
		check_all(name);
	}
	for (unsigned i = 0; i < ENTRIES; i++)
		cancel(i);
	check_all("cancelling everything");
	for (unsigned h = 0; h < HEAPS; h++)
		orca__timer_heap_destroy(&s.heaps[h]);
	return 0;
}
