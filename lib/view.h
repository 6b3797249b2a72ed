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

#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <stdint.h>

/* The CPU mask sched_getaffinity(2) returns: CPU 0, in 8 bytes. */
#define VIEW_CPUMASK		1ULL
#define VIEW_CPUMASK_BYTES	8

/*
 * Files as a payload sees them: stat(2) tells nothing of the host's disks,
 * owners, clocks or inode numbers.  The image is one device, its files
 * owned by root, all with one time stamp (the images' own are already
 * SOURCE_DATE_EPOCH, airlock-image(5)); an inode number is a stable hash
 * of the file's path inside the image.  The sandbox's /tmp is a device
 * of its own.
 */
#define VIEW_DEV_IMAGE		0x0801		/* 8:1 */
#define VIEW_DEV_TMP		0x002a		/* 0:42, as tmpfs's */
#define VIEW_MTIME		1704067200	/* 2024-01-01T00:00:00Z */
#define VIEW_INO_TMP		2
#define VIEW_INO_DEVICE		3
#define VIEW_INO_PIPE		4

void	view_uname(struct utsname *);
uint64_t view_ino(const char *path);
void	view_stat_image(struct stat *, const char *path);
void	view_sysinfo(struct sysinfo *, uint64_t memory_bytes,
	    uint64_t uptime_s);

#endif
