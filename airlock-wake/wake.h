/*
 * airlock-wake: what its files share.
 *
 *   airlock-wake.c  options, the run directory, the frame loop, routing
 *   snapshot.c      snapshot descriptions, one struct snapshot each
 *   pool.c          the warm pool and the sandboxes handed out
 *   process.c       the process backend: zygotes (struct wake_backend)
 */
#ifndef WAKE_H
#define WAKE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#include "cgroup.h"
#include "intents.h"
#include "record.h"

#define SNAPSHOT_MAXPRELOAD	64
#define SNAPSHOT_MAXENV		16
#define SNAPSHOT_ENV_MAX	256	/* bytes of one NAME=VALUE */
#define ZYGOTE_START_MS		30000

/* How long an OOM-killed sandbox's cgroup waits for airlock-snaft. */
#define HANDEDOUT_OOM_US	10000000

/* One woken sandbox, in a pool or handed out. */
struct pool_entry {
	struct pool_entry	*next;
	char			 path[108];	/* the handle: a socket path */
	int			 pidfd;
	uint64_t		 t_us;		/* when it was requested */
	uint64_t		 ended_us;	/* when its payload was seen gone */
	pid_t			 child;		/* ours to reap (a VMM), or 0 */
	struct cgroup		 cg;		/* version 0: rlimits only */
};

/* A sandbox requested, not yet collected. */
struct pending {
	struct pending		*next;
	int			 go;		/* process: write end, starts it;
						   kvm: read end, its ready byte */
	char			 path[108];
	uint64_t		 t_us;
	pid_t			 pid;		/* kvm: the VMM */
	int			 pidfd;		/* kvm: the VMM */
};

struct snapshot;

/*
 * A kind of sandbox: how to bring a snapshot up and down and get woken
 * sandboxes of it.  Everything else (routing, the pool, leases, what was
 * handed out) is the same for every kind.  One file each: process.c.
 */
struct wake_backend {
	enum backend	 id;
	/* Bring s up (its zygote); 0, or -1 with s->error. */
	int		(*start)(struct snapshot *s);
	/* Bring s down, and whatever it started with it. */
	void		(*stop)(struct snapshot *s);
	/* Ask for one more sandbox of s; it comes in through collect(). */
	int		(*request)(struct snapshot *s);
	/* Take the oldest requested sandbox into s's pool, waiting for it. */
	int		(*collect)(struct snapshot *s);
	/* Readable when collect() will not wait; -1 when s is down. */
	int		(*readyfd)(const struct snapshot *s);
};

extern const struct wake_backend	wake_process, wake_kvm;

/* kvm.c: whether the kvm backend can run row's snapshot here. */
int	kvm_usable(const struct intent *row);

/* One (backend, image, snapshot, /tmp size) and its pool. */
struct snapshot {
	struct snapshot		*next;
	const struct wake_backend *backend;
	char			*image;
	char			*name;
	char			 rootfs[PATH_MAX];
	char			 image_digest[80];
	char			 digest[80];
	char			*runner;
	char			*preload[SNAPSHOT_MAXPRELOAD];
	size_t			 npreload;
	char			*program;	/* run instead of the payload */
	char			*report;	/* its report in /output, or NULL */
	char			*env[SNAPSHOT_MAXENV];	/* NAME=VALUE */
	size_t			 nenv;
	uint64_t		 lease_ms;
	uint64_t		 tmp_bytes;
	uint64_t		 outdir_bytes;	/* size of /output */
	uint64_t		 files;		/* most files in and out */
	uint64_t		 memory_bytes;	/* the cgroup's first limit */
	char			 error[PATH_MAX + 512];	/* why unavailable */
	int			 up;		/* started and not stopped */
	struct pool_entry	*pool;
	size_t			 npool;
	size_t			 target;	/* pool size to keep */
	uint64_t		 taken_us;	/* last hand-out, see REFILL_DEFER_US */
	/* The requests not yet collected, oldest first. */
	struct pending		*pending, *pending_tail;
	size_t			 npending;
	/* The process backend's: its zygote. */
	int			 pid;
	int			 ctl;		/* control socket to it */
	/* The kvm backend's: the checked snapshot, and the VMM's digest. */
	int			 kvm_fd;
	char			 kernel_digest[80];
};

/* airlock-wake.c: the configuration and state every part reads. */
extern const char			*imagesdir;
extern char				 rundir[PATH_MAX];
extern char				 instance[64];	/* wake-PID-HEX */
extern size_t				 poolsize;
extern uint64_t				 lease_ms;
extern volatile sig_atomic_t		 gotsig;
extern int				 cgroup_version; /* 0: rlimits only */

/* snapshot.c */
extern struct snapshot			*snapshots;
struct snapshot	*snapshot_for(const struct intent *,
		    const struct wake_backend *);
void		 snapshot_stop_all(void);

/* pool.c */
uint64_t	 pool_refill_due(const struct snapshot *);
int		 pool_listen(char path[108]);
void		 pool_tend(struct snapshot *);
void		 pool_warm(const struct intent_table *,
		    const struct wake_backend *(*choose)(const struct intent *));
struct pool_entry *pool_take(struct snapshot *, int *hit);
void		 pool_handout(struct pool_entry *);
void		 pool_reap(int wait_ms);
void		 pool_empty(int all);
void		 pool_discard(struct pool_entry *);
void		 pool_cgroup(struct snapshot *, struct pool_entry *);

#endif
