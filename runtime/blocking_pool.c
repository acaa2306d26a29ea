/* The blocking pool (include/orca/blocking.h): an elastic set of plain threads per
 * runtime for code that blocks. A blocking job is a stackless task whose future
 * hands the job to the pool on its first poll and is woken when a pool thread has
 * run it, so join, detach, abort and select work exactly as for any task.
 *
 * Protocol (pool->lock guards the queue, the counters and each job's state/waker):
 *  1. first poll: store a waker clone, queue the job, start a thread if none is
 *     idle and the cap allows, signal one idle thread.
 *  2. a pool thread takes the oldest job (state RUNNING), runs it unlocked, stores
 *     the result (state DONE), takes the waker, unlocks, then wakes. The job's memory
 *     is not touched after the unlock: the task may finish and free it at once.
 *  3. cancel (abort of the task): a QUEUED job is unlinked and finishes with
 *     -ECANCELED; a RUNNING job cannot be stopped, the task waits for it.
 *  4. idle threads wait keep_alive (10 s by default) for work, then exit; shutdown wakes them all and waits
 *     until every thread has exited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking_pool.h"
#include "scheduler.h"

#define ORCA_BLOCKING_IDLE_NS ORCA_SEC(10)

enum { JOB_NEW = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct blocking_job {
	orca_future base;
	orca_task_fn fn;
	void *arg;
	orca__blocking_pool *pool;
	int state; /* under pool->lock once queued */
	intptr_t result;
	orca_waker waker;
	struct blocking_job *next;
} blocking_job;

int orca__blocking_pool_init(orca__blocking_pool *p, unsigned max_threads, int64_t keep_alive_ns)
{
	memset(p, 0, sizeof(*p));
	p->max_threads = max_threads ? max_threads : 512;
	p->keep_alive_ns = keep_alive_ns > 0 ? keep_alive_ns : ORCA_BLOCKING_IDLE_NS;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->work, &ca);
	pthread_cond_init(&p->exited, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

static void *pool_thread(void *arg)
{
	orca__blocking_pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t deadline = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + p->keep_alive_ns;
			ts.tv_sec = deadline / 1000000000;
			ts.tv_nsec = deadline % 1000000000;
			p->idle++;
			int r = pthread_cond_timedwait(&p->work, &p->lock, &ts);
			p->idle--;
			if (r == ETIMEDOUT && !p->head)
				goto out; /* step 4: idle too long */
		}
		if (!p->head)
			break; /* stopping and nothing left */
		blocking_job *job = p->head;
		p->head = job->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		job->state = JOB_RUNNING;
		pthread_mutex_unlock(&p->lock);
		intptr_t r = job->fn(job->arg); /* step 2, unlocked */
		pthread_mutex_lock(&p->lock);
		job->result = r;
		job->state = JOB_DONE;
		orca_waker w = job->waker;
		job->waker = (orca_waker){0};
		pthread_mutex_unlock(&p->lock);
		orca_waker_wake(&w);
		pthread_mutex_lock(&p->lock);
	}
out:
	p->threads--;
	pthread_cond_broadcast(&p->exited);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static orca_poll job_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	blocking_job *job = (blocking_job *)f;
	orca__blocking_pool *p = job->pool;
	pthread_mutex_lock(&p->lock);
	if (job->state == JOB_DONE) {
		*out = job->result;
		pthread_mutex_unlock(&p->lock);
		return ORCA_READY;
	}
	if (job->state == JOB_NEW) {
		/* Step 1. */
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			*out = -ESHUTDOWN;
			return ORCA_READY;
		}
		job->waker = orca_waker_clone(cx->waker);
		job->state = JOB_QUEUED;
		job->next = NULL;
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->queued++;
		if (p->idle < p->queued && p->threads < p->max_threads) {
			pthread_t th;
			pthread_attr_t attr;
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&th, &attr, pool_thread, p) == 0)
				p->threads++;
			pthread_attr_destroy(&attr);
			if (p->threads == 0) {
				/* No thread and none could start: fail this job. */
				p->head = p->tail = NULL;
				p->queued = 0;
				job->state = JOB_DONE;
				orca_waker_drop(&job->waker);
				pthread_mutex_unlock(&p->lock);
				*out = -EAGAIN;
				return ORCA_READY;
			}
		}
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->lock);
		orca__note_wait(cx, "blocking pool (queued)", ORCA__WAIT_PLAIN, 0);
		return ORCA_PENDING;
	}
	if (!orca_waker_will_wake(&job->waker, cx->waker)) {
		orca_waker_drop(&job->waker);
		job->waker = orca_waker_clone(cx->waker);
	}
	bool running = job->state == JOB_RUNNING;
	pthread_mutex_unlock(&p->lock);
	orca__note_wait(cx, running ? "blocking pool (running)" : "blocking pool (queued)",
			ORCA__WAIT_PLAIN, 0);
	return ORCA_PENDING;
}

static void job_cancel(orca_future *f)
{
	blocking_job *job = (blocking_job *)f;
	orca__blocking_pool *p = job->pool;
	orca_waker w = {0};
	pthread_mutex_lock(&p->lock);
	if (job->state == JOB_QUEUED) {
		/* Step 3: unlink it. */
		blocking_job **pp = &p->head, *prev = NULL;
		while (*pp && *pp != job) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			*pp = job->next;
			if (p->tail == job)
				p->tail = prev;
			p->queued--;
		}
		job->state = JOB_DONE;
		job->result = -ECANCELED;
		w = job->waker;
		job->waker = (orca_waker){0};
	} else if (job->state == JOB_NEW) {
		job->state = JOB_DONE;
		job->result = -ECANCELED;
	}
	pthread_mutex_unlock(&p->lock);
	orca_waker_drop(&w);
}

static const orca_future_vtable job_vtable = {.poll = job_poll, .cancel = job_cancel};

int orca__spawn_blocking_fn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg,
			       const char *name)
{
	if (handle)
		*handle = NULL;
	if (!rt || !fn)
		return -EINVAL;
	blocking_job job = {.base = {&job_vtable}, .fn = fn, .arg = arg, .pool = &rt->blocking};
	return orca__spawn_future(rt, handle, &job.base, sizeof(job), name, false);
}

int orca__spawn_blocking_fn(orca_task **handle, orca_task_fn fn, void *arg, const char *name)
{
	orca_runtime *rt = orca_runtime_current();
	if (!rt) {
		if (handle)
			*handle = NULL;
		return fn ? -EPERM : -EINVAL;
	}
	return orca__spawn_blocking_fn_on(rt, handle, fn, arg, name);
}

/* The exported names (the header's macros of the same names name the task). */
int(orca_spawn_blocking_on)(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg)
{
	return orca__spawn_blocking_fn_on(rt, handle, fn, arg, NULL);
}

int(orca_spawn_blocking)(orca_task **handle, orca_task_fn fn, void *arg)
{
	return orca__spawn_blocking_fn(handle, fn, arg, NULL);
}

void orca__blocking_pool_stats(orca__blocking_pool *p, uint64_t *threads, uint64_t *idle,
			       uint64_t *queued)
{
	pthread_mutex_lock(&p->lock);
	*threads = p->threads;
	*idle = p->idle;
	*queued = p->queued;
	pthread_mutex_unlock(&p->lock);
}

void orca__blocking_pool_shutdown(orca__blocking_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	while (p->threads)
		pthread_cond_wait(&p->exited, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void orca__blocking_pool_destroy(orca__blocking_pool *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->exited);
}

unsigned orca__blocking_pool_threads(orca__blocking_pool *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->threads;
	pthread_mutex_unlock(&p->lock);
	return n;
}
