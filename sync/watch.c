/* Watch channels (Tokio's watch): one value; the source's position is its version,
 * bumped by every send. A receiver is a cursor holding the version it saw last
 * (cursor.h) and waits for a newer one; intermediate values may be skipped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "wait.h"

struct orca_watch {
	orca__cursor_src s; /* position: the value's version */
	size_t msg_size;
	unsigned char value[]; /* under the lock */
};

struct orca_watch_rx {
	orca__cursor c; /* pos: the version it saw last */
};

static orca_watch *of(orca__cursor *c)
{
	return (orca_watch *)(void *)c->src;
}

int orca_watch_create(orca_watch **out, size_t msg_size, const void *initial)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if ((!initial && msg_size) || msg_size > (SIZE_MAX >> 1))
		return -EINVAL;
	orca_watch *w = calloc(1, sizeof(*w) + msg_size);
	if (!w)
		return -ENOMEM;
	orca__cursor_src_init(&w->s);
	w->msg_size = msg_size;
	if (msg_size)
		memcpy(w->value, initial, msg_size);
	*out = w;
	return 0;
}

int orca_watch_retain(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	orca__cursor_src_retain(&w->s);
	return 0;
}

int orca_watch_release(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	if (orca__cursor_src_release(&w->s))
		free(w);
	return 0;
}

int orca_watch_subscribe(orca_watch *w, orca_watch_rx **out)
{
	if (!w || !out)
		return -EINVAL;
	orca_watch_rx *rx = malloc(sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	orca__cursor_src_retain(&w->s);
	rx->c.src = &w->s;
	orca__lock_acquire(&w->s.lock);
	rx->c.pos = w->s.position;
	orca__lock_release(&w->s.lock);
	*out = rx;
	return 0;
}

int orca_watch_rx_free(orca_watch_rx *rx)
{
	if (!rx)
		return -EINVAL;
	orca_watch *w = of(&rx->c);
	free(rx);
	orca_watch_release(w);
	return 0;
}

int orca_watch_send(orca_watch *w, const void *msg)
{
	if (!w || (!msg && w->msg_size))
		return -EINVAL;
	orca__lock_acquire(&w->s.lock);
	if (w->s.closed) {
		orca__lock_release(&w->s.lock);
		return -EPIPE;
	}
	if (w->msg_size)
		memcpy(w->value, msg, w->msg_size);
	orca__cursor_publish_unlock(&w->s);
	return 0;
}

int orca_watch_get(orca_watch *w, void *buf)
{
	if (!w || (!buf && w->msg_size))
		return -EINVAL;
	orca__lock_acquire(&w->s.lock);
	if (w->msg_size)
		memcpy(buf, w->value, w->msg_size);
	orca__lock_release(&w->s.lock);
	return 0;
}

int orca_watch_close(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	orca__cursor_close(&w->s);
	return 0;
}

/* Under the lock: the value, if c has not seen this version. */
static int64_t take(orca__cursor *c, void *buf)
{
	orca_watch *w = of(c);
	if (c->pos == w->s.position)
		return w->s.closed ? -EPIPE : -EAGAIN;
	if (w->msg_size && buf)
		memcpy(buf, w->value, w->msg_size);
	c->pos = w->s.position;
	return 0;
}

int orca_watch_try_recv(orca_watch_rx *rx, void *buf)
{
	if (!rx)
		return -EINVAL;
	return (int)orca__cursor_try_recv(&rx->c, buf, take);
}

static orca_poll recv_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	return orca__cursor_recv_poll(f, cx, out, take);
}

static const orca_future_vtable recv_vtable = {.poll = recv_poll, .drop = orca__cursor_recv_drop};

orca_future *orca_watch_recv_future(orca_chan_future *f, orca_watch_rx *rx, void *buf)
{
	return orca__cursor_recv_init(f, &recv_vtable, rx ? &rx->c : NULL, buf);
}

int orca_watch_recv(orca_watch_rx *rx, void *buf)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_watch_recv_future(&f, rx, buf), -1);
}

int orca_watch_recv_timeout(orca_watch_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_watch_recv_future(&f, rx, buf),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_watch_recv_blocking(orca_watch_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_wait_blocking(orca_watch_recv_future(&f, rx, buf), timeout_ns);
}
