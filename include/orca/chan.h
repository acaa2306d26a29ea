/* Channels: bounded and unbounded MPMC queues, oneshot, broadcast and watch, and a
 * select over several channel operations with a timeout.
 *
 * Messages are fixed-size values (msg_size bytes, given at creation) copied in on
 * send and out on receive, so no ownership question crosses threads: to pass a
 * pointer, send the pointer.
 *
 * Shared rules (as in sync.h):
 *  - Channels are heap objects behind opaque handles, reference counted: create
 *    returns one reference; *_retain takes another, *_release drops one and the
 *    last frees the channel (nobody may be waiting on it then).
 *  - Every wait is an orca_future (orca_chan_future, made by the *_future
 *    functions), usable with orca_await, orca_await_timeout, orca_select and
 *    stackless tasks; the plain functions await it and must be called from a
 *    stackful task (else -EPERM). The *_future functions only fill in the
 *    future; they never suspend. No allocation per wait.
 *  - Close: receivers first drain what is buffered, then get -EPIPE; senders get
 *    -EPIPE at once (including those waiting for room).
 *  - Cancellation-safe: a send or receive that is aborted (-ECANCELED), times out
 *    (-ETIMEDOUT) or loses a select has not happened: its message was not sent, or
 *    no message was taken. A slot or a wake-up it was handed at that moment goes to
 *    the next waiter. Nothing is lost, nothing is delivered twice.
 *  - *_blocking variants are for plain threads: they block the thread until done
 *    or until timeout_ns passes (< 0: no limit; -ETIMEDOUT). Called from a stackful
 *    task they await instead; on a worker outside any task they return -EDEADLK.
 *  - Bad arguments return -EINVAL, never crash.
 */
#ifndef ORCA_CHAN_H
#define ORCA_CHAN_H

#include <orca/common.h>
#include <orca/future.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A send or receive as a future. Caller-allocated (put it on the task's stack).
 * It may be moved until first polled; once polled it must be awaited to the end or
 * dropped (orca_await, orca_await_timeout and orca_select do that). Its result is
 * that of the blocking call it stands for. */
typedef struct orca_chan_future {
	orca_future base;
	/* Private: the waiter node and what it waits on. */
	uint64_t priv[8];
} orca_chan_future;

/* ---- MPMC channels ---------------------------------------------------------------------- */

/* A multi-producer, multi-consumer FIFO channel. Each message is received by exactly
 * one receiver; messages from one sender arrive in the order sent. Any number of
 * tasks and threads may send and receive. */
typedef struct orca_chan orca_chan;

/* Creates a bounded channel holding up to `capacity` messages of msg_size bytes
 * (msg_size may be 0: signals only). A send to a full channel waits for room
 * (backpressure). The buffer is allocated here, once.
 * Returns 0 and *ch; -EINVAL (ch NULL, capacity 0, size overflow); -ENOMEM.
 * Never suspends. */
ORCA_API int orca_chan_create(orca_chan **ch, size_t msg_size, size_t capacity);

/* Creates an unbounded channel: sends never wait (the buffer grows; a send may fail
 * with -ENOMEM). Returns 0; -EINVAL; -ENOMEM. Never suspends. */
ORCA_API int orca_chan_create_unbounded(orca_chan **ch, size_t msg_size);

/* Creates a oneshot channel: one message, after which the channel closes itself
 * (a second send gets -EPIPE; the receiver gets the message, then -EPIPE). Closing
 * it before sending tells the receiver no value will come; closing it from the
 * receiving side makes the send fail with -EPIPE. Returns 0; -EINVAL; -ENOMEM.
 * Never suspends. */
ORCA_API int orca_chan_create_oneshot(orca_chan **ch, size_t msg_size);

/* Takes another reference to ch. Returns 0; -EINVAL. Any thread. Never suspends. */
ORCA_API int orca_chan_retain(orca_chan *ch);

/* Drops a reference; the last one frees the channel and any messages still in it
 * (no task may be waiting on it or use it after). Returns 0; -EINVAL. Any thread.
 * Never suspends. */
ORCA_API int orca_chan_release(orca_chan *ch);

/* Closes ch (Go's close): waiting and later senders get -EPIPE; receivers get the
 * buffered messages, then -EPIPE. Idempotent. Any thread. Returns 0; -EINVAL.
 * Never suspends. */
ORCA_API int orca_chan_close(orca_chan *ch);

/* True once ch is closed (false for NULL). Never suspends. */
ORCA_API bool orca_chan_is_closed(orca_chan *ch);

/* The number of messages buffered now (a snapshot), or -EINVAL. Never suspends. */
ORCA_API int64_t orca_chan_len(orca_chan *ch);

/* Sends a copy of the msg_size bytes at msg, waiting while the channel is full.
 * Returns 0 once the message is in the channel; -EPIPE (closed: not sent);
 * -ENOMEM (unbounded buffer could not grow); -ECANCELED (task aborted: not sent);
 * -EPERM outside a stackful task; -EINVAL (ch NULL, msg NULL with msg_size > 0).
 * May suspend. */
ORCA_API int orca_chan_send(orca_chan *ch, const void *msg);

/* As orca_chan_send, giving up after timeout_ns: -ETIMEDOUT (not sent).
 * May suspend. */
ORCA_API int orca_chan_send_timeout(orca_chan *ch, const void *msg, int64_t timeout_ns);

/* As orca_chan_send from a plain thread (see the top of this file): -ETIMEDOUT after
 * timeout_ns (< 0: no limit), -EDEADLK on a worker outside a task. Blocks the
 * thread (suspends only when called from a task). */
ORCA_API int orca_chan_send_blocking(orca_chan *ch, const void *msg, int64_t timeout_ns);

/* Sends if there is room now and no sender is waiting first. Returns 0; -EAGAIN
 * (full); -EPIPE (closed); -ENOMEM; -EINVAL. Any thread. Never suspends. */
ORCA_API int orca_chan_try_send(orca_chan *ch, const void *msg);

/* Receives the oldest message into buf (msg_size bytes; buf NULL discards it),
 * waiting while the channel is empty. Returns 0; -EPIPE (closed and drained);
 * -ECANCELED (task aborted: nothing taken); -EPERM outside a stackful task;
 * -EINVAL (ch NULL). May suspend. */
ORCA_API int orca_chan_recv(orca_chan *ch, void *buf);

/* As orca_chan_recv, giving up after timeout_ns: -ETIMEDOUT (nothing taken).
 * May suspend. */
ORCA_API int orca_chan_recv_timeout(orca_chan *ch, void *buf, int64_t timeout_ns);

/* As orca_chan_recv from a plain thread (see the top of this file). Blocks the
 * thread (suspends only when called from a task). */
ORCA_API int orca_chan_recv_blocking(orca_chan *ch, void *buf, int64_t timeout_ns);

/* Receives if a message is there now. Returns 0; -EAGAIN (empty); -EPIPE (closed
 * and drained); -EINVAL. Any thread. Never suspends. */
ORCA_API int orca_chan_try_recv(orca_chan *ch, void *buf);

/* Make *f a send of msg / a receive into buf on ch, as a future (results as
 * orca_chan_send / orca_chan_recv). msg and buf must stay valid until the future is
 * finished or dropped. Return &f->base, or NULL if f is NULL; bad arguments give a
 * future that fails with -EINVAL. */
ORCA_API orca_future *orca_chan_send_future(orca_chan_future *f, orca_chan *ch, const void *msg);
ORCA_API orca_future *orca_chan_recv_future(orca_chan_future *f, orca_chan *ch, void *buf);

/* ---- select ----------------------------------------------------------------------------- */

enum { ORCA_CHAN_SEND = 1, ORCA_CHAN_RECV = 2 };

/* One arm of a select: fill in ch, op and msg; result is written by the select. */
typedef struct orca_chan_case {
	orca_chan *ch;  /* NULL: this case is never ready (Go's nil channel) */
	int op;         /* ORCA_CHAN_SEND or ORCA_CHAN_RECV */
	void *msg;      /* SEND: the message to copy in; RECV: where to copy it (NULL: discard) */
	int result;     /* out, for the chosen case: 0, or -EPIPE (channel closed) */
	orca_chan_future priv_future; /* private */
} orca_chan_case;

/* Waits until one of the n operations can complete, completes it and only it, and
 * returns its index (Go's select). When several are ready, the choice is random,
 * so over many rounds every ready case is picked. A send or receive on a closed
 * channel is ready: its case is chosen with result -EPIPE.
 * timeout_ns: < 0 waits without a limit; 0 only takes what is ready now (Go's
 * default case); otherwise gives up after it.
 * Returns the index (>= 0); -ETIMEDOUT (nothing happened); -ECANCELED (task
 * aborted: nothing happened); -EPERM outside a stackful task; -EINVAL (cases NULL,
 * n 0, a bad op, a SEND with msg NULL on a channel with msg_size > 0).
 * May suspend. */
ORCA_API int orca_chan_select(orca_chan_case *cases, size_t n, int64_t timeout_ns);

/* As orca_chan_select from a plain thread (see the top of this file). Blocks the
 * thread (suspends only when called from a task). */
ORCA_API int orca_chan_select_blocking(orca_chan_case *cases, size_t n, int64_t timeout_ns);

/* A select as a future, to combine with other futures (its result is the index or
 * an error as orca_chan_select without the timeout). Caller-allocated; the cases
 * must stay valid until it is finished or dropped. */
typedef struct orca_chan_selector {
	orca_future base;
	uint64_t priv[4]; /* private */
} orca_chan_selector;

/* Makes *f a select over cases[0..n). Returns &f->base, or NULL if f is NULL; bad
 * arguments give a future that fails with -EINVAL. */
ORCA_API orca_future *orca_chan_select_future(orca_chan_selector *f, orca_chan_case *cases,
					      size_t n);

/* ---- broadcast --------------------------------------------------------------------------- */

/* A broadcast channel (Tokio's): every subscribed receiver sees every message sent
 * after it subscribed, in order. Sends never wait: the channel keeps the last
 * `capacity` messages, and a receiver that falls further behind skips the oldest
 * and is told how many it missed. */
typedef struct orca_broadcast orca_broadcast;
/* One receiver's position in a broadcast channel. */
typedef struct orca_broadcast_rx orca_broadcast_rx;

/* Creates a broadcast channel keeping the last `capacity` messages of msg_size
 * bytes. Returns 0; -EINVAL (b NULL, capacity 0, size overflow); -ENOMEM.
 * Never suspends. */
ORCA_API int orca_broadcast_create(orca_broadcast **b, size_t msg_size, size_t capacity);

/* Reference counting as orca_chan_retain / orca_chan_release (each receiver also
 * holds a reference until it is freed). */
ORCA_API int orca_broadcast_retain(orca_broadcast *b);
ORCA_API int orca_broadcast_release(orca_broadcast *b);

/* Makes a receiver that will see the messages sent from now on. Returns 0;
 * -EINVAL; -ENOMEM. Never suspends. */
ORCA_API int orca_broadcast_subscribe(orca_broadcast *b, orca_broadcast_rx **rx);

/* Frees a receiver (none of its receives may be waiting). Returns 0; -EINVAL.
 * Never suspends. */
ORCA_API int orca_broadcast_rx_free(orca_broadcast_rx *rx);

/* Sends a copy of msg to every receiver. Never waits. Returns the number of
 * receivers subscribed (0: nobody will see it); -EPIPE (closed); -EINVAL.
 * Any thread. Never suspends. */
ORCA_API int64_t orca_broadcast_send(orca_broadcast *b, const void *msg);

/* Closes b: receivers get what is left for them, then -EPIPE; sends fail with
 * -EPIPE. Idempotent. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_broadcast_close(orca_broadcast *b);

/* Receives the next message for rx into buf (buf NULL: discard), waiting while
 * there is none. Returns 0, or a positive count: rx fell behind and that many
 * messages were lost to it before the one now in buf (Tokio's Lagged); -EPIPE
 * (closed and nothing left); -ECANCELED; -EPERM outside a stackful task; -EINVAL.
 * May suspend. */
ORCA_API int64_t orca_broadcast_recv(orca_broadcast_rx *rx, void *buf);

/* As orca_broadcast_recv, giving up after timeout_ns: -ETIMEDOUT. May suspend. */
ORCA_API int64_t orca_broadcast_recv_timeout(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns);

/* As orca_broadcast_recv from a plain thread (see the top of this file). Blocks the
 * thread (suspends only when called from a task). */
ORCA_API int64_t orca_broadcast_recv_blocking(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns);

/* Receives if a message is there now: as orca_broadcast_recv, or -EAGAIN.
 * Never suspends. */
ORCA_API int64_t orca_broadcast_try_recv(orca_broadcast_rx *rx, void *buf);

/* Makes *f a receive on rx into buf, as a future. Returns &f->base, or NULL if f is
 * NULL; bad arguments give a future that fails with -EINVAL. */
ORCA_API orca_future *orca_broadcast_recv_future(orca_chan_future *f, orca_broadcast_rx *rx,
						 void *buf);

/* ---- watch ----------------------------------------------------------------------------- */

/* A watch channel (Tokio's): holds one value, the latest sent. Receivers wait for
 * a value newer than the last they saw; intermediate values may be skipped. */
typedef struct orca_watch orca_watch;
/* One receiver's view: the version it saw last. */
typedef struct orca_watch_rx orca_watch_rx;

/* Creates a watch channel of msg_size-byte values holding a copy of `initial`.
 * Returns 0; -EINVAL (w NULL, initial NULL with msg_size > 0); -ENOMEM.
 * Never suspends. */
ORCA_API int orca_watch_create(orca_watch **w, size_t msg_size, const void *initial);

/* Reference counting as orca_chan_retain / orca_chan_release (each receiver also
 * holds a reference until it is freed). */
ORCA_API int orca_watch_retain(orca_watch *w);
ORCA_API int orca_watch_release(orca_watch *w);

/* Makes a receiver that has seen the current value (so it waits for the next).
 * Returns 0; -EINVAL; -ENOMEM. Never suspends. */
ORCA_API int orca_watch_subscribe(orca_watch *w, orca_watch_rx **rx);

/* Frees a receiver (none of its receives may be waiting). Returns 0; -EINVAL.
 * Never suspends. */
ORCA_API int orca_watch_rx_free(orca_watch_rx *rx);

/* Replaces the value with a copy of msg and wakes every waiting receiver.
 * Returns 0; -EPIPE (closed); -EINVAL. Any thread. Never suspends. */
ORCA_API int orca_watch_send(orca_watch *w, const void *msg);

/* Copies the current value into buf without marking it seen. Works after close.
 * Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_watch_get(orca_watch *w, void *buf);

/* Closes w: receivers get a value they have not seen yet, then -EPIPE; sends fail
 * with -EPIPE. Idempotent. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_watch_close(orca_watch *w);

/* Waits until the value is newer than the last one rx saw, copies it into buf
 * (buf NULL: just mark it) and marks it seen. Returns 0; -EPIPE (closed, nothing
 * new); -ECANCELED; -EPERM outside a stackful task; -EINVAL. May suspend. */
ORCA_API int orca_watch_recv(orca_watch_rx *rx, void *buf);

/* As orca_watch_recv, giving up after timeout_ns: -ETIMEDOUT. May suspend. */
ORCA_API int orca_watch_recv_timeout(orca_watch_rx *rx, void *buf, int64_t timeout_ns);

/* As orca_watch_recv from a plain thread (see the top of this file). Blocks the
 * thread (suspends only when called from a task). */
ORCA_API int orca_watch_recv_blocking(orca_watch_rx *rx, void *buf, int64_t timeout_ns);

/* As orca_watch_recv if a new value is there now, else -EAGAIN. Never suspends. */
ORCA_API int orca_watch_try_recv(orca_watch_rx *rx, void *buf);

/* Makes *f a receive on rx into buf, as a future. Returns &f->base, or NULL if f is
 * NULL; bad arguments give a future that fails with -EINVAL. */
ORCA_API orca_future *orca_watch_recv_future(orca_chan_future *f, orca_watch_rx *rx, void *buf);

#ifdef __cplusplus
}
#endif

#endif
