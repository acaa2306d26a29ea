/* Tasks: creation, the waker, running, completion, join, detach, abort and freeing.
 * The state word's transitions are in task_state.h; this file decides what to do
 * with their outcomes.
 *
 * Model: tests/model/task_state_model.cc transcribes the wake, run, complete, join
 * and abort paths of this file over the real task_state.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

/* ---- waker ---------------------------------------------------------------- */

static orca_waker task_waker_clone(const void *data);
static void task_waker_wake(const void *data);
static void task_waker_wake_by_ref(const void *data);
static void task_waker_drop(const void *data);

static const orca_waker_vtable task_waker_vtable = {
	.clone = task_waker_clone,
	.wake = task_waker_wake,
	.wake_by_ref = task_waker_wake_by_ref,
	.drop = task_waker_drop,
};

orca_waker orca__task_waker_ref(orca__task *t)
{
	return (orca_waker){.vtable = &task_waker_vtable, .data = t};
}

static orca_waker task_waker_clone(const void *data)
{
	orca__task *t = (orca__task *)data;
	orca__st_ref_inc(&t->state);
	return orca__task_waker_ref(t);
}

static void task_free(orca__task *t);

static void task_waker_wake(const void *data)
{
	orca__task *t = (orca__task *)data;
	switch (orca__st_transition_to_notified_by_val(&t->state)) {
	case ORCA_ST_SUBMIT:
		orca__schedule(t);
		break;
	case ORCA_ST_DEALLOC:
		task_free(t);
		break;
	case ORCA_ST_DO_NOTHING:
		break;
	}
}

static void task_waker_wake_by_ref(const void *data)
{
	orca__task *t = (orca__task *)data;
	if (orca__st_transition_to_notified_by_ref(&t->state) == ORCA_ST_SUBMIT)
		orca__schedule(t);
}

static void task_waker_drop(const void *data)
{
	orca__task_drop_ref((orca__task *)data);
}

void orca__note_wait(const orca_context *cx, const char *what, enum orca__wait_fmt fmt,
		     int64_t detail)
{
	/* The polling task is the one whose waker the context carries (no thread-local
	 * lookup); a plain thread's blocking wait carries another kind of waker. */
	if (!cx || !cx->waker || cx->waker->vtable != &task_waker_vtable)
		return;
	orca__task *t = (orca__task *)cx->waker->data;
	if (atomic_load_explicit(&t->wait_what, memory_order_relaxed))
		return; /* an earlier leaf of this poll said it */
	atomic_store_explicit(&t->wait_fmt, (uint8_t)fmt, memory_order_relaxed);
	atomic_store_explicit(&t->wait_detail, detail, memory_order_relaxed);
	atomic_store_explicit(&t->wait_what, what, memory_order_relaxed);
}

void orca__task_drop_ref(orca__task *t)
{
	if (orca__st_ref_dec(&t->state, 1))
		task_free(t);
}

/* ---- owned list ------------------------------------------------------------- */

static orca__owned_shard *shard_of(orca_runtime *rt, orca__task *t)
{
	return &rt->owned[orca__owned_shard_index(t)];
}

void orca__owned_insert(orca_runtime *rt, orca__task *t, bool *refused)
{
	orca__owned_shard *s = shard_of(rt, t);
	pthread_mutex_lock(&s->lock);
	/* Checked under the shard lock: shutdown sets the flag before walking the
	 * shards, so a task is either refused here or seen (and aborted) there. */
	if (atomic_load_explicit(&rt->shutting_down, memory_order_acquire)) {
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_add_explicit(&rt->observer.refused_spawns, 1, memory_order_relaxed);
		*refused = true;
		return;
	}
	t->owned_prev = NULL;
	t->owned_next = s->head;
	if (s->head)
		s->head->owned_prev = t;
	s->head = t;
	atomic_fetch_add_explicit(&rt->alive, 1, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	*refused = false;
}

void orca__owned_remove(orca__task *t)
{
	orca_runtime *rt = t->rt;
	orca__owned_shard *s = shard_of(rt, t);
	pthread_mutex_lock(&s->lock);
	if (t->owned_prev)
		t->owned_prev->owned_next = t->owned_next;
	else
		s->head = t->owned_next;
	if (t->owned_next)
		t->owned_next->owned_prev = t->owned_prev;
	pthread_mutex_unlock(&s->lock);
	if (atomic_fetch_sub_explicit(&rt->alive, 1, memory_order_acq_rel) == 1 &&
	    atomic_load_explicit(&rt->shutting_down, memory_order_acquire)) {
		pthread_mutex_lock(&rt->shutdown_lock);
		pthread_cond_broadcast(&rt->shutdown_cond);
		pthread_mutex_unlock(&rt->shutdown_lock);
	}
}

/* ---- creation ----------------------------------------------------------------- */

static orca_poll join_future_poll(orca_future *f, orca_context *cx, intptr_t *out);
static const orca_future_vtable join_future_vtable = {.poll = join_future_poll};

/* now: the spawning worker's cached clock (observe.h), or orca_now(). */
static void task_header_init(orca__task *t, orca_runtime *rt, int kind, bool handle,
			     const char *name, int64_t now)
{
	t->join_vtable = &join_future_vtable;
	atomic_init(&t->state, orca__st_initial(handle));
	t->qnode.next = NULL;
	t->owned_prev = t->owned_next = NULL;
	t->rt = rt;
	t->id = atomic_fetch_add_explicit(&rt->next_id, 1, memory_order_relaxed);
	t->result = 0;
	t->join_waker = (orca_waker){0};
	t->kind = (uint8_t)kind;
	t->cancel_seen = 0;
	t->exit_reason = ORCA_EXIT_PENDING;
	t->future_done = 0;
	t->future_cancelling = 0;
	t->select_rotation = 0;
	atomic_init(&t->wait_fmt, ORCA__WAIT_PLAIN);
	t->name = name;
	t->spawned_at = now;
	atomic_init(&t->since, t->spawned_at);
	atomic_init(&t->wait_what, NULL);
	atomic_init(&t->wait_detail, 0);
}

const char *orca__task_name_copy(char *buf, const char *name)
{
	if (!name || !*name)
		return NULL;
	size_t n = strnlen(name, ORCA_TASK_NAME_MAX - 1);
	/* Cut before a UTF-8 continuation byte: never half a character. */
	if (name[n] != '\0')
		while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
			n--;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return n ? buf : NULL;
}

/* Registers and queues a freshly built task, or undoes it if the runtime refuses. */
static int task_launch(orca_runtime *rt, orca__task *t, orca_task **handle)
{
	bool refused;
	orca__owned_insert(rt, t, &refused);
	if (refused) {
		task_free(t);
		return -ESHUTDOWN;
	}
	if (handle) {
		atomic_fetch_add_explicit(&rt->handles, 1, memory_order_relaxed);
		*handle = (orca_task *)t;
	}
	orca__schedule(t);
	return 0;
}

static void stackful_entry(void *arg);

int orca__spawn_stackful(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg,
			 const char *name, bool copy_name)
{
	if (!copy_name)
		name = orca__static_name(name);
	if (handle)
		*handle = NULL;
	if (!rt || !fn)
		return -EINVAL;
	if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
		return -ESHUTDOWN;
	/* The task and its stack are apart: the stack is taken when the task first
	 * runs, on the worker that runs it, and goes back to that worker's pool when
	 * the task finishes; the task itself lives on until its join handle is
	 * dropped. 100k tasks spawned, then joined, used to hold 100k stacks (a fresh,
	 * faulted-in mapping each: ~10 us per task); now they pass a few around. */
	orca__stackful_task *sf = malloc(sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	orca__worker *w = orca__worker_current();
	if (copy_name)
		name = orca__task_name_copy(sf->name_buf, name);
	task_header_init(&sf->t, rt, ORCA_TASK_STACKFUL, handle != NULL, name, orca__cached_now(w));
	sf->fn = fn;
	sf->arg = arg;
	sf->map = NULL; /* stack_acquire, at its first run */
	sf->map_size = rt->stack_map_size;
	return task_launch(rt, &sf->t, handle);
}

/* Gives a stackful task that is about to run for the first time its stack, from
 * worker w's pool (or a new mapping). -ENOMEM when there is none to be had. */
static int stack_acquire(orca__worker *w, orca__stackful_task *sf)
{
	void *map = orca__stack_pool_get(&w->stacks);
	if (!map)
		map = orca__stack_map(sf->map_size);
	if (!map)
		return -ENOMEM;
	sf->map = map;
	char *bottom = (char *)map + orca__page_size(); /* above the guard page */
	char *top = (char *)map + sf->map_size;
	orca__ctx_make(&sf->ctx, bottom, (size_t)(top - bottom), stackful_entry, sf);
	return 0;
}

/* The runtime a spawn without one goes to: the caller's. NULL (and *err) outside. */
static orca_runtime *caller_runtime(orca_task **handle, bool have_fn, int *err)
{
	orca__worker *w = orca__worker_current();
	if (w)
		return w->rt;
	if (handle)
		*handle = NULL;
	*err = have_fn ? -EPERM : -EINVAL;
	return NULL;
}

/* The exported functions keep their names; the header's macros of the same names
 * call the orca__*_fn variants, which name the task. */
int(orca_spawn_on)(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg)
{
	return orca__spawn_stackful(rt, handle, fn, arg, NULL, false);
}

int(orca_spawn)(orca_task **handle, orca_task_fn fn, void *arg)
{
	int err = 0;
	orca_runtime *rt = caller_runtime(handle, fn != NULL, &err);
	return rt ? orca__spawn_stackful(rt, handle, fn, arg, NULL, false) : err;
}

int orca__spawn_fn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg,
		      const char *name)
{
	return orca__spawn_stackful(rt, handle, fn, arg, name, false);
}

int orca__spawn_fn(orca_task **handle, orca_task_fn fn, void *arg, const char *name)
{
	int err = 0;
	orca_runtime *rt = caller_runtime(handle, fn != NULL, &err);
	return rt ? orca__spawn_stackful(rt, handle, fn, arg, name, false) : err;
}

int orca_spawn_named_on(orca_runtime *rt, orca_task **handle, const char *name, orca_task_fn fn,
			void *arg)
{
	return orca__spawn_stackful(rt, handle, fn, arg, name, true);
}

int orca_spawn_named(orca_task **handle, const char *name, orca_task_fn fn, void *arg)
{
	int err = 0;
	orca_runtime *rt = caller_runtime(handle, fn != NULL, &err);
	return rt ? orca__spawn_stackful(rt, handle, fn, arg, name, true) : err;
}

#define ORCA_MAX_FUTURE_SIZE (64 * 1024)

/* w: the calling thread's worker, or NULL. */
static int spawn_future(orca_runtime *rt, orca__worker *w, orca_task **handle, const orca_future *f,
			size_t size, const char *name, bool copy_name)
{
	if (!copy_name)
		name = orca__static_name(name);
	if (handle)
		*handle = NULL;
	if (!rt || !f || !f->vtable || !f->vtable->poll || size < sizeof(orca_future) ||
	    size > ORCA_MAX_FUTURE_SIZE)
		return -EINVAL;
	if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
		return -ESHUTDOWN;
	/* A copied name goes after the future, in the same allocation. */
	size_t name_room = copy_name && name && *name ? ORCA_TASK_NAME_MAX : 0;
	orca__stackless_task *sl = malloc(sizeof(*sl) + size + name_room);
	if (!sl)
		return -ENOMEM;
	if (name_room)
		name = orca__task_name_copy((char *)sl->future + size, name);
	task_header_init(&sl->t, rt, ORCA_TASK_STACKLESS, handle != NULL, name,
			 orca__cached_now(w));
	memcpy(sl->future, f, size);
	return task_launch(rt, &sl->t, handle);
}

int orca__spawn_future(orca_runtime *rt, orca_task **handle, const orca_future *f, size_t size,
		       const char *name, bool copy_name)
{
	return spawn_future(rt, orca__worker_current(), handle, f, size, name, copy_name);
}

/* As spawn_future onto the caller's runtime (-EPERM / -EINVAL outside one). */
static int spawn_future_here(orca_task **handle, const orca_future *f, size_t size,
			     const char *name, bool copy_name)
{
	orca__worker *w = orca__worker_current();
	if (!w) {
		if (handle)
			*handle = NULL;
		return f ? -EPERM : -EINVAL;
	}
	return spawn_future(w->rt, w, handle, f, size, name, copy_name);
}

int orca_spawn_future_on(orca_runtime *rt, orca_task **handle, const orca_future *f, size_t size)
{
	return orca__spawn_future(rt, handle, f, size, NULL, false);
}

int orca_spawn_future(orca_task **handle, const orca_future *f, size_t size)
{
	return spawn_future_here(handle, f, size, NULL, false);
}

int orca_spawn_future_named_on(orca_runtime *rt, orca_task **handle, const char *name,
			       const orca_future *f, size_t size)
{
	return orca__spawn_future(rt, handle, f, size, name, true);
}

int orca_spawn_future_named(orca_task **handle, const char *name, const orca_future *f,
			    size_t size)
{
	return spawn_future_here(handle, f, size, name, true);
}

/* ---- running ------------------------------------------------------------------ */

static void task_after_run(orca__worker *w, orca__task *t, enum orca__exit reason);

/* Runs on every stackful context right after it was switched to: a task that
 * switched straight to this one (not through the worker) could not publish its own
 * suspension while still on its stack, so the task landing here does it. */
static void task_landed(void)
{
	orca__worker *w = orca__worker_current();
	orca__task *prev = w->switched_from;
	if (prev) {
		w->switched_from = NULL;
		task_after_run(w, prev, (enum orca__exit)prev->exit_reason);
	}
}

static void stackful_entry(void *arg)
{
	orca__stackful_task *sf = arg;
	orca__ctx_entered(&sf->ctx);
	task_landed();
	sf->t.result = sf->fn(sf->arg);
	sf->t.exit_reason = ORCA_EXIT_DONE;
	/* Read the worker afresh: the task may have moved since it started. */
	orca__worker *w = orca__worker_current();
	orca__ctx_jump(&sf->ctx, &w->ctx, ORCA_CTX_EXITING);
	orca__panic("task: a finished task was resumed");
}

/* Poll timing (observe.h): one poll in ORCA_METRICS_POLL_SAMPLE is timed. The
 * clock is read when it starts, and when the next poll starts (a switch straight
 * from task to task) or the worker loop gets control back, whichever comes first.
 * Two clock reads cost ~42 ns here, so the sample is sparse: at 1 in 64 they were
 * most of the metrics' cost on task_pingpong and yield_many. */
__attribute__((noinline, cold)) static void poll_timing_end(orca__worker *w)
{
	int64_t now = orca_now();
	orca__stat_add(&w->stats.hist[orca__poll_bucket(now - w->poll_t0)], 1);
	w->clock = now; /* the cached clock's refresh (observe.h) */
	w->poll_t0 = 0;
}

/* Poll n is the first after a timed one, or is to be timed itself. */
__attribute__((noinline, cold)) static void poll_sample_edge(orca__worker *w, uint64_t n)
{
	if (w->poll_t0)
		poll_timing_end(w);
	if ((n & (ORCA_METRICS_POLL_SAMPLE - 1)) == 0)
		w->poll_t0 = orca_now();
}

/* A poll of t starts on w: count it (its number is the watchdog's clock,
 * observe.h) and publish t as running. One test covers both sampling edges: the
 * previous poll was the timed one only if this one's number is 1 modulo the
 * sample size, and this one is timed if it is 0. */
static inline void poll_begin(orca__worker *w, orca__task *t)
{
	uint64_t n = atomic_load_explicit(&w->stats.polls, memory_order_relaxed) + 1;
	atomic_store_explicit(&w->stats.polls, n, memory_order_relaxed);
	orca__worker_set_running(w, t);
	if (__builtin_expect((n & (ORCA_METRICS_POLL_SAMPLE - 1)) <= 1, 0))
		poll_sample_edge(w, n);
}

void orca__task_suspend(orca__task *t, enum orca__exit reason)
{
	orca__stackful_task *sf = (orca__stackful_task *)t;
	t->exit_reason = (uint8_t)reason;
	orca__worker *w = orca__worker_current();
	/* Straight to the next local task when there is one: one context switch
	 * instead of two (task -> worker -> task). t's suspension is published by
	 * whoever lands next (task_landed), once nothing runs on t's stack. */
	orca__worker_set_running(w, NULL); /* wakes from here on are not "by the running task" */
	orca__task *next = orca__worker_next_direct(w);
	if (next && !((orca__stackful_task *)next)->map &&
	    stack_acquire(w, (orca__stackful_task *)next) < 0) {
		/* Its first run, and no stack to be had: the worker loop ends it. */
		w->handoff = next;
		next = NULL;
	}
	if (next) {
		orca__st_transition_to_running(&next->state);
		w->switched_from = t;
		poll_begin(w, next);
		orca__ctx_jump(&sf->ctx, &((orca__stackful_task *)next)->ctx, ORCA_CTX_RETURNING);
	} else {
		orca__worker_set_running(w, t); /* the worker finds the suspended task here */
		orca__ctx_jump(&sf->ctx, &w->ctx, ORCA_CTX_RETURNING);
	}
	/* Resumed, perhaps on another worker: nothing cached from before is valid. */
	task_landed();
}

/* Polls a stackless task's future once; returns true if the task is done. */
static bool stackless_poll(orca__task *t)
{
	orca__stackless_task *sl = (orca__stackless_task *)t;
	orca_future *f = (orca_future *)(void *)sl->future;
	if (!t->future_cancelling && orca__task_cancel_requested(t)) {
		t->cancel_seen = 1;
		if (f->vtable->cancel) {
			f->vtable->cancel(f);
			t->future_cancelling = 1;
		} else {
			if (f->vtable->drop)
				f->vtable->drop(f);
			t->future_done = 1;
			t->result = -ECANCELED;
			return true;
		}
	}
	orca_waker wk = orca__task_waker_ref(t);
	orca_context cx = {.waker = &wk};
	intptr_t out = 0;
	orca__wait_clear(t);
	if (f->vtable->poll(f, &cx, &out) == ORCA_READY) {
		t->future_done = 1;
		t->result = out;
		return true;
	}
	return false;
}

static void task_complete(orca__task *t);

void orca__task_run(orca__worker *w, orca__task *t)
{
	orca__st_transition_to_running(&t->state);
	poll_begin(w, t);
	enum orca__exit reason;
	if (t->kind == ORCA_TASK_STACKFUL) {
		orca__stackful_task *sf = (orca__stackful_task *)t;
		if (!sf->map && stack_acquire(w, sf) < 0) {
			/* First run, and no memory for a stack: it finishes without
			 * running, join gives -ENOMEM as its result (task.h). */
			fprintf(stderr, "orca: task %llu: no memory for its stack; it ends with -ENOMEM\n",
				(unsigned long long)t->id);
			t->result = -ENOMEM;
			reason = ORCA_EXIT_DONE;
		} else {
			orca__ctx_jump(&w->ctx, &sf->ctx, ORCA_CTX_RETURNING);
			/* Tasks may have switched among themselves: the one that came
			 * back to the worker is the current one now. */
			t = orca__worker_running(w);
			reason = (enum orca__exit)t->exit_reason;
		}
	} else {
		reason = stackless_poll(t) ? ORCA_EXIT_DONE : ORCA_EXIT_PENDING;
	}
	if (__builtin_expect(w->poll_t0 != 0, 0))
		poll_timing_end(w); /* back in the worker loop: a timed poll ends here */
	orca__worker_set_running(w, NULL);
	task_after_run(w, t, reason);
}

/* What becomes of a task that stopped running: finished, yielded, or suspended
 * (re-queued at once if it was woken while it ran). */
static void task_after_run(orca__worker *w, orca__task *t, enum orca__exit reason)
{
	switch (reason) {
	case ORCA_EXIT_DONE:
		task_complete(t);
		break;
	case ORCA_EXIT_YIELD:
		/* It stays RUNNING in the queue (task_state.h, transition_to_running). */
		if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &w->rt->inject))
			orca__panic("task: run queue overflow refused while the runtime runs");
		break;
	case ORCA_EXIT_PENDING:
		/* Stamped before the transition: once idle, a wake may stamp it ready. */
		orca__task_stamp(t, w->clock);
		if (orca__st_transition_to_idle(&t->state) == ORCA_ST_IDLE_NOTIFIED) {
			/* Woken while it ran: it goes to the back, like a yield. */
			if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &w->rt->inject))
				orca__panic("task: run queue overflow refused while the runtime runs");
		}
		break;
	}
}

/* Gives a finished stackful task's stack to the pool of the worker it finished on
 * (a worker of its runtime: tasks run nowhere else). Only once nothing runs on it. */
static void stack_release(orca__stackful_task *sf)
{
	if (!sf->map)
		return; /* it ended at its first run without one (-ENOMEM) */
	orca__ctx_destroy(&sf->ctx);
	orca__stack_pool_put(&orca__worker_current()->stacks, sf->map);
	sf->map = NULL;
}

static void task_complete(orca__task *t)
{
	/* Called off t's stack (from the worker loop, or from the task that landed
	 * after t's last switch), so the stack is free to go now. */
	if (t->kind == ORCA_TASK_STACKFUL)
		stack_release((orca__stackful_task *)t);
	uint64_t prev = orca__st_transition_to_complete(&t->state);
	if ((prev & ORCA_ST_JOIN_INTEREST) && (prev & ORCA_ST_JOIN_WAKER)) {
		orca_waker_wake_by_ref(&t->join_waker);
		uint64_t s = orca__st_unset_join_waker_after_complete(&t->state);
		if (!(s & ORCA_ST_JOIN_INTEREST))
			orca_waker_drop(&t->join_waker);
	}
	orca__owned_remove(t);
	/* The owned list's reference and the queue entry's. */
	if (orca__st_ref_dec(&t->state, 2))
		task_free(t);
}

static void task_free(orca__task *t)
{
	/* A stack is taken at the first run and given back at completion; a task is
	 * freed only after it completed or without ever having run. */
	if (t->kind == ORCA_TASK_STACKFUL && ((orca__stackful_task *)t)->map)
		orca__panic("task: freed while it still holds its stack");
	free(t);
}

/* ---- join ----------------------------------------------------------------------- */

static orca_poll join_pending(orca__task *t, const orca_context *cx)
{
	orca__note_wait(cx, "join", ORCA__WAIT_TASK, (int64_t)t->id);
	return ORCA_PENDING;
}

/* Polls for the task's completion. On READY *status is 0 or -ECANCELED and *value
 * the task's result. */
static orca_poll join_poll(orca__task *t, orca_context *cx, int *status, intptr_t *value)
{
	uint64_t snap = atomic_load_explicit(&t->state, memory_order_acquire);
	if (!(snap & ORCA_ST_COMPLETE)) {
		if (!(snap & ORCA_ST_JOIN_WAKER)) {
			/* The slot is ours: fill it, then hand it to the task side. */
			t->join_waker = orca_waker_clone(cx->waker);
			if (orca__st_set_join_waker(&t->state, &snap))
				return join_pending(t, cx);
			orca_waker_drop(&t->join_waker);
		} else if (orca_waker_will_wake(&t->join_waker, cx->waker)) {
			return join_pending(t, cx);
		} else if (orca__st_unset_join_waker(&t->state, &snap)) {
			orca_waker_drop(&t->join_waker);
			t->join_waker = orca_waker_clone(cx->waker);
			if (orca__st_set_join_waker(&t->state, &snap))
				return join_pending(t, cx);
			orca_waker_drop(&t->join_waker);
		}
	}
	*status = (snap & ORCA_ST_CANCELLED) ? -ECANCELED : 0;
	*value = t->result;
	return ORCA_READY;
}

static orca_poll join_future_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	int status;
	intptr_t value;
	if (join_poll((orca__task *)(void *)f, cx, &status, &value) == ORCA_PENDING)
		return ORCA_PENDING;
	*out = status ? status : value;
	return ORCA_READY;
}

/* The future orca_join awaits: keeps status and value apart. */
typedef struct join_wait {
	orca_future base;
	orca__task *t;
	int status;
	intptr_t value;
} join_wait;

static orca_poll join_wait_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	join_wait *j = (join_wait *)f;
	if (join_poll(j->t, cx, &j->status, &j->value) == ORCA_PENDING)
		return ORCA_PENDING;
	*out = 0;
	return ORCA_READY;
}
static const orca_future_vtable join_wait_vtable = {.poll = join_wait_poll};

int orca_join(orca_task *handle, intptr_t *result)
{
	if (!handle)
		return -EINVAL;
	orca__task *t = (orca__task *)handle;
	join_wait j = {.base = {&join_wait_vtable}, .t = t, .status = 0, .value = 0};
	orca__task *self = orca__task_current();
	intptr_t r;
	if (self && self->kind == ORCA_TASK_STACKFUL) {
		r = orca_await(&j.base);
	} else if (orca__worker_current()) {
		return -EDEADLK; /* a worker outside a task (a stackless poll) must not block */
	} else {
		r = orca__block_on_future(&j.base);
	}
	orca_detach(handle);
	if (r < 0)
		return (int)r; /* the joining task was aborted */
	if (result && j.status == 0)
		*result = j.value;
	return j.status;
}

int orca_detach(orca_task *handle)
{
	if (!handle)
		return -EINVAL;
	orca__task *t = (orca__task *)handle;
	orca_runtime *rt = t->rt;
	if (orca__st_transition_to_join_handle_dropped(&t->state))
		orca_waker_drop(&t->join_waker);
	/* Count the handle released before the last reference can go: free() of the
	 * runtime waits for handles == 0 and must not see the task later. */
	atomic_fetch_sub_explicit(&rt->handles, 1, memory_order_release);
	orca__task_drop_ref(t);
	return 0;
}

int orca_abort(orca_task *handle)
{
	if (!handle)
		return -EINVAL;
	orca__task *t = (orca__task *)handle;
	if (orca__st_transition_to_notified_and_cancel(&t->state) == ORCA_ST_SUBMIT)
		orca__schedule(t);
	return 0;
}

bool orca_task_is_finished(const orca_task *handle)
{
	if (!handle)
		return false;
	const orca__task *t = (const orca__task *)handle;
	return atomic_load_explicit(&((orca__task *)t)->state, memory_order_acquire) &
	       ORCA_ST_COMPLETE;
}

/* ---- inside a task ----------------------------------------------------------------- */

int orca_yield(void)
{
	orca__task *t = orca__task_current();
	if (!t || t->kind != ORCA_TASK_STACKFUL)
		return -EPERM;
	if (t->cancel_seen || orca__task_cancel_requested(t)) {
		t->cancel_seen = 1;
		return -ECANCELED;
	}
	orca__task_suspend(t, ORCA_EXIT_YIELD);
	if (orca__task_cancel_requested(t)) {
		t->cancel_seen = 1;
		return -ECANCELED;
	}
	return 0;
}

bool orca_task_is_cancelled(void)
{
	orca__task *t = orca__task_current();
	return t && (t->cancel_seen || orca__task_cancel_requested(t));
}

uint64_t orca_task_id(void)
{
	orca__task *t = orca__task_current();
	return t ? t->id : 0;
}

const char *orca_task_name(void)
{
	orca__task *t = orca__task_current();
	return t ? t->name : NULL;
}
