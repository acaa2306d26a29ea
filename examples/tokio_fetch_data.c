/* tokio_fetch_data.c - the seed's first Tokio example, in Orca.
 *
 *     async fn fetch_data() -> String {
 *         "Data fetched".to_string()
 *     }
 *
 *     #[tokio::main]
 *     async fn main() {
 *         let data = fetch_data().await;
 *         println!("{}", data);
 *     }
 *
 * #[tokio::main] turns "async fn main" into a plain main() that starts a
 * runtime and blocks on the async body. In Orca that is orca_run: the async
 * body is async_main, run as a stackful task on a fresh runtime.
 *
 * "fetch_data().await": inside a stackful task an async function is just a C
 * function that may await. Calling it is the await - it runs on the task's
 * stack, and if it suspends (here: a short sleep standing in for the I/O the
 * seed's comment talks about), the whole task suspends with it and resumes
 * right there. No Future type, no state machine, no .await keyword needed.
 *
 * Output:
 *     Data fetched
 */
#include <orca/orca.h>
#include <stdio.h>

/* Returns the data, or NULL if the task was aborted while it waited. */
static const char *fetch_data(void)
{
	/* Simulate fetching data (e.g. from a file or the network). */
	if (orca_sleep(ORCA_MSEC(100)) < 0)
		return NULL;
	return "Data fetched";
}

static intptr_t async_main(void *arg)
{
	(void)arg;
	const char *data = fetch_data(); /* let data = fetch_data().await; */
	if (!data)
		return -1;
	printf("%s\n", data);
	return 0;
}

int main(void) /* #[tokio::main] */
{
	intptr_t result;
	int err = orca_run(async_main, NULL, &result);
	if (err < 0) {
		fprintf(stderr, "orca_run: %s\n", orca_strerror(err));
		return 1;
	}
	return result == 0 ? 0 : 1;
}
