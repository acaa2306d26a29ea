/* say_hello.c - the seed's first Python example, in Orca.
 *
 *     async def say_hello():
 *         print("hello")
 *         await asyncio.sleep(1)
 *         print("goodbye")
 *
 *     asyncio.run(say_hello())
 *
 * An "async def" becomes an ordinary C function that runs as a stackful Orca
 * task: it has its own small stack, so it can call orca_sleep (or any other
 * awaiting function) and simply carry on afterwards, locals intact.
 * orca_sleep suspends the task, not the thread: while it waits, the worker
 * thread is free to run other tasks.
 *
 * orca_run is asyncio.run: it creates a runtime (one worker per CPU), runs
 * the function to completion, shuts the runtime down and frees it.
 *
 * Output:
 *     hello
 *     goodbye
 */
#include <orca/orca.h>
#include <stdio.h>

/* The task body. Its return value is what orca_run hands back. */
static intptr_t say_hello(void *arg)
{
	(void)arg;
	printf("hello\n");
	int err = orca_sleep(ORCA_SEC(1)); /* await asyncio.sleep(1) */
	if (err < 0)                       /* -ECANCELED if the task was aborted */
		return err;
	printf("goodbye\n");
	return 0;
}

int main(void)
{
	intptr_t result;
	int err = orca_run(say_hello, NULL, &result); /* asyncio.run(say_hello()) */
	if (err < 0 || result < 0) {
		fprintf(stderr, "say_hello: %s\n", orca_strerror(err < 0 ? err : (int)result));
		return 1;
	}
	return 0;
}
