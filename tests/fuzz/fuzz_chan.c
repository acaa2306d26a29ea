/* Fuzz target: the MPMC channel (include/orca/chan.h, sync/chan.c, sync/select.c)
 * on one thread, without a runtime, against a model.
 *
 * Everything non-blocking the API offers is called directly: try_send, try_recv,
 * close, len, is_closed, retain/release, and select with nothing waiting (one poll
 * of orca_chan_select_future, then drop: Go's select with a default case). The
 * waiting side is driven by hand: send and receive futures are polled with
 * counting wakers (counting_waker.h), polled again whenever the input says (woken
 * or not, with the same or another waker) and dropped while pending, as abort,
 * timeout and a lost select do.
 *
 * The model is the channel as chan_internal.h specifies it: a FIFO of message ids
 * with a capacity (none when unbounded, 1 for oneshot) and a closed flag, slots
 * reserved for woken senders, and FIFO queues of waiting senders and receivers.
 * After every operation the real channel must agree with it: every result and
 * error code, every message's bytes (so FIFO, nothing lost, nothing delivered
 * twice), len and is_closed, which waker was woken and how often, and that every
 * waker clone the channel took was woken or dropped exactly once. The model also
 * checks the protocol's promises: no message is left buffered while receivers wait
 * and none of them was woken for it; no slot is free while senders wait; nobody
 * waits on a closed channel.
 *
 * The input: operations, an opcode byte and its arguments each, on two channels
 * (re-created with another kind, size and capacity when the input says). */
#include <errno.h>
#include <string.h>

#include <orca/chan.h>

#include "counting_waker.h"
#include "fuzz_support.h"

enum { CHANS = 2, SLOTS = 6, MAX_MSG = 40, MODEL_CAP = 1 << 14, MAX_CASES = 3 };
enum { BOUNDED, UNBOUNDED, ONESHOT };
/* A waiter's state as the model sees it (sync/waitq.h). */
enum { W_IDLE, W_WAITING, W_GRANTED, W_CLOSED };

static const size_t msg_sizes[] = {0, 1, 3, 8, 16, MAX_MSG};

typedef struct model_chan {
	orca_chan *ch;
	int kind;
	size_t msg_size;
	size_t cap; /* SIZE_MAX when unbounded */
	bool closed;
	size_t reserved; /* slots granted to woken senders */
	uint64_t ids[MODEL_CAP];
	size_t head, len;
	int senders[SLOTS], receivers[SLOTS]; /* waiting slots, FIFO */
	size_t nsenders, nreceivers;
} model_chan;

/* A send or receive future in flight, and what the model thinks of it. */
typedef struct slot {
	bool live; /* made, not finished or dropped */
	bool send;
	bool invalid; /* a send of NULL on a channel with a payload: fails with -EINVAL */
	bool discard; /* a receive into NULL */
	unsigned c;
	uint64_t id; /* the message a send carries */
	int state;   /* W_* */
	unsigned waker; /* the waker the channel holds while WAITING */
	uint32_t expect_wakes[2];
	orca_chan_future f;
	unsigned char msg[MAX_MSG], buf[MAX_MSG];
	counting_waker wk[2];
} slot;

static struct {
	model_chan m[CHANS];
	slot slots[SLOTS];
	uint64_t next_id;
	counting_waker select_waker;
} s;

/* ---- payloads: each message's bytes say which id it is ---------------------------------- */

static void fill(unsigned char *p, size_t n, uint64_t id)
{
	for (size_t j = 0; j < n; j++)
		p[j] = (unsigned char)(id >> (8 * (j % 8)) ^ (j / 8) * 0x5b);
}

static void check_payload(const unsigned char *p, size_t n, uint64_t id, const char *how)
{
	unsigned char want[MAX_MSG];
	fill(want, n, id);
	FUZZ_CHECK(memcmp(p, want, n) == 0, "%s: the bytes received are not message %llu's", how,
		   (unsigned long long)id);
}

/* ---- the model (chan_internal.h, steps 1-3) ------------------------------------------------ */

static int queue_pop(int *q, size_t *n)
{
	int first = q[0];
	memmove(q, q + 1, (--*n) * sizeof(*q));
	return first;
}

static void queue_remove(int *q, size_t *n, int slot_index)
{
	for (size_t i = 0; i < *n; i++) {
		if (q[i] == slot_index) {
			memmove(q + i, q + i + 1, (--*n - i) * sizeof(*q));
			return;
		}
	}
	FUZZ_CHECK(0, "model: slot %d is not in the queue it waits in", slot_index);
}

static void queue_push(int *q, size_t *n, int slot_index, bool front)
{
	if (front) {
		memmove(q + 1, q, *n * sizeof(*q));
		q[0] = slot_index;
	} else {
		q[*n] = slot_index;
	}
	++*n;
}

static void serve(int slot_index, int state)
{
	slot *sl = &s.slots[slot_index];
	sl->state = state;
	sl->expect_wakes[sl->waker]++;
}

static void grant_senders(model_chan *m)
{
	while (m->nsenders && m->len + m->reserved < m->cap) {
		m->reserved++;
		serve(queue_pop(m->senders, &m->nsenders), W_GRANTED);
	}
}

static void wake_receiver(model_chan *m)
{
	if (m->nreceivers && m->len > 0)
		serve(queue_pop(m->receivers, &m->nreceivers), W_GRANTED);
}

static void close_model(model_chan *m)
{
	m->closed = true;
	while (m->nsenders)
		serve(queue_pop(m->senders, &m->nsenders), W_CLOSED);
	while (m->nreceivers)
		serve(queue_pop(m->receivers, &m->nreceivers), W_CLOSED);
}

static bool has_room(const model_chan *m)
{
	return m->nsenders == 0 && m->len + m->reserved < m->cap;
}

/* The model's buffer is finite: operations that send skip when it is nearly full
 * (the slack covers the sends already in flight). */
static bool model_full(unsigned c)
{
	return s.m[c].len >= MODEL_CAP - 2 * SLOTS - MAX_CASES;
}

/* A message goes in: the first waiting receiver is woken; a oneshot closes. */
static void push_model(model_chan *m, uint64_t id)
{
	FUZZ_CHECK(m->len < MODEL_CAP, "model: buffer overflow (model_full let a send through)");
	m->ids[(m->head + m->len++) % MODEL_CAP] = id;
	wake_receiver(m);
	if (m->kind == ONESHOT)
		close_model(m);
}

/* The oldest message comes out: its slot goes to the first waiting sender. */
static uint64_t pop_model(model_chan *m)
{
	uint64_t id = m->ids[m->head];
	m->head = (m->head + 1) % MODEL_CAP;
	m->len--;
	grant_senders(m);
	return id;
}

/* ---- checks after every operation ------------------------------------------------------- */

static void check_all(const char *after)
{
	for (unsigned c = 0; c < CHANS; c++) {
		model_chan *m = &s.m[c];
		if (!m->ch)
			continue; /* released at the end */
		FUZZ_CHECK(orca_chan_len(m->ch) == (int64_t)m->len, "after %s: channel %u len %lld, model %zu",
			   after, c, (long long)orca_chan_len(m->ch), m->len);
		FUZZ_CHECK(orca_chan_is_closed(m->ch) == m->closed, "after %s: channel %u closed is %d, model %d",
			   after, c, orca_chan_is_closed(m->ch), m->closed);
		/* The protocol's promises, checked on the model (which the real channel
		 * matches wake for wake). */
		size_t granted_senders = 0, granted_receivers = 0;
		for (unsigned i = 0; i < SLOTS; i++) {
			slot *sl = &s.slots[i];
			if (sl->live && sl->c == c && sl->state == W_GRANTED)
				*(sl->send ? &granted_senders : &granted_receivers) += 1;
		}
		FUZZ_CHECK(m->reserved == granted_senders, "model: %zu slots reserved, %zu senders granted",
			   m->reserved, granted_senders);
		FUZZ_CHECK(!m->closed || (!m->nsenders && !m->nreceivers),
			   "after %s: channel %u closed with %zu senders and %zu receivers waiting", after,
			   c, m->nsenders, m->nreceivers);
		FUZZ_CHECK(!m->nreceivers || granted_receivers >= m->len,
			   "after %s: channel %u: a message is stranded (%zu buffered, %zu receivers "
			   "waiting, %zu woken)",
			   after, c, m->len, m->nreceivers, granted_receivers);
		FUZZ_CHECK(!m->nsenders || m->len + m->reserved >= m->cap,
			   "after %s: channel %u: a slot is free (%zu + %zu reserved of %zu) while %zu "
			   "senders wait",
			   after, c, m->len, m->reserved, m->cap, m->nsenders);
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		slot *sl = &s.slots[i];
		for (unsigned k = 0; k < 2; k++) {
			FUZZ_CHECK(sl->wk[k].wakes == sl->expect_wakes[k],
				   "after %s: slot %u (%s on channel %u) waker %u woken %u times, model %u",
				   after, i, sl->send ? "send" : "recv", sl->c, k, sl->wk[k].wakes,
				   sl->expect_wakes[k]);
			int held = sl->live && sl->state == W_WAITING && sl->waker == k;
			FUZZ_CHECK(sl->wk[k].clones == held,
				   "after %s: slot %u (%s on channel %u) waker %u: %d clones alive, %d "
				   "expected (a waker leaked or was dropped twice)",
				   after, i, sl->send ? "send" : "recv", sl->c, k, sl->wk[k].clones, held);
		}
	}
	FUZZ_CHECK(s.select_waker.clones == 0, "after %s: the select's waker kept %d clones", after,
		   s.select_waker.clones);
}

/* ---- direct calls ------------------------------------------------------------------------- */

static void try_send(unsigned c, bool null_msg)
{
	model_chan *m = &s.m[c];
	unsigned char msg[MAX_MSG];
	uint64_t id = s.next_id++;
	fill(msg, m->msg_size, id);
	int r = orca_chan_try_send(m->ch, null_msg ? NULL : msg);
	int expect = null_msg && m->msg_size ? -EINVAL
		     : m->closed	     ? -EPIPE
		     : has_room(m)	     ? 0
					     : -EAGAIN;
	FUZZ_CHECK(r == expect, "try_send on channel %u (kind %d, cap %zu, len %zu): %d, model %d", c,
		   m->kind, m->cap, m->len, r, expect);
	if (r == 0)
		push_model(m, id);
}

static void try_recv(unsigned c, bool discard)
{
	model_chan *m = &s.m[c];
	unsigned char buf[MAX_MSG];
	int r = orca_chan_try_recv(m->ch, discard ? NULL : buf);
	int expect = m->len ? 0 : m->closed ? -EPIPE : -EAGAIN;
	FUZZ_CHECK(r == expect, "try_recv on channel %u (len %zu, closed %d): %d, model %d", c, m->len,
		   m->closed, r, expect);
	if (r == 0) {
		uint64_t id = pop_model(m);
		if (!discard)
			check_payload(buf, m->msg_size, id, "try_recv");
	}
}

/* The *_blocking calls with a zero timeout, from this plain thread: one poll, and
 * a future that would wait is dropped (-ETIMEDOUT) without leaving a trace. */
static void send_blocking_now(unsigned c)
{
	model_chan *m = &s.m[c];
	unsigned char msg[MAX_MSG];
	uint64_t id = s.next_id++;
	fill(msg, m->msg_size, id);
	int r = orca_chan_send_blocking(m->ch, msg, 0);
	int expect = m->closed ? -EPIPE : has_room(m) ? 0 : -ETIMEDOUT;
	FUZZ_CHECK(r == expect, "send_blocking(0) on channel %u (kind %d, cap %zu, len %zu): %d, model %d",
		   c, m->kind, m->cap, m->len, r, expect);
	if (r == 0)
		push_model(m, id);
}

static void recv_blocking_now(unsigned c)
{
	model_chan *m = &s.m[c];
	unsigned char buf[MAX_MSG];
	int r = orca_chan_recv_blocking(m->ch, buf, 0);
	int expect = m->len ? 0 : m->closed ? -EPIPE : -ETIMEDOUT;
	FUZZ_CHECK(r == expect, "recv_blocking(0) on channel %u (len %zu, closed %d): %d, model %d", c,
		   m->len, m->closed, r, expect);
	if (r == 0)
		check_payload(buf, m->msg_size, pop_model(m), "recv_blocking");
}

static void close_chan(unsigned c)
{
	FUZZ_CHECK(orca_chan_close(s.m[c].ch) == 0, "close failed");
	close_model(&s.m[c]);
}

/* ---- futures polled by hand ------------------------------------------------------------- */

static void start_slot(unsigned i, bool send, unsigned c, bool null_buf)
{
	slot *sl = &s.slots[i];
	model_chan *m = &s.m[c];
	memset(sl, 0, sizeof(*sl));
	counting_waker_init(&sl->wk[0], 2 * i);
	counting_waker_init(&sl->wk[1], 2 * i + 1);
	sl->live = true;
	sl->send = send;
	sl->c = c;
	sl->state = W_IDLE;
	if (send) {
		sl->id = s.next_id++;
		fill(sl->msg, m->msg_size, sl->id);
		sl->invalid = null_buf && m->msg_size;
		orca_chan_send_future(&sl->f, m->ch, null_buf ? NULL : sl->msg);
	} else {
		sl->discard = null_buf;
		orca_chan_recv_future(&sl->f, m->ch, null_buf ? NULL : sl->buf);
	}
}

/* The model's poll: returns true when ready, with the expected result in *out. */
static bool model_poll_send(unsigned i, unsigned k, int *out)
{
	slot *sl = &s.slots[i];
	model_chan *m = &s.m[sl->c];
	if (sl->invalid) {
		*out = -EINVAL;
		return true;
	}
	if (m->closed) {
		if (sl->state == W_WAITING)
			queue_remove(m->senders, &m->nsenders, (int)i);
		else if (sl->state == W_GRANTED)
			m->reserved--;
		*out = -EPIPE;
		return true;
	}
	if (sl->state == W_WAITING) {
		sl->waker = k;
		return false;
	}
	if (sl->state == W_GRANTED) {
		m->reserved--; /* fills the slot granted to it */
	} else if (!has_room(m)) {
		queue_push(m->senders, &m->nsenders, (int)i, false);
		sl->state = W_WAITING;
		sl->waker = k;
		return false;
	}
	sl->state = W_IDLE;
	push_model(m, sl->id);
	*out = 0;
	return true;
}

static bool model_poll_recv(unsigned i, unsigned k, int *out, uint64_t *id)
{
	slot *sl = &s.slots[i];
	model_chan *m = &s.m[sl->c];
	if (m->len || m->closed) {
		if (sl->state == W_WAITING)
			queue_remove(m->receivers, &m->nreceivers, (int)i);
		sl->state = W_IDLE;
		*out = m->len ? 0 : -EPIPE;
		if (m->len)
			*id = pop_model(m);
		return true;
	}
	if (sl->state != W_WAITING) /* woken for a message another took: keeps its place */
		queue_push(m->receivers, &m->nreceivers, (int)i, sl->state == W_GRANTED);
	sl->state = W_WAITING;
	sl->waker = k;
	return false;
}

static void poll_slot(unsigned i, unsigned k)
{
	slot *sl = &s.slots[i];
	orca_waker w = counting_waker_ref(&sl->wk[k]);
	orca_context cx = {&w};
	intptr_t r = 12345;
	orca_poll p = sl->f.base.vtable->poll(&sl->f.base, &cx, &r);
	int expect = 0;
	uint64_t id = 0;
	bool ready = sl->send ? model_poll_send(i, k, &expect) : model_poll_recv(i, k, &expect, &id);
	FUZZ_CHECK((p == ORCA_READY) == ready, "poll of slot %u (%s on channel %u, state %d): %s, model %s",
		   i, sl->send ? "send" : "recv", sl->c, sl->state, p == ORCA_READY ? "ready" : "pending",
		   ready ? "ready" : "pending");
	if (!ready)
		return;
	FUZZ_CHECK(r == expect, "slot %u (%s on channel %u) finished with %ld, model %d", i,
		   sl->send ? "send" : "recv", sl->c, (long)r, expect);
	if (!sl->send && r == 0 && !sl->discard)
		check_payload(sl->buf, s.m[sl->c].msg_size, id, "receive future");
	sl->live = false;
}

/* A pending future abandoned (abort, timeout): it passes on what it was handed. */
static void drop_slot(unsigned i)
{
	slot *sl = &s.slots[i];
	model_chan *m = &s.m[sl->c];
	sl->f.base.vtable->drop(&sl->f.base);
	sl->live = false;
	if (sl->state == W_WAITING) {
		if (sl->send)
			queue_remove(m->senders, &m->nsenders, (int)i);
		else
			queue_remove(m->receivers, &m->nreceivers, (int)i);
	} else if (sl->state == W_GRANTED && sl->send) {
		m->reserved--;
		if (!m->closed)
			grant_senders(m);
	} else if (sl->state == W_GRANTED) {
		wake_receiver(m);
	}
	sl->state = W_IDLE;
}

/* ---- select with nothing to wait for ---------------------------------------------------- */

static void select_now(fuzz_input *in)
{
	orca_chan_case cases[MAX_CASES];
	unsigned char payload[MAX_CASES][MAX_MSG], bufs[MAX_CASES][MAX_MSG];
	uint64_t ids[MAX_CASES];
	size_t n = fuzz_below(in, MAX_CASES + 1); /* 0: -EINVAL */
	bool bad = n == 0, any_ready = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = fuzz_u8(in);
		unsigned c = b & 1;
		bool nil = (b & 6) == 6; /* Go's nil channel: never ready */
		bool null_msg = b & 8;
		model_chan *m = &s.m[c];
		cases[i].ch = nil ? NULL : m->ch;
		cases[i].op = b & 0x10 ? ORCA_CHAN_SEND : ORCA_CHAN_RECV;
		if ((b & 0xe0) == 0xe0)
			cases[i].op = 7; /* bad op: -EINVAL */
		ids[i] = s.next_id++;
		fill(payload[i], m->msg_size, ids[i]);
		cases[i].msg = null_msg ? NULL : cases[i].op == ORCA_CHAN_SEND ? payload[i] : bufs[i];
		if (cases[i].op != ORCA_CHAN_SEND && cases[i].op != ORCA_CHAN_RECV)
			bad = true;
		else if (cases[i].op == ORCA_CHAN_SEND && !nil && null_msg && m->msg_size)
			bad = true;
		else if (!nil)
			any_ready |= cases[i].op == ORCA_CHAN_SEND ? m->closed || has_room(m)
								    : m->len || m->closed;
	}
	intptr_t r = 12345;
	orca_poll p;
	if (fuzz_u8(in) & 1) {
		/* Through the public call: one poll, then drop and -ETIMEDOUT. */
		r = orca_chan_select_blocking(n ? cases : NULL, n, 0);
		p = r == -ETIMEDOUT ? ORCA_PENDING : ORCA_READY;
	} else {
		/* By hand, with a waker of ours. */
		orca_chan_selector sel;
		orca_future *f = orca_chan_select_future(&sel, n ? cases : NULL, n);
		counting_waker_init(&s.select_waker, 1000);
		orca_waker w = counting_waker_ref(&s.select_waker);
		orca_context cx = {&w};
		p = f->vtable->poll(f, &cx, &r);
		if (p == ORCA_PENDING)
			f->vtable->drop(f);
	}
	if (bad) {
		FUZZ_CHECK(p == ORCA_READY && r == -EINVAL, "select with a bad case: %d/%ld, not -EINVAL",
			   p, (long)r);
		return;
	}
	if (p == ORCA_PENDING) {
		FUZZ_CHECK(!any_ready, "select over %zu cases pending while one was ready", n);
		return;
	}
	FUZZ_CHECK(r >= 0 && (size_t)r < n, "select returned %ld of %zu cases", (long)r, n);
	orca_chan_case *chosen = &cases[r];
	FUZZ_CHECK(chosen->ch, "select chose case %ld, a nil channel", (long)r);
	model_chan *m = chosen->ch == s.m[0].ch ? &s.m[0] : &s.m[1];
	if (chosen->op == ORCA_CHAN_SEND) {
		FUZZ_CHECK(m->closed || has_room(m), "select chose a send with no room");
		FUZZ_CHECK(chosen->result == (m->closed ? -EPIPE : 0), "select send: %d, model %d",
			   chosen->result, m->closed ? -EPIPE : 0);
		if (!m->closed)
			push_model(m, ids[r]);
	} else {
		FUZZ_CHECK(m->len || m->closed, "select chose a receive on an empty channel");
		FUZZ_CHECK(chosen->result == (m->len ? 0 : -EPIPE), "select recv: %d, model %d",
			   chosen->result, m->len ? 0 : -EPIPE);
		if (m->len) {
			uint64_t id = pop_model(m);
			if (chosen->msg)
				check_payload(chosen->msg, m->msg_size, id, "select recv");
		}
	}
}

/* ---- channels made, re-made and the argument checks -------------------------------------- */

static void make_chan(unsigned c, fuzz_input *in)
{
	model_chan *m = &s.m[c];
	uint8_t b = fuzz_u8(in);
	m->kind = b % 3;
	m->msg_size = msg_sizes[(b / 3) % 6];
	size_t cap = 1 + (b / 18) % 6;
	int r = m->kind == BOUNDED     ? orca_chan_create(&m->ch, m->msg_size, cap)
		: m->kind == UNBOUNDED ? orca_chan_create_unbounded(&m->ch, m->msg_size)
				       : orca_chan_create_oneshot(&m->ch, m->msg_size);
	FUZZ_CHECK(r == 0, "channel creation failed: %d", r);
	m->cap = m->kind == BOUNDED ? cap : m->kind == UNBOUNDED ? SIZE_MAX : 1;
	m->closed = false;
	m->reserved = m->head = m->len = m->nsenders = m->nreceivers = 0;
}

/* Drops what still waits on channel c, drains it (checking every message), and
 * releases it. */
static void retire_chan(unsigned c)
{
	for (unsigned i = 0; i < SLOTS; i++)
		if (s.slots[i].live && s.slots[i].c == c)
			drop_slot(i);
	model_chan *m = &s.m[c];
	while (m->len)
		try_recv(c, false);
	FUZZ_CHECK(orca_chan_try_recv(m->ch, NULL) == (m->closed ? -EPIPE : -EAGAIN),
		   "try_recv of a drained channel");
	FUZZ_CHECK(orca_chan_release(m->ch) == 0, "release failed");
	m->ch = NULL;
}

static void bad_arguments(unsigned c)
{
	model_chan *m = &s.m[c];
	orca_chan *none = NULL;
	FUZZ_CHECK(orca_chan_try_send(NULL, "x") == -EINVAL, "try_send(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_try_recv(NULL, NULL) == -EINVAL, "try_recv(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_close(NULL) == -EINVAL, "close(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_len(NULL) == -EINVAL, "len(NULL) not -EINVAL");
	FUZZ_CHECK(!orca_chan_is_closed(NULL), "is_closed(NULL) is true");
	FUZZ_CHECK(orca_chan_retain(NULL) == -EINVAL, "retain(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_release(NULL) == -EINVAL, "release(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_create(&none, 8, 0) == -EINVAL && !none, "capacity 0 not -EINVAL");
	FUZZ_CHECK(orca_chan_create(NULL, 8, 1) == -EINVAL, "create(NULL) not -EINVAL");
	FUZZ_CHECK(orca_chan_create(&none, SIZE_MAX / 2, 4) == -EINVAL && !none,
		   "an overflowing size not -EINVAL");
	FUZZ_CHECK(orca_chan_create(&none, 8, SIZE_MAX / 2) == -EINVAL && !none,
		   "an overflowing capacity not -EINVAL");
	FUZZ_CHECK(!orca_chan_send_future(NULL, m->ch, "x"), "send_future(NULL) made a future");
	orca_chan_future f;
	orca_waker w = counting_waker_ref(&s.select_waker);
	orca_context cx = {&w};
	intptr_t r = 0;
	orca_future *nil = orca_chan_recv_future(&f, NULL, NULL);
	FUZZ_CHECK(nil->vtable->poll(nil, &cx, &r) == ORCA_READY && r == -EINVAL,
		   "a receive on a NULL channel not -EINVAL");
	nil = orca_chan_send_future(&f, NULL, "x");
	FUZZ_CHECK(nil->vtable->poll(nil, &cx, &r) == ORCA_READY && r == -EINVAL,
		   "a send on a NULL channel not -EINVAL");
	/* The awaiting calls need a stackful task: this thread gets -EPERM, and the
	 * channel is untouched (check_all says so). */
	unsigned char buf[MAX_MSG] = {0};
	FUZZ_CHECK(orca_chan_send(m->ch, buf) == -EPERM, "send outside a task not -EPERM");
	FUZZ_CHECK(orca_chan_recv(m->ch, buf) == -EPERM, "recv outside a task not -EPERM");
	FUZZ_CHECK(!orca_chan_select_future(NULL, NULL, 0), "select_future(NULL) made a future");
	/* Another reference keeps the channel alive across a release. */
	FUZZ_CHECK(orca_chan_retain(m->ch) == 0 && orca_chan_release(m->ch) == 0, "retain/release");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input in = fuzz_input_of(data, size);
	memset(s.slots, 0, sizeof(s.slots));
	s.next_id = 1;
	for (unsigned c = 0; c < CHANS; c++)
		make_chan(c, &in);
	check_all("creation");
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in), arg = fuzz_u8(&in);
		unsigned c = arg & 1, i = (arg >> 1) % SLOTS, k = (arg >> 4) & 1;
		bool flag = arg & 0x20; /* NULL message or buffer */
		const char *name = "?";
		switch (op % 14) {
		case 0:
			name = "try_send";
			if (!model_full(c))
				try_send(c, flag && (arg & 0x40));
			break;
		case 1:
			name = "try_recv";
			try_recv(c, flag);
			break;
		case 2:
			name = "burst of try_send";
			for (unsigned n = fuzz_below(&in, 128) + 1; n && !model_full(c); n--)
				try_send(c, false);
			break;
		case 3:
			name = "burst of try_recv";
			for (unsigned n = fuzz_below(&in, 128) + 1; n; n--)
				try_recv(c, false);
			break;
		case 4:
			name = "close";
			close_chan(c);
			break;
		case 5:
		case 6:
			name = op % 14 == 5 ? "send future" : "recv future";
			if (s.slots[i].live || model_full(c))
				break;
			start_slot(i, op % 14 == 5, c, flag && (arg & 0x40));
			if (!(arg & 0x80)) /* else made now, first polled later */
				poll_slot(i, k);
			break;
		case 7:
		case 8:
			name = "poll again";
			if (s.slots[i].live)
				poll_slot(i, k);
			break;
		case 9:
			name = "drop";
			if (s.slots[i].live)
				drop_slot(i);
			break;
		case 10:
			name = "select";
			if (!model_full(0) && !model_full(1))
				select_now(&in);
			break;
		case 11:
			name = "re-create";
			if (arg & 0x80) {
				bad_arguments(c);
				break;
			}
			retire_chan(c);
			make_chan(c, &in);
			break;
		case 12:
			name = "send_blocking(0)";
			if (!model_full(c))
				send_blocking_now(c);
			break;
		case 13:
			name = "recv_blocking(0)";
			recv_blocking_now(c);
			break;
		}
		check_all(name);
	}
	for (unsigned c = 0; c < CHANS; c++)
		retire_chan(c);
	check_all("the end");
	return 0;
}
