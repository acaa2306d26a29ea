/* std_async.c - the seed's C++ std::async example, in Orca.
 *
 *     int async_task() {
 *         std::this_thread::sleep_for(std::chrono::seconds(2));
 *         return 42;
 *     }
 *     int main() {
 *         std::future<int> result = std::async(std::launch::async, async_task);
 *         std::cout << "Doing some other work while waiting..." << std::endl;
 *         int value = result.get();
 *         std::cout << "The result from async_task is: " << value << std::endl;
 *     }
 *
 * This one shows the bridge between ordinary threaded C and Orca: main() is
 * not a task and never becomes one. It is a plain thread that
 *   - creates a runtime             (orca_runtime_create; std::async's thread)
 *   - spawns a task onto it         (orca_spawn_on = std::async(launch::async, f))
 *   - keeps doing its own work      (the task already runs on a worker)
 *   - waits for the result          (orca_join = future.get(): from a plain
 *                                    thread it blocks that thread)
 *   - shuts the runtime down        (orca_runtime_free)
 *
 * The difference from std::async: async_task does not occupy a thread while
 * it sleeps. orca_sleep suspends the task and the worker runs other tasks
 * meanwhile, so thousands of such waits cost thousands of small tasks, not
 * thousands of threads.
 *
 * Output:
 *     Doing some other work while waiting...
 *     The result from async_task is: 42
 */
#include <orca/orca.h>
#include <stdio.h>

static intptr_t async_task(void *arg)
{
	(void)arg;
	int err = orca_sleep(ORCA_SEC(2)); /* simulate a time-consuming task */
	if (err < 0)
		return err;
	return 42; /* return some result */
}

int main(void)
{
	orca_runtime *rt;
	int err = orca_runtime_create(&rt, NULL); /* NULL: defaults, one worker per CPU */
	if (err < 0) {
		fprintf(stderr, "orca_runtime_create: %s\n", orca_strerror(err));
		return 1;
	}

	/* Launch async_task() asynchronously; the handle plays std::future<int>. */
	orca_task *result;
	err = orca_spawn_on(rt, &result, async_task, NULL);
	if (err < 0) {
		fprintf(stderr, "orca_spawn_on: %s\n", orca_strerror(err));
		orca_runtime_free(rt);
		return 1;
	}

	printf("Doing some other work while waiting...\n");

	/* Get the result (this blocks the main thread until the task finishes). */
	intptr_t value;
	err = orca_join(result, &value);
	if (err < 0 || value < 0) {
		fprintf(stderr, "async_task: %s\n", orca_strerror(err < 0 ? err : (int)value));
		orca_runtime_free(rt);
		return 1;
	}

	printf("The result from async_task is: %d\n", (int)value);

	orca_runtime_free(rt); /* every handle is released, so this cannot be -EBUSY */
	return 0;
}
