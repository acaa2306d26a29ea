/* create_task.c - the seed's asyncio.create_task example, in Orca.
 *
 *     async def fetch_data():                   async def main():
 *         print("Fetching data...")                 task1 = asyncio.create_task(fetch_data())
 *         await asyncio.sleep(2)                    task2 = asyncio.create_task(process_data())
 *         print("Data fetched!")                    await task1
 *                                                   await task2
 *     async def process_data():
 *         print("Processing data...")           asyncio.run(main())
 *         await asyncio.sleep(1)
 *         print("Data processed!")
 *
 * asyncio.create_task  ->  orca_spawn(&handle, fn, arg)
 * await task           ->  orca_join(handle, &result)
 *
 * The two tasks wait at the same time, so the program takes about 2 seconds
 * (the longer sleep), not 3 (the sum): the last line prints the elapsed time
 * to show it.
 *
 * One difference from asyncio: asyncio starts tasks in creation order, so
 * "Fetching data..." comes first. Orca, like Tokio, runs the task spawned last
 * next on the same worker (its LIFO slot, good for message-passing latency),
 * so "Processing data..." usually comes first; and with one worker per CPU
 * another worker may steal a task and start it at the same moment. The order
 * of the two starting lines is therefore not fixed. The completions are
 * ordered by time (1 s before 2 s).
 *
 * Output (the first two lines in either order):
 *     Processing data...
 *     Fetching data...
 *     Data processed!
 *     Data fetched!
 *     elapsed: 2.00 s
 */
#include <orca/orca.h>
#include <stdio.h>

static intptr_t fetch_data(void *arg)
{
	(void)arg;
	printf("Fetching data...\n");
	int err = orca_sleep(ORCA_SEC(2)); /* simulating a time-consuming operation */
	if (err < 0)
		return err;
	printf("Data fetched!\n");
	return 0;
}

static intptr_t process_data(void *arg)
{
	(void)arg;
	printf("Processing data...\n");
	int err = orca_sleep(ORCA_SEC(1)); /* simulate processing */
	if (err < 0)
		return err;
	printf("Data processed!\n");
	return 0;
}

static intptr_t main_task(void *arg)
{
	(void)arg;
	int64_t start = orca_now();

	/* Run tasks concurrently: both start right away. */
	orca_task *task1, *task2;
	int err = orca_spawn(&task1, fetch_data, NULL);
	if (err < 0)
		return err;
	err = orca_spawn(&task2, process_data, NULL);
	if (err < 0) {
		orca_join(task1, NULL);
		return err;
	}

	/* Wait for both tasks to finish. Each join suspends main_task until that
	 * task is done, and releases the handle. */
	intptr_t r1 = 0, r2 = 0;
	int e1 = orca_join(task1, &r1);
	int e2 = orca_join(task2, &r2);
	if (e1 < 0 || r1 < 0)
		return e1 < 0 ? e1 : r1;
	if (e2 < 0 || r2 < 0)
		return e2 < 0 ? e2 : r2;

	printf("elapsed: %.2f s\n", (double)(orca_now() - start) / 1e9);
	return 0;
}

int main(void)
{
	intptr_t result;
	int err = orca_run(main_task, NULL, &result); /* asyncio.run(main()) */
	if (err < 0 || result < 0) {
		fprintf(stderr, "create_task: %s\n", orca_strerror(err < 0 ? err : (int)result));
		return 1;
	}
	return 0;
}
