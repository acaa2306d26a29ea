#include "panic.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void orca__panic(const char *msg)
{
	/* write(2), not stdio: this may run in a signal handler or with locks held. */
	static const char prefix[] = "orca: internal invariant broken: ";
	ssize_t r = write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
	r = write(STDERR_FILENO, msg, strlen(msg));
	r = write(STDERR_FILENO, "\n", 1);
	(void)r;
	abort();
}
