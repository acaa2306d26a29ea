/* The runtime's internal shapes: tasks, workers and the runtime itself, and the
 * calls the runtime's files make on each other. Nothing here is public. */
#ifndef ORCA_RUNTIME_SCHEDULER_H
#define ORCA_RUNTIME_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <orca/orca.h>

#include "blocking_pool.h"
#include "context.h"
#include "idle.h"
#include "inject_queue.h"
#include "observe.h"
#include "queue_node.h"
#include "run_queue.h"
#include "stack.h"
#include "task_state.h"
#include "timer.h"

enum orca__task_kind { ORCA_TASK_STACKFUL = 1, ORCA_TASK_STACKLESS = 2 };

/* Why a stackful task switched back to its worker. */
enum orca__exit { ORCA_EXIT_PENDING = 0, ORCA_EXIT_YIELD = 1, ORCA_EXIT_DONE = 2 };

/* The header both kinds of task share. The join handle (orca_task *) points here,
 * and join_vtable comes first so that the handle is also a future. */
typedef struct orca__task {
	const orca_future_vtable *join_vtable;
	_Atomic uint64_t state;          /* task_state.h */
	orca__qnode qnode;               /* run queue / inject link */
	struct orca__task *owned_prev;   /* owned list, under the shard's lock */
	struct orca__task *owned_next;
	orca_runtime *rt;
	uint64_t id;
	intptr_t result;                 /* written before COMPLETE */
	orca_waker join_waker;           /* ownership per JOIN_WAKER */
	uint8_t kind;
	uint8_t cancel_seen;             /* the task has observed its abort */
	uint8_t exit_reason;             /* enum orca__exit, stackful only */
	uint8_t future_done;             /* stackless: future returned READY or was dropped */
	uint8_t future_cancelling;       /* stackless: cancel hook called, awaiting READY */
	uint8_t select_rotation;         /* where orca_select starts polling next */
	_Atomic uint8_t wait_fmt;        /* enum orca__wait_fmt of wait_detail (observe.h) */
	/* Observability (observe.h). name and spawned_at are set before the task is
	 * published and never change; the rest are written by whoever runs or
	 * schedules it and read by the dump, hence relaxed atomics (plain moves). */
	const char *name;                /* NULL: unnamed */
	int64_t spawned_at;
	_Atomic int64_t since;           /* when it last went waiting, or became ready */
	_Atomic(const char *) wait_what; /* what its last poll waits on; NULL: not said */
	_Atomic int64_t wait_detail;
} orca__task;

typedef struct orca__stackful_task {
	orca__task t;
	orca__ctx ctx;
	orca_task_fn fn;
	void *arg;
	void *map; /* its stack mapping (guard page first); NULL once it finished */
	size_t map_size;
	char name_buf[ORCA_TASK_NAME_MAX]; /* a copied name (orca_spawn_named) */
} orca__stackful_task;

typedef struct orca__stackless_task {
	orca__task t;
	_Alignas(16) unsigned char future[];
} orca__stackless_task;

#define ORCA_OWNED_SHARDS 64

typedef struct orca__owned_shard {
	pthread_mutex_t lock;
	orca__task *head;
} orca__owned_shard;

typedef struct orca__worker {
	orca__run_queue rq; /* first: it is cache-line aligned */
	orca_runtime *rt;
	unsigned index;
	pthread_t thread;
	pid_t tid;             /* the thread's id (gettid), for the watchdog */
	orca__ctx ctx;         /* the worker's own (thread) context */
	/* The task being run: owner-written (relaxed), read by the dump and the
	 * watchdog (observe.h, steps 1-3). */
	_Atomic(orca__task *) current;
	orca__task *switched_from; /* a task that switched straight to another */
	orca__task *lifo;      /* the task woken last by the running one, owner only */
	unsigned lifo_polls;   /* consecutive LIFO-slot runs */
	bool searching;
	bool reaping; /* handling its driver's completions: wakes queue without notifying */
	uint32_t maintenance_in;     /* ticks until the next maintenance tick */
	struct orca__task *handoff;  /* a stackless task popped by next_direct */
	uint64_t rng;
	struct orca__driver *driver;   /* io/driver.h, of the runtime's backend */
	int driver_err;                /* why driver is NULL (the runtime then fails) */
	orca__timer_heap timers;
	/* While parked: the deadline it sleeps until (INT64_MAX: none); see
	 * worker.c "Timers across workers". ORCA_NOT_PARKED while running. */
	_Atomic int64_t park_deadline;
	orca__stack_pool stacks;
	void *altstack; /* signal stack for the stack-overflow handler */
	size_t altstack_size;
	int64_t clock;   /* owner: cached orca_now() (observe.h) */
	int64_t poll_t0; /* owner: start of the poll being timed; 0: none */
	orca__worker_stats stats;
} orca__worker;

struct orca_runtime {
	unsigned nworkers;
	int backend; /* io/driver.h ORCA__BACKEND_*: chosen once, every worker's driver */
	orca__worker **workers;
	orca__inject inject;
	orca__idle idle;
	orca__owned_shard owned[ORCA_OWNED_SHARDS];
	orca__blocking_pool blocking;
	orca__stack_depot stack_depot; /* spare stacks shared by the workers */
	_Atomic uint64_t next_id;
	_Atomic size_t alive;   /* tasks not yet complete */
	_Atomic size_t handles; /* join handles not yet released */
	_Atomic int shutting_down;
	_Atomic int stop; /* workers exit their loops */
	int workers_joined;
	size_t stack_size;
	size_t stack_map_size;
	unsigned stack_cache;
	pthread_mutex_t shutdown_lock;
	pthread_cond_t shutdown_cond; /* also signals workers that finished starting */
	unsigned workers_ready;       /* under shutdown_lock */
	orca__observer observer;
};

/* The worker the calling thread is, or NULL. Not inlined, and not treated as pure:
 * a task can move to another worker thread across any suspension, so the thread
 * pointer must be read afresh after each (GCC PR 26461). */
orca__worker *orca__worker_current(void);
/* The task running on the calling thread, or NULL. */
orca__task *orca__task_current(void);

/* The task running on worker w (relaxed: see observe.h). */
static inline orca__task *orca__worker_running(orca__worker *w)
{
	return atomic_load_explicit(&w->current, memory_order_relaxed);
}
static inline void orca__worker_set_running(orca__worker *w, orca__task *t)
{
	atomic_store_explicit(&w->current, t, memory_order_relaxed);
}

/* Before each poll of a future for task t: forget what the last poll waited on
 * (observe.h). */
static inline void orca__wait_clear(orca__task *t)
{
	atomic_store_explicit(&t->wait_what, NULL, memory_order_relaxed);
}

/* The worker's cached clock (observe.h), or the real one off a worker. */
static inline int64_t orca__cached_now(orca__worker *w)
{
	return w ? w->clock : orca_now();
}

/* A task became ready (spawned or woken from waiting) or went waiting. */
static inline void orca__task_stamp(orca__task *t, int64_t now)
{
	atomic_store_explicit(&t->since, now, memory_order_relaxed);
}

/* The owned-list shard of a task: by address (Fibonacci hashing), so that the
 * watchdog can find it from the pointer alone (observe.h step 3). */
static inline unsigned orca__owned_shard_index(const orca__task *t)
{
	return (unsigned)(((uintptr_t)t * 0x9E3779B97F4A7C15ull) >> 58) % ORCA_OWNED_SHARDS;
}

/* Copies name into buf (ORCA_TASK_NAME_MAX bytes), cut at a UTF-8 boundary;
 * returns buf, or NULL for a NULL or empty name. */
const char *orca__task_name_copy(char *buf, const char *name);

/* A name from the naming macros (include/orca/task.h): the first argument
 * spelled out, which for a C++ lambda is a fragment of its text. */
static inline const char *orca__static_name(const char *name)
{
	return name && name[0] == '[' ? "(lambda)" : name;
}

/* Spawns with a name that is kept by pointer (static) or copied. */
int orca__spawn_stackful(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg,
			 const char *name, bool copy_name);
int orca__spawn_future(orca_runtime *rt, orca_task **handle, const orca_future *f, size_t size,
		       const char *name, bool copy_name);

/* Queues a task that was just made NOTIFIED (with a reference for the queue). From
 * one of its runtime's workers it goes to that worker (the LIFO slot when woken by a
 * running task); from anywhere else to the inject queue, waking a parked worker. */
void orca__schedule(orca__task *t);

/* The waker of task t (not a new reference: borrowed for one poll). */
orca_waker orca__task_waker_ref(orca__task *t);

/* Stackful task side: switch back to the worker with the given reason. Returns when
 * the task is run again (possibly on another worker). */
void orca__task_suspend(orca__task *t, enum orca__exit reason);

/* orca_now() + d, saturating at INT64_MAX (a timeout too long to overflow means
 * "never"). */
static inline int64_t orca__deadline_after(int64_t d)
{
	int64_t now = orca_now();
	return d > INT64_MAX - now ? INT64_MAX : now + d;
}

/* True if abort was requested for t. */
static inline bool orca__task_cancel_requested(orca__task *t)
{
	return atomic_load_explicit(&t->state, memory_order_acquire) & ORCA_ST_CANCELLED;
}

/* A NOTIFIED stackful task from w's LIFO slot or local queue for a task that is
 * suspending to switch to directly, or NULL when the worker should take over
 * (maintenance is due, the queue is empty, or the next task is stackless). */
orca__task *orca__worker_next_direct(orca__worker *w);

/* Runs a NOTIFIED task on worker w (which popped it from a queue). */
void orca__task_run(orca__worker *w, orca__task *t);

/* Drops one reference; frees the task if it was the last. */
void orca__task_drop_ref(orca__task *t);

/* The runtime's tasks that are not complete (for shutdown). */
void orca__owned_insert(orca_runtime *rt, orca__task *t, bool *refused);
void orca__owned_remove(orca__task *t);

#define ORCA_NOT_PARKED INT64_MIN
#define ORCA_PARKING (INT64_MIN + 1)

/* Worker w just armed a timer that is now its heap's earliest: wake any parked
 * worker that would otherwise sleep past it. */
void orca__timer_armed_earliest(orca__worker *w, int64_t deadline);

/* Wakes worker w if it is parked (or makes its next park return at once). */
void orca__worker_unpark(orca__worker *w);

/* The worker thread's body. */
void *orca__worker_main(void *arg);
/* Wakes a parked worker if there is work it could take (idle.h step 2). */
void orca__notify_parked(orca_runtime *rt);

/* Installs the process-wide stack-overflow handler (once) and this thread's signal
 * stack. */
int orca__overflow_guard_install_thread(orca__worker *w);
void orca__overflow_guard_remove_thread(orca__worker *w);

/* Blocks the calling plain thread until future f is ready (thread_waker.c: a
 * futex-backed waker). */
intptr_t orca__block_on_future(orca_future *f);

#endif
