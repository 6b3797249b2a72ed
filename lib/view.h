/*
 * The machine a payload sees, the same on every backend and every host:
 * a fixed kernel identity, one CPU, and memory the size of its own limit.
 * airlock-vmm emulates these calls itself; on the process backend
 * airlock-snaft's monitor answers them in place of the host kernel, whose
 * answers would tell a payload the host's kernel release, its RAM, how
 * much of it is free and how many processes it runs: the last two change
 * with what other sandboxes do, a channel between runs.
 */
#ifndef VIEW_H
#define VIEW_H

#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <stdint.h>

/* The CPU mask sched_getaffinity(2) returns: CPU 0, in 8 bytes. */
#define VIEW_CPUMASK		1ULL
#define VIEW_CPUMASK_BYTES	8

void	view_uname(struct utsname *);
void	view_sysinfo(struct sysinfo *, uint64_t memory_bytes,
	    uint64_t uptime_s);

#endif
