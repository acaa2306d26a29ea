/* Which fd numbers name a file Orca itself created, and since when: what lets the
 * epoll backend keep an fd registered between operations (io/epoll_driver.c).
 *
 * Why: Orca's calls take raw fds, and a raw fd can be closed with close(2) and its
 * number reused by a new file without Orca seeing it. close(2) silently drops the
 * kernel's epoll registration, so a driver that trusted an old registration would wait
 * for events the new file never reports. The epoll backend therefore checks the
 * registration (one epoll_ctl) before a wait, unless this table vouches that the
 * number's file has not changed since the driver last checked it.
 *
 * Each number has a 32-bit stamp: a generation (bits 1..31) and an "Orca made it" bit
 * (bit 0). Orca bumps the generation and sets the bit when it creates a file at the
 * number (orca__fd_made: accept, orca_open, orca_tcp_connect, orca_tcp_listen,
 * orca_udp_bind), and bumps it with the bit clear in orca_close. A driver remembers the
 * stamp it checked its registration under; while the number's stamp is unchanged and
 * has the bit, the file is the one it checked, as long as the program closes Orca's
 * fds with orca_close or reuses their numbers only for files Orca creates.
 *
 * What it cannot see: an fd Orca made, closed with close(2), whose number a file the
 * program created itself (socket(2), pipe(2)) takes. The stamp still vouches for the
 * old file; the epoll driver's sweep (epoll_driver.c) re-checks every registration a
 * wait has trusted for longer than a sweep period, so such a wait is late by at most
 * about two periods, never lost. Files the program creates itself never get the bit:
 * their registrations are checked before every wait, as before this table.
 *
 * Numbers at or above ORCA__FD_ORIGIN_MAX have no stamp (0): always checked. Segments
 * of the table are allocated on first use and never freed. Any thread; lock-free
 * except for the allocation of a segment. */
#ifndef ORCA_IO_FD_ORIGIN_H
#define ORCA_IO_FD_ORIGIN_H

#include <stdint.h>

#define ORCA__FD_ORIGIN_MAX (1 << 20)

/* The stamp of fd's number: bit 0 set when Orca made the file it names now. */
uint32_t orca__fd_stamp(int fd);
/* Orca created a new file at fd (fd < 0: nothing). */
void orca__fd_made(int fd);
/* orca_close is closing fd: the number will name another file next. */
void orca__fd_closing(int fd);

static inline int orca__fd_stamp_made_by_orca(uint32_t stamp)
{
	return stamp & 1;
}

#endif
