/*
 * Per-sandbox cgroups, v1 or v2.  See lib/cgroup.c.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <sys/types.h>

#include <stdint.h>

#define CGROUP_PATH_MAX	512

struct cgroup {
	int	version;		/* 1 or 2; 0 when none */
	char	memory[CGROUP_PATH_MAX];	/* the memory controller's dir */
	char	pids[CGROUP_PATH_MAX];		/* the pids controller's dir */
};

/* 1 or 2 if that hierarchy can be used, 0 with a reason in why. */
int	cgroup_probe(char *why, size_t len);

/*
 * Make the cgroup rel (relative to each controller's root, e.g.
 * "airlock/wake-12/sb-3"), set its memory and pids limits and move pid in.
 */
int	cgroup_create(struct cgroup *, int version, const char *rel, pid_t pid,
	    uint64_t memory, uint64_t pids);
int	cgroup_set_memory(const struct cgroup *, uint64_t memory);
/* How many tasks the OOM killer ended in it, or -1 if unknown. */
long	cgroup_oom_kills(const struct cgroup *);
/* Remove it; it must be empty. */
void	cgroup_remove(const struct cgroup *);
/*
 * Remove it on a thread of the caller's, so that the caller need not wait:
 * the kernel takes a grace period to retire a cgroup, 5 to 15 ms an rmdir
 * on an idle machine here (make bench, "idle").  cgroup_remove_flush()
 * returns when every cgroup handed over has been removed (or found busy);
 * call it before exiting.  Without a thread, the removal is done at once.
 */
void	cgroup_remove_later(const struct cgroup *);
void	cgroup_remove_flush(void);

/*
 * Remove the cgroups of one airlock-wake instance ("wake-PID-HEX": the
 * airlock/NAME directory of every hierarchy and its sb-* children), trying
 * tries times 10 ms apart while tasks still leave them.  Returns 0 when
 * none is left, -1 if one is still busy.
 */
int	cgroup_remove_instance(const char *name, int tries);

/*
 * Make the cgroup directory of the airlock-wake instance name ("wake-PID-
 * HEX") and lock it for the caller's life: returns the descriptor that
 * holds the lock (close-on-exec), or -1.  The lock is what tells a live
 * instance from a dead one's leftovers, whatever pid namespace either is
 * in, and the kernel drops it when the holder dies, even by SIGKILL.
 */
int	cgroup_instance_hold(int version, const char *name);

/*
 * Remove the cgroups of every instance whose lock nobody holds (a wake
 * killed before it could clean up).  Returns how many went; one whose
 * sandboxes are still dying stays for a later sweep.
 */
int	cgroup_sweep(int version);

/* The pid of a pidfd's process, in our pid namespace, or -1. */
pid_t	pidfd_hostpid(int pidfd);

#endif
