/* Broadcast channels (Tokio's broadcast): a ring of the last `cap` messages, the
 * source's position being the number of the next message; a receiver is a cursor
 * on it (cursor.h). Everything is copied in and out under one lock, so a slot
 * needs no per-reader count: a send simply overwrites the oldest message, and a
 * receiver whose position fell out of the ring jumps to the oldest one kept and
 * reports how many it missed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "wait.h"

struct orca_broadcast {
	orca__cursor_src s; /* position: the number of the next message */
	size_t msg_size;
	size_t cap;
	uint64_t receivers; /* under the lock: subscribed */
	unsigned char *ring;
};

struct orca_broadcast_rx {
	orca__cursor c; /* pos: the number of the next message it wants */
};

static orca_broadcast *of(orca__cursor *c)
{
	return (orca_broadcast *)(void *)c->src;
}

int orca_broadcast_create(orca_broadcast **out, size_t msg_size, size_t capacity)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	size_t bytes;
	if (capacity == 0 || __builtin_mul_overflow(capacity, msg_size, &bytes) ||
	    bytes > (SIZE_MAX >> 1))
		return -EINVAL;
	orca_broadcast *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (bytes && !(b->ring = malloc(bytes))) {
		free(b);
		return -ENOMEM;
	}
	orca__cursor_src_init(&b->s);
	b->msg_size = msg_size;
	b->cap = capacity;
	*out = b;
	return 0;
}

int orca_broadcast_retain(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	orca__cursor_src_retain(&b->s);
	return 0;
}

int orca_broadcast_release(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	if (orca__cursor_src_release(&b->s)) {
		free(b->ring);
		free(b);
	}
	return 0;
}

int orca_broadcast_subscribe(orca_broadcast *b, orca_broadcast_rx **out)
{
	if (!b || !out)
		return -EINVAL;
	orca_broadcast_rx *rx = malloc(sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	orca__cursor_src_retain(&b->s);
	rx->c.src = &b->s;
	orca__lock_acquire(&b->s.lock);
	rx->c.pos = b->s.position;
	b->receivers++;
	orca__lock_release(&b->s.lock);
	*out = rx;
	return 0;
}

int orca_broadcast_rx_free(orca_broadcast_rx *rx)
{
	if (!rx)
		return -EINVAL;
	orca_broadcast *b = of(&rx->c);
	orca__lock_acquire(&b->s.lock);
	b->receivers--;
	orca__lock_release(&b->s.lock);
	free(rx);
	orca_broadcast_release(b);
	return 0;
}

int64_t orca_broadcast_send(orca_broadcast *b, const void *msg)
{
	if (!b || (!msg && b->msg_size))
		return -EINVAL;
	orca__lock_acquire(&b->s.lock);
	int64_t n = (int64_t)b->receivers;
	if (b->s.closed || n == 0) {
		orca__lock_release(&b->s.lock);
		return b->s.closed ? -EPIPE : 0;
	}
	if (b->msg_size)
		memcpy(b->ring + (b->s.position % b->cap) * b->msg_size, msg, b->msg_size);
	orca__cursor_publish_unlock(&b->s);
	return n;
}

int orca_broadcast_close(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	orca__cursor_close(&b->s);
	return 0;
}

/* Under the lock: the next message for c, and how many it missed. */
static int64_t take(orca__cursor *c, void *buf)
{
	orca_broadcast *b = of(c);
	uint64_t tail = b->s.position;
	if (c->pos == tail)
		return b->s.closed ? -EPIPE : -EAGAIN;
	uint64_t missed = 0;
	if (tail - c->pos > b->cap) {
		missed = tail - b->cap - c->pos;
		c->pos = tail - b->cap;
	}
	if (b->msg_size && buf)
		memcpy(buf, b->ring + (c->pos % b->cap) * b->msg_size, b->msg_size);
	c->pos++;
	return (int64_t)missed;
}

int64_t orca_broadcast_try_recv(orca_broadcast_rx *rx, void *buf)
{
	if (!rx)
		return -EINVAL;
	return orca__cursor_try_recv(&rx->c, buf, take);
}

static orca_poll recv_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	return orca__cursor_recv_poll(f, cx, out, take);
}

static const orca_future_vtable recv_vtable = {.poll = recv_poll, .drop = orca__cursor_recv_drop};

orca_future *orca_broadcast_recv_future(orca_chan_future *f, orca_broadcast_rx *rx, void *buf)
{
	return orca__cursor_recv_init(f, &recv_vtable, rx ? &rx->c : NULL, buf);
}

int64_t orca_broadcast_recv(orca_broadcast_rx *rx, void *buf)
{
	orca_chan_future f;
	return (int64_t)orca__sync_await(orca_broadcast_recv_future(&f, rx, buf), -1);
}

int64_t orca_broadcast_recv_timeout(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int64_t)orca__sync_await(orca_broadcast_recv_future(&f, rx, buf),
					 timeout_ns < 0 ? 0 : timeout_ns);
}

int64_t orca_broadcast_recv_blocking(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int64_t)orca__sync_wait_blocking(orca_broadcast_recv_future(&f, rx, buf), timeout_ns);
}
