/* airlock-wake: what its files share. */
#ifndef WAKE_H
#define WAKE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"

#define SNAPSHOT_MAXPRELOAD	64
#define ZYGOTE_START_MS		30000

struct pool_entry {
	struct pool_entry	*next;
	char			 path[108];	/* the handle: a socket path */
	int			 pidfd;
	uint64_t		 t_us;		/* when it was requested */
	uint64_t		 ended_us;	/* when its payload was seen gone */
	struct cgroup		 cg;		/* version 0: rlimits only */
};

/* How long an OOM-killed sandbox's cgroup waits for airlock-snaft. */
#define HANDEDOUT_OOM_US	10000000

struct pending {
	struct pending		*next;
	int			 go;		/* write end: starts the sandbox */
	char			 path[108];
	uint64_t		 t_us;
};

/* One (image, snapshot) pair of the process backend, and its zygote. */
struct snapshot {
	struct snapshot		*next;
	char			*image;
	char			*name;
	char			 rootfs[PATH_MAX];
	char			 image_digest[80];
	char			 digest[80];
	char			*runner;
	char			*preload[SNAPSHOT_MAXPRELOAD];
	size_t			 npreload;
	uint64_t		 lease_ms;
	uint64_t		 tmp_bytes;
	uint64_t		 memory_bytes;	/* the cgroup's first limit */
	char			 error[PATH_MAX + 512];	/* why unavailable */
	int			 pid;		/* zygote */
	int			 ctl;		/* control socket to it */
	struct pool_entry	*pool;
	size_t			 npool;
	struct pending		*pending, *pending_tail;
	size_t			 npending;
	size_t			 target;	/* pool size to keep */
};

extern int	cgroup_version;
extern char	instance[64];	/* wake-PID-RANDOM: names our rundir, cgroups */	/* 0: none usable, rlimits only */

int		zygote_start(struct snapshot *, char *, size_t);
void		zygote_stop(struct snapshot *);
int		pool_request(struct snapshot *, const char *);
int		pool_collect(struct snapshot *);
void		pool_discard(struct pool_entry *);
void		pool_uncgroup(struct pool_entry *);

#endif
