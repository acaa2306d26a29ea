/* tiny_executor.c - the seed's "minimal single-thread executor" and its
 * block_on example, in Orca.
 *
 * The seed builds, with the Rust standard library only, an Executor that
 * holds a queue of boxed futures and polls them on one thread, with a dummy
 * waker (a pending task is requeued and polled again at once, busy-looping):
 *
 *     async fn example() { println!("Hello from async executor!"); }
 *     fn main() { let mut ex = Executor::new(); ex.spawn(example()); ex.run(); }
 *
 * and a block_on() that polls one future to completion:
 *
 *     async fn hello() -> i32 { 10 }
 *     fn main() { let result = block_on(hello()); println!("Result: {}", result); }
 *
 * In Orca the executor is a runtime with one worker: the "current thread"
 * flavour (orca_config.workers = 1), same code as the multi-threaded one.
 *
 * Part 1 is a stackless task: the task *is* a hand-written future, a C struct
 * whose first member is the vtable pointer, polled directly by the worker with
 * no stack of its own (Rust's impl Future, written out by hand). Unlike the
 * seed's dummy waker, Orca's waker is real: a future that returns
 * ORCA_PENDING is polled again only after something wakes it. To show that,
 * this future says "not yet" once, waking itself first (the way a yield
 * works); a timer or an I/O completion would call the same wake.
 *
 * Part 2 is block_on: orca_block_on runs a stackful function as a task and
 * blocks the calling plain thread until it returns.
 *
 * Output:
 *     Hello from async executor!
 *     Result: 10
 */
#include <orca/orca.h>
#include <stdio.h>

/* ---- Part 1: a hand-written future, run as a stackless task ---- */

typedef struct example_future {
	orca_future base; /* must come first: the vtable pointer */
	int polls;        /* the future's own state, carried between polls */
} example_future;

static orca_poll example_poll(orca_future *self, orca_context *cx, intptr_t *out)
{
	example_future *f = (example_future *)self;
	if (f->polls++ == 0) {
		/* Not ready yet. Arrange to be polled again: wake our own task.
		 * (Returning ORCA_PENDING without arranging a wake-up would leave
		 * the task asleep forever - there is no busy-loop to rescue it.) */
		orca_waker_wake_by_ref(cx->waker);
		return ORCA_PENDING;
	}
	printf("Hello from async executor!\n");
	*out = 0; /* the task's result */
	return ORCA_READY;
}

static const orca_future_vtable example_vtable = {
	.poll = example_poll, /* cancel and drop: none needed, nothing to release */
};

/* ---- Part 2: block_on(hello()) ---- */

static intptr_t hello(void *arg)
{
	(void)arg;
	return 10;
}

int main(void)
{
	/* Executor::new(): a runtime with a single worker thread. */
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 1;
	orca_runtime *rt;
	int err = orca_runtime_create(&rt, &cfg);
	if (err < 0) {
		fprintf(stderr, "orca_runtime_create: %s\n", orca_strerror(err));
		return 1;
	}

	/* ex.spawn(example()): the runtime copies the struct into the task, so a
	 * local is fine here. */
	example_future example = {.base = {.vtable = &example_vtable}, .polls = 0};
	orca_task *task;
	err = orca_spawn_future_on(rt, &task, &example.base, sizeof example);
	if (err < 0) {
		fprintf(stderr, "orca_spawn_future_on: %s\n", orca_strerror(err));
		orca_runtime_free(rt);
		return 1;
	}
	/* ex.run(): here, wait from this thread until the task is done. */
	err = orca_join(task, NULL);
	if (err < 0) {
		fprintf(stderr, "orca_join: %s\n", orca_strerror(err));
		orca_runtime_free(rt);
		return 1;
	}

	/* let result = block_on(hello()); */
	intptr_t result;
	err = orca_block_on(rt, hello, NULL, &result);
	if (err < 0) {
		fprintf(stderr, "orca_block_on: %s\n", orca_strerror(err));
		orca_runtime_free(rt);
		return 1;
	}
	printf("Result: %d\n", (int)result);

	orca_runtime_free(rt);
	return 0;
}
