/* Select over channel operations (Go's select): one future that owns a send or
 * receive future per case.
 *
 * Each poll visits the cases from a random starting point and stops at the first
 * that completes; the others are then dropped, which takes their waiters out of
 * their channels and passes on any slot or wake-up they had just been handed
 * (chan_internal.h), so exactly one operation happens. The random start is what
 * makes the choice fair when several cases are ready. */
#include <errno.h>

#include <orca/time.h>

#include "chan_internal.h"
#include "wait.h"

typedef struct ORCA__MAY_ALIAS select_impl {
	orca_future base;
	orca_chan_case *cases;
	size_t n;
	uint64_t rng;
	int32_t error; /* bad arguments: the result of the first poll */
	uint32_t done;
} select_impl;

_Static_assert(sizeof(orca_chan_selector) >= sizeof(select_impl),
	       "orca_chan_selector too small");

static __thread uint64_t tls_seed;

/* A seed for the future's generator. Not inlined, so the thread-local is read on
 * the thread that calls (the select's task may move between workers later). */
__attribute__((noinline)) static uint64_t next_seed(void)
{
	__asm__ volatile("" ::: "memory");
	uint64_t s = tls_seed;
	if (s == 0)
		s = (uint64_t)(uintptr_t)&tls_seed ^ (uint64_t)orca_now() ^ 0x9e3779b97f4a7c15u;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	tls_seed = s;
	return s;
}

static uint64_t next_random(select_impl *s)
{
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return x;
}

static orca_future *case_future(orca_chan_case *c)
{
	return &c->priv_future.base;
}

/* Drops every case's future but `keep` (dropping one never polled is a no-op). */
static void drop_cases(select_impl *s, size_t keep)
{
	for (size_t i = 0; i < s->n; i++) {
		if (i != keep && s->cases[i].ch)
			case_future(&s->cases[i])->vtable->drop(case_future(&s->cases[i]));
	}
}

static orca_poll select_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	select_impl *s = (select_impl *)f;
	if (s->error) {
		*out = s->error;
		return ORCA_READY;
	}
	size_t start = (size_t)(next_random(s) % s->n);
	for (size_t k = 0; k < s->n; k++) {
		size_t i = start + k < s->n ? start + k : start + k - s->n;
		orca_chan_case *c = &s->cases[i];
		if (!c->ch)
			continue;
		intptr_t r = 0;
		orca_future *cf = case_future(c);
		if (cf->vtable->poll(cf, cx, &r) == ORCA_READY) {
			c->result = (int)r;
			s->done = 1;
			drop_cases(s, i);
			*out = (intptr_t)i;
			return ORCA_READY;
		}
	}
	return ORCA_PENDING;
}

static void select_drop(orca_future *f)
{
	select_impl *s = (select_impl *)f;
	if (!s->error && !s->done)
		drop_cases(s, SIZE_MAX);
}

static const orca_future_vtable select_vtable = {.poll = select_poll, .drop = select_drop};

orca_future *orca_chan_select_future(orca_chan_selector *f, orca_chan_case *cases, size_t n)
{
	if (!f)
		return NULL;
	select_impl *s = (select_impl *)(void *)f;
	s->base.vtable = &select_vtable;
	s->cases = cases;
	s->n = n;
	s->rng = next_seed() | 1;
	s->error = 0;
	s->done = 0;
	if (!cases || n == 0) {
		s->error = -EINVAL;
		return &s->base;
	}
	for (size_t i = 0; i < n; i++) {
		orca_chan_case *c = &cases[i];
		bool send = c->op == ORCA_CHAN_SEND;
		if ((!send && c->op != ORCA_CHAN_RECV) ||
		    (send && c->ch && !c->msg && c->ch->msg_size)) {
			s->error = -EINVAL;
			return &s->base;
		}
	}
	for (size_t i = 0; i < n; i++) {
		orca_chan_case *c = &cases[i];
		c->result = 0;
		if (c->op == ORCA_CHAN_SEND)
			orca_chan_send_future(&c->priv_future, c->ch, c->msg);
		else
			orca_chan_recv_future(&c->priv_future, c->ch, c->msg);
	}
	return &s->base;
}

int orca_chan_select(orca_chan_case *cases, size_t n, int64_t timeout_ns)
{
	orca_chan_selector f;
	return (int)orca__sync_await(orca_chan_select_future(&f, cases, n), timeout_ns);
}

int orca_chan_select_blocking(orca_chan_case *cases, size_t n, int64_t timeout_ns)
{
	orca_chan_selector f;
	return (int)orca__sync_wait_blocking(orca_chan_select_future(&f, cases, n), timeout_ns);
}
