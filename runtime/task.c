/* Tasks: creation, the waker, running, completion, join, detach, abort and freeing.
 * The state word's transitions are in task_state.h; this file decides what to do
 * with their outcomes. */
#include <errno.h>
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

void orca__task_drop_ref(orca__task *t)
{
	if (orca__st_ref_dec(&t->state, 1))
		task_free(t);
}

/* ---- owned list ------------------------------------------------------------- */

static orca__owned_shard *shard_of(orca_runtime *rt, orca__task *t)
{
	return &rt->owned[t->id % ORCA_OWNED_SHARDS];
}

void orca__owned_insert(orca_runtime *rt, orca__task *t, bool *refused)
{
	orca__owned_shard *s = shard_of(rt, t);
	pthread_mutex_lock(&s->lock);
	/* Checked under the shard lock: shutdown sets the flag before walking the
	 * shards, so a task is either refused here or seen (and aborted) there. */
	if (atomic_load_explicit(&rt->shutting_down, memory_order_acquire)) {
		pthread_mutex_unlock(&s->lock);
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

static void task_header_init(orca__task *t, orca_runtime *rt, int kind, bool handle)
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

static int spawn_stackful(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg)
{
	if (handle)
		*handle = NULL;
	if (!rt || !fn)
		return -EINVAL;
	if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
		return -ESHUTDOWN;
	orca__worker *w = orca__worker_current();
	void *map = (w && w->rt == rt) ? orca__stack_pool_get(&w->stacks) : NULL;
	if (!map) {
		map = orca__stack_map(rt->stack_map_size);
		if (!map)
			return -ENOMEM;
	}
	size_t header = (sizeof(orca__stackful_task) + 63) & ~(size_t)63;
	orca__stackful_task *sf =
		(orca__stackful_task *)(void *)((char *)map + rt->stack_map_size - header);
	task_header_init(&sf->t, rt, ORCA_TASK_STACKFUL, handle != NULL);
	sf->fn = fn;
	sf->arg = arg;
	sf->map = map;
	sf->map_size = rt->stack_map_size;
	char *bottom = (char *)map + orca__page_size();
	orca__ctx_make(&sf->ctx, bottom, (size_t)((char *)sf - bottom), stackful_entry, sf);
	return task_launch(rt, &sf->t, handle);
}

int orca_spawn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg)
{
	return spawn_stackful(rt, handle, fn, arg);
}

int orca_spawn(orca_task **handle, orca_task_fn fn, void *arg)
{
	orca__worker *w = orca__worker_current();
	if (!w) {
		if (handle)
			*handle = NULL;
		return fn ? -EPERM : -EINVAL;
	}
	return spawn_stackful(w->rt, handle, fn, arg);
}

#define ORCA_MAX_FUTURE_SIZE (64 * 1024)

int orca_spawn_future_on(orca_runtime *rt, orca_task **handle, const orca_future *f, size_t size)
{
	if (handle)
		*handle = NULL;
	if (!rt || !f || !f->vtable || !f->vtable->poll || size < sizeof(orca_future) ||
	    size > ORCA_MAX_FUTURE_SIZE)
		return -EINVAL;
	if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
		return -ESHUTDOWN;
	orca__stackless_task *sl = malloc(sizeof(*sl) + size);
	if (!sl)
		return -ENOMEM;
	task_header_init(&sl->t, rt, ORCA_TASK_STACKLESS, handle != NULL);
	memcpy(sl->future, f, size);
	return task_launch(rt, &sl->t, handle);
}

int orca_spawn_future(orca_task **handle, const orca_future *f, size_t size)
{
	orca__worker *w = orca__worker_current();
	if (!w) {
		if (handle)
			*handle = NULL;
		return f ? -EPERM : -EINVAL;
	}
	return orca_spawn_future_on(w->rt, handle, f, size);
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

void orca__task_suspend(orca__task *t, enum orca__exit reason)
{
	orca__stackful_task *sf = (orca__stackful_task *)t;
	t->exit_reason = (uint8_t)reason;
	orca__worker *w = orca__worker_current();
	/* Straight to the next local task when there is one: one context switch
	 * instead of two (task -> worker -> task). t's suspension is published by
	 * whoever lands next (task_landed), once nothing runs on t's stack. */
	w->current = NULL; /* wakes from here on are not "by the running task" */
	orca__task *next = orca__worker_next_direct(w);
	if (next) {
		orca__st_transition_to_running(&next->state);
		w->switched_from = t;
		w->current = next;
		orca__ctx_jump(&sf->ctx, &((orca__stackful_task *)next)->ctx, ORCA_CTX_RETURNING);
	} else {
		w->current = t; /* the worker finds the suspended task here */
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
	w->current = t;
	enum orca__exit reason;
	if (t->kind == ORCA_TASK_STACKFUL) {
		orca__stackful_task *sf = (orca__stackful_task *)t;
		orca__ctx_jump(&w->ctx, &sf->ctx, ORCA_CTX_RETURNING);
		/* Tasks may have switched among themselves: the one that came back to
		 * the worker is the current one now. */
		t = w->current;
		reason = (enum orca__exit)t->exit_reason;
	} else {
		reason = stackless_poll(t) ? ORCA_EXIT_DONE : ORCA_EXIT_PENDING;
	}
	w->current = NULL;
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
		orca__st_transition_to_yielded(&t->state);
		if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &w->rt->inject))
			orca__panic("task: run queue overflow refused while the runtime runs");
		break;
	case ORCA_EXIT_PENDING:
		if (orca__st_transition_to_idle(&t->state) == ORCA_ST_IDLE_NOTIFIED) {
			/* Woken while it ran: it goes to the back, like a yield. */
			if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &w->rt->inject))
				orca__panic("task: run queue overflow refused while the runtime runs");
		}
		break;
	}
}

static void task_complete(orca__task *t)
{
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
	if (t->kind == ORCA_TASK_STACKFUL) {
		orca__stackful_task *sf = (orca__stackful_task *)t;
		orca__ctx_destroy(&sf->ctx);
		void *map = sf->map;
		size_t size = sf->map_size;
		orca__worker *w = orca__worker_current();
		/* Only a worker of the same runtime may pool it (and only then is t->rt
		 * known to be alive). */
		if (w && w->rt == t->rt && w->stacks.map_size == size)
			orca__stack_pool_put(&w->stacks, map);
		else
			orca__stack_unmap(map, size);
	} else {
		free(t);
	}
}

/* ---- join ----------------------------------------------------------------------- */

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
				return ORCA_PENDING;
			orca_waker_drop(&t->join_waker);
		} else if (orca_waker_will_wake(&t->join_waker, cx->waker)) {
			return ORCA_PENDING;
		} else if (orca__st_unset_join_waker(&t->state, &snap)) {
			orca_waker_drop(&t->join_waker);
			t->join_waker = orca_waker_clone(cx->waker);
			if (orca__st_set_join_waker(&t->state, &snap))
				return ORCA_PENDING;
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
