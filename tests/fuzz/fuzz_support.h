/* What every fuzz target here needs: reading its input as a stream of small
 * numbers, and failing loudly, naming the invariant, when the code under test and
 * its model disagree.
 *
 * An exhausted input reads as zeros, so every prefix of an input is an input too
 * (libFuzzer's mutations stay meaningful, and a crash minimises well). */
#ifndef ORCA_FUZZ_SUPPORT_H
#define ORCA_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fuzz_input {
	const uint8_t *p;
	size_t left;
} fuzz_input;

static inline fuzz_input fuzz_input_of(const uint8_t *data, size_t size)
{
	return (fuzz_input){data, size};
}

static inline bool fuzz_done(const fuzz_input *in)
{
	return in->left == 0;
}

static inline uint8_t fuzz_u8(fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

/* A number in [0, n), n <= 256. */
static inline unsigned fuzz_below(fuzz_input *in, unsigned n)
{
	return fuzz_u8(in) % n;
}

static inline uint16_t fuzz_u16(fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);
	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

/* Aborts (libFuzzer then saves the input) with the broken invariant's name. */
#define FUZZ_CHECK(cond, ...)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz: invariant broken (%s:%d): ", __FILE__, \
				__LINE__);                                      \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)

#endif
