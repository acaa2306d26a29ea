/* file_copy SRC DST: copies a file with async reads and writes through io_uring,
 * several blocks in flight at once (one task per block stream), then fsyncs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <orca/orca.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (256 * 1024)
#define STREAMS 4 /* blocks in flight */

typedef struct copy_job {
	int in, out;
	off_t size;
	int stream;
} copy_job;

/* Stream k copies blocks k, k + STREAMS, k + 2 * STREAMS, ... */
static intptr_t copy_stream(void *arg)
{
	copy_job *j = arg;
	char *buf = malloc(BLOCK);
	if (!buf)
		return -1;
	intptr_t err = 0;
	for (off_t off = (off_t)j->stream * BLOCK; off < j->size; off += (off_t)STREAMS * BLOCK) {
		ssize_t n = orca_pread(j->in, buf, BLOCK, off);
		if (n <= 0) {
			err = n < 0 ? n : -EIO;
			break;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = orca_pwrite(j->out, buf + done, (size_t)(n - done), off + done);
			if (w <= 0) {
				err = w < 0 ? w : -EIO;
				goto out;
			}
			done += w;
		}
	}
out:
	free(buf);
	return err;
}

typedef struct args {
	const char *src, *dst;
} args;

static intptr_t copy_file(void *arg)
{
	const args *a = arg;
	int in = orca_open(a->src, O_RDONLY, 0);
	if (in < 0) {
		fprintf(stderr, "%s: %s\n", a->src, orca_strerror(in));
		return 1;
	}
	struct stat st;
	int err = orca_fstat(in, &st);
	int out = orca_open(a->dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (err || out < 0) {
		fprintf(stderr, "%s: %s\n", a->dst, orca_strerror(err ? err : out));
		close(in);
		return 1;
	}
	copy_job jobs[STREAMS];
	orca_task *h[STREAMS];
	for (int k = 0; k < STREAMS; k++) {
		jobs[k] = (copy_job){in, out, st.st_size, k};
		if (orca_spawn(&h[k], copy_stream, &jobs[k]) != 0)
			return 1;
	}
	int failed = 0;
	for (int k = 0; k < STREAMS; k++) {
		intptr_t r = 0;
		orca_join(h[k], &r);
		if (r)
			failed = 1;
	}
	if (!failed && orca_fsync(out) != 0)
		failed = 1;
	orca_close(in);
	orca_close(out);
	if (!failed)
		printf("copied %lld bytes\n", (long long)st.st_size);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: file_copy SRC DST\n");
		return 2;
	}
	args a = {argv[1], argv[2]};
	intptr_t r = 1;
	int err = orca_run(copy_file, &a, &r);
	return err ? 1 : (int)r;
}
