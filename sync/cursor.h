/* What broadcast and watch channels share: a source whose position moves forward
 * (broadcast: the number of the next message; watch: the value's version), and
 * receivers that each remember their own position and wait for the source to move
 * past it.
 *
 * Waiters are stamped with the source's position when they queue. Publishing
 * (position + 1) serves every waiter stamped at or below the old position with
 * RELEASED: a new item is there for each of them, so there is no wake-up to pass on
 * and a dropped waiter only leaves the queue. close serves them all with CLOSED;
 * each then takes what is left for it, or -EPIPE. */
#ifndef ORCA_SYNC_CURSOR_H
#define ORCA_SYNC_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#include <orca/chan.h>

#include "waitq.h"

typedef struct orca__cursor_src {
	orca__lock lock;
	_Atomic uint32_t refs;
	uint64_t position; /* under the lock, as the rest */
	bool closed;
	orca__waitq waiters;
} orca__cursor_src;

/* A receiver: the first member of orca_broadcast_rx and orca_watch_rx. */
typedef struct orca__cursor {
	orca__cursor_src *src;
	uint64_t pos; /* under src's lock */
} orca__cursor;

/* Under the lock: takes c's next item into buf (NULL: discard). Returns >= 0 (what
 * the receive returns), -EAGAIN (nothing new yet) or -EPIPE (closed, nothing
 * left). */
typedef int64_t (*orca__cursor_take_fn)(orca__cursor *c, void *buf);

/* A receive (inside orca_chan_future). */
typedef struct ORCA__MAY_ALIAS orca__cursor_recv {
	orca_future base;
	orca__waiter node;
	orca__cursor *c;
	void *buf;
} orca__cursor_recv;

void orca__cursor_src_init(orca__cursor_src *s);
/* Takes a reference. */
void orca__cursor_src_retain(orca__cursor_src *s);
/* Drops a reference; true if it was the last (the caller frees the channel). */
bool orca__cursor_src_release(orca__cursor_src *s);
/* Called with the lock held after the new item is in place: moves the position on,
 * serves the waiters, releases the lock. */
void orca__cursor_publish_unlock(orca__cursor_src *s);
/* Marks the source closed and serves every waiter. */
void orca__cursor_close(orca__cursor_src *s);
/* Non-waiting receive. */
int64_t orca__cursor_try_recv(orca__cursor *c, void *buf, orca__cursor_take_fn take);

/* The receive future's parts: init, and the poll and drop a channel's vtable calls. */
orca_future *orca__cursor_recv_init(orca_chan_future *f, const orca_future_vtable *vt,
				    orca__cursor *c, void *buf);
orca_poll orca__cursor_recv_poll(orca_future *f, orca_context *cx, intptr_t *out,
				 orca__cursor_take_fn take);
void orca__cursor_recv_drop(orca_future *f);

#endif
