/* The MPMC channel's layout, shared by chan.c and select.c.
 *
 * One lock guards the ring buffer and two waiter queues. The protocol:
 *
 *  1. Room is a counted resource: len + reserved <= cap, where `reserved` counts
 *     slots already granted to senders that have not filled them yet. A sender
 *     queues (FIFO) only when there is no room; every receive that frees a slot
 *     grants it to the first waiting sender (GRANTED, reserved++), who fills it
 *     when it runs. A granted sender that is dropped instead gives the slot to the
 *     next sender (or back to the channel). Messages never wait in a sender's frame,
 *     so a send that reports failure has never been seen by a receiver.
 *  2. Receivers wait for a wake-up, not for a message: a receiver queues only when
 *     the channel is empty, and every message sent while receivers wait serves the
 *     first of them (GRANTED). A served receiver takes whatever message is there
 *     when it runs; if another receiver took it first it queues again at the front.
 *     A served receiver that is dropped passes its wake-up to the next waiting
 *     receiver if a message is there. Hence: while receivers wait, there are at
 *     least as many served-but-not-yet-run receivers as buffered messages, and no
 *     message is stranded.
 *  3. close serves every waiter with CLOSED; senders fail with -EPIPE (a granted
 *     slot is given up), receivers still drain the buffer before -EPIPE.
 */
#ifndef ORCA_SYNC_CHAN_INTERNAL_H
#define ORCA_SYNC_CHAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <orca/chan.h>

#include "waitq.h"

struct orca_chan {
	orca__lock lock;
	_Atomic uint32_t refs;
	size_t msg_size;
	size_t cap;      /* bound on len + reserved; SIZE_MAX when unbounded */
	size_t ring_cap; /* slots allocated in ring */
	size_t head;     /* under the lock, as everything below */
	size_t len;
	size_t reserved;
	unsigned char *ring;
	bool closed;
	bool oneshot;   /* closes itself after the first message */
	bool unbounded; /* the ring grows (and shrinks) */
	orca__waitq senders;
	orca__waitq receivers;
};

/* A send or receive future (inside orca_chan_future). */
typedef struct ORCA__MAY_ALIAS orca__chan_op {
	orca_future base;
	orca__waiter node;
	orca_chan *ch;
	void *msg; /* send: the message (read only); receive: the buffer */
} orca__chan_op;

#endif
