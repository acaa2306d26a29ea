/* pipeline.c - a channel pipeline: producer -> bounded channel -> N workers ->
 * results channel -> collector. The shape of a Go worker pool, in Orca.
 *
 *   - The jobs channel is bounded (capacity 8): when the workers fall behind, the
 *     producer's orca_chan_send suspends. That is backpressure: memory stays
 *     bounded however many jobs there are.
 *   - The producer closes the jobs channel when it is done; each worker's
 *     orca_chan_recv then drains what is left and returns -EPIPE, and the worker
 *     exits. (Go: close(jobs); for j := range jobs.)
 *   - A WaitGroup counts the workers; a small task waits for it and closes the
 *     results channel, which ends the collector's loop the same way.
 *   - Messages are structs copied in and out of the channels, so no job or result
 *     is shared between threads.
 *
 * Workers run on all the runtime's threads; the output is the same every run
 * because the collector only prints totals.
 *
 * Output:
 *     pipeline: producer -> jobs (capacity 8) -> 4 workers -> results -> collector
 *     produced 200 jobs
 *     collected 200 results
 *     sum of squares 1..200 = 2686700
 *     every worker did some work: yes
 */
#include <orca/orca.h>
#include <stdio.h>

#define JOBS 200
#define WORKERS 4
#define JOB_QUEUE 8

typedef struct job {
	int n;
} job;

typedef struct result {
	int n;
	long square;
	int worker;
} result;

typedef struct pipeline {
	orca_chan *jobs;
	orca_chan *results;
	orca_waitgroup workers_running;
	int produced;
} pipeline;

typedef struct worker_arg {
	pipeline *p;
	int id;
} worker_arg;

static intptr_t producer(void *arg)
{
	pipeline *p = arg;
	for (int n = 1; n <= JOBS; n++) {
		job j = {.n = n};
		/* Suspends while 8 jobs are already waiting: backpressure. */
		if (orca_chan_send(p->jobs, &j) < 0)
			break;
		p->produced++;
	}
	orca_chan_close(p->jobs); /* no more jobs: workers drain, then stop */
	return 0;
}

static intptr_t worker(void *arg)
{
	worker_arg *w = arg;
	pipeline *p = w->p;
	job j;
	while (orca_chan_recv(p->jobs, &j) == 0) {
		/* Pretend the work takes a while (I/O, a computation). */
		if (orca_sleep(ORCA_USEC(200)) < 0)
			break;
		result r = {.n = j.n, .square = (long)j.n * j.n, .worker = w->id};
		if (orca_chan_send(p->results, &r) < 0)
			break;
	}
	orca_waitgroup_done(&p->workers_running);
	return 0;
}

/* Closes the results channel once every worker has finished. */
static intptr_t closer(void *arg)
{
	pipeline *p = arg;
	orca_waitgroup_wait(&p->workers_running);
	orca_chan_close(p->results);
	return 0;
}

static intptr_t collector(void *arg)
{
	pipeline *p = arg;
	worker_arg args[WORKERS];
	int per_worker[WORKERS] = {0};
	orca_task *prod;

	printf("pipeline: producer -> jobs (capacity %d) -> %d workers -> results -> collector\n",
	       JOB_QUEUE, WORKERS);
	orca_spawn(&prod, producer, p);
	orca_waitgroup_add(&p->workers_running, WORKERS);
	for (int i = 0; i < WORKERS; i++) {
		args[i] = (worker_arg){.p = p, .id = i};
		orca_spawn(NULL, worker, &args[i]);
	}
	orca_task *cl;
	orca_spawn(&cl, closer, p);

	/* The collector: results arrive in any order; count and sum them. */
	long sum = 0;
	int collected = 0;
	result r;
	while (orca_chan_recv(p->results, &r) == 0) {
		sum += r.square;
		per_worker[r.worker]++;
		collected++;
	}
	orca_join(prod, NULL);
	orca_join(cl, NULL);

	bool all_worked = true;
	for (int i = 0; i < WORKERS; i++)
		all_worked = all_worked && per_worker[i] > 0;
	printf("produced %d jobs\n", p->produced);
	printf("collected %d results\n", collected);
	printf("sum of squares 1..%d = %ld\n", JOBS, sum);
	printf("every worker did some work: %s\n", all_worked ? "yes" : "no");
	return collected == JOBS ? 0 : 1;
}

int main(void)
{
	pipeline p = {.produced = 0};
	int err = orca_chan_create(&p.jobs, sizeof(job), JOB_QUEUE);
	if (err == 0)
		err = orca_chan_create(&p.results, sizeof(result), JOB_QUEUE);
	if (err == 0)
		err = orca_waitgroup_init(&p.workers_running);
	intptr_t status = 1;
	if (err == 0)
		err = orca_run(collector, &p, &status);
	if (err < 0) {
		fprintf(stderr, "pipeline: %s\n", orca_strerror(err));
		return 1;
	}
	orca_chan_release(p.jobs);
	orca_chan_release(p.results);
	return status == 0 ? 0 : 1;
}
