/*
 * The warm pool (airlock-wake(1), "The pool"): for each snapshot, woken
 * sandboxes kept ready up to the pool size and expired at half their
 * lease; and the sandboxes handed out to frames, watched until they end so
 * that their cgroups go with them.  The same for every backend.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "wake.h"

/* Sandboxes handed out: their zygote must outlive them (their pid 1). */
static struct pool_entry	*handedout;

int
pool_listen(char path[108])
{
	static unsigned long counter;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls, n;

	n = snprintf(path, sizeof(sa.sun_path), "%s/sb-%lu.sock", rundir,
	    ++counter);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	if ((ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* Only we (root) may connect: snaft, which runs as root too. */
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 || listen(ls, 1) != 0) {
		close(ls);
		unlink(path);
		return -1;
	}
	return ls;
}

/* A sandbox that is our own child (a VMM) is reaped once it has ended. */
static void
reap(struct pool_entry *e)
{
	if (e->child > 0)
		(void)waitpid(e->child, NULL, 0);
	e->child = 0;
}

/*
 * Remove the sandbox's cgroup.  Its task has exited, but the zygote may not
 * have reaped it yet, so retry briefly while the kernel still counts it.
 */
static void
pool_uncgroup(struct pool_entry *e)
{
	int i;

	for (i = 0; i < 100; i++) {
		cgroup_remove(&e->cg);
		if (access(e->cg.memory, F_OK) != 0)
			break;
		usleep(1000);
	}
	e->cg.version = 0;
}

void
pool_discard(struct pool_entry *e)
{
	struct pollfd pfd;

	if (e->pidfd >= 0) {
		(void)syscall(SYS_pidfd_send_signal, e->pidfd, SIGKILL, NULL, 0);
		/* A cgroup can only go once its last task has. */
		pfd.fd = e->pidfd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 1000);
		close(e->pidfd);
		reap(e);
	}
	if (e->cg.version != 0)
		pool_uncgroup(e);
	unlink(e->path);
	free(e);
}

/* A cgroup of its own for a new pool sandbox, when the machine has them. */
void
pool_cgroup(struct snapshot *s, struct pool_entry *e)
{
	static unsigned long n;
	static int warned;
	char rel[128];
	pid_t pid;

	if (cgroup_version == 0)
		return;
	snprintf(rel, sizeof(rel), "airlock/%s/sb-%lu", instance, ++n);
	if ((pid = pidfd_hostpid(e->pidfd)) <= 0 ||
	    cgroup_create(&e->cg, cgroup_version, rel, pid, s->memory_bytes,
	    1) != 0) {
		if (!warned++)
			log_info("warning: cannot put sandboxes in cgroup %s "
			    "(%s); their limits are rlimits only", rel,
			    strerror(errno));
		e->cg.version = 0;
	}
}

/* s's backend failed it: down it goes, with the reason for its frames. */
static void
pool_down(struct snapshot *s)
{
	if (s->error[0] == '\0')
		snprintf(s->error, sizeof(s->error), "%s/%s went down",
		    s->image, s->name);
	log_info("%s", s->error);
	s->backend->stop(s);
	s->up = 0;
}

/* Expire what is past half its lease: it is never handed out. */
static void
pool_expire(struct snapshot *s)
{
	struct pool_entry *e;
	uint64_t now = now_us();

	while ((e = s->pool) != NULL && now - e->t_us > s->lease_ms * 500) {
		s->pool = e->next;
		s->npool--;
		pool_discard(e);
	}
}

/*
 * How many microseconds from now s's pool may be refilled: 0 now.  Not
 * within REFILL_DEFER_US of a hand-out while the pool still has a sandbox:
 * the sandbox just handed out is about to be claimed, and a zygote busy
 * forking the refill (or a VMM restoring it) would keep that run from
 * starting.  Once snaft's claim has reached the zygote, the zygote puts
 * the run first by itself (guest/runner.c, CLAIM_FIRST_MS).  Measured, a
 * frame every 50 ms: p50 2.3-2.8 ms without the delay, 1.8-2.3 ms with it;
 * back to back, p90 3.4-4.0 ms without and 4.1-4.3 ms with it (airlock(7)).
 */
#define REFILL_DEFER_US	500

uint64_t
pool_refill_due(const struct snapshot *s)
{
	uint64_t now = now_us();

	if (s->npool == 0 || now - s->taken_us >= REFILL_DEFER_US)
		return 0;
	return s->taken_us + REFILL_DEFER_US - now;
}

/* Collect finished requests without blocking; keep the pool at its size. */
void
pool_tend(struct snapshot *s)
{
	struct pollfd pfd;

	if (!s->up)
		return;
	pfd.events = POLLIN;
	while (s->npending > 0 && (pfd.fd = s->backend->readyfd(s)) >= 0 &&
	    poll(&pfd, 1, 0) == 1)
		if (s->backend->collect(s) != 0) {
			pool_down(s);
			return;
		}
	pool_expire(s);
	while (s->npool + s->npending < s->target && pool_refill_due(s) == 0)
		if (s->backend->request(s) != 0) {
			log_info("requesting a sandbox: %s", strerror(errno));
			break;
		}
}

/* A sandbox for this frame: from the pool if one is ready, else cold. */
struct pool_entry *
pool_take(struct snapshot *s, int *hit)
{
	struct pool_entry *e;

	/*
	 * Off the hot path: pool_tend runs after the record is written.  Only
	 * the age check is done here, so that a sandbox near the end of its
	 * lease is never handed out even when tending has not run.
	 */
	pool_expire(s);
	*hit = s->pool != NULL;
	if (!*hit)
		pool_tend(s);
	while (s->pool == NULL) {
		if (!s->up)
			return NULL;
		if (s->npending == 0 && s->backend->request(s) != 0)
			return NULL;
		if (s->backend->collect(s) != 0) {
			pool_down(s);
			return NULL;
		}
	}
	e = s->pool;
	s->pool = e->next;
	s->npool--;
	s->taken_us = now_us();
	return e;
}

/*
 * Bring up every row's snapshot now and fill its pool, so that the first
 * frame is warm.
 */
void
pool_warm(const struct intent_table *table,
    const struct wake_backend *(*choose)(const struct intent *))
{
	const struct wake_backend *b;
	struct snapshot *s;
	size_t i;

	for (i = 0; i < table->nrows; i++)
		if ((b = choose(&table->rows[i])) != NULL)
			pool_tend(snapshot_for(&table->rows[i], b));
	/* The zygotes answer within milliseconds: be warm from frame 1. */
	for (s = snapshots; s != NULL; s = s->next)
		while (s->up && s->npending > 0)
			if (s->backend->collect(s) != 0)
				pool_down(s);
}

/* The sandbox is snaft's now; it expires by itself if unclaimed. */
void
pool_handout(struct pool_entry *e)
{
	e->next = handedout;
	handedout = e;
}

/*
 * Whether a handed-out sandbox's cgroup must stay a while after its
 * payload ended: when the kernel's OOM killer ended it, airlock-snaft reads
 * that count there for the verdict, and removes the cgroup itself once it
 * has.  If it has not after HANDEDOUT_OOM_US (it died), we do.  Any other
 * end needs nothing of the cgroup.
 */
static int
keep_cgroup(struct pool_entry *e, uint64_t now)
{
	return e->cg.version != 0 && !gotsig &&
	    now - e->ended_us < HANDEDOUT_OOM_US &&
	    cgroup_oom_kills(&e->cg) > 0;
}

/*
 * Forget handed-out sandboxes that have ended, and their cgroups; with
 * wait_ms, wait up to that long for all of them (at end of input, before
 * the zygotes go).
 */
void
pool_reap(int wait_ms)
{
	struct pool_entry *e, **ep;
	struct pollfd pfd;
	uint64_t until = now_us() + (uint64_t)wait_ms * 1000, t;

	for (;;) {
		t = now_us();
		for (ep = &handedout; (e = *ep) != NULL;) {
			pfd.fd = e->pidfd;
			pfd.events = POLLIN;
			if (e->ended_us == 0 && poll(&pfd, 1, 0) == 1)
				e->ended_us = t;
			if (e->ended_us == 0 || keep_cgroup(e, t)) {
				ep = &e->next;
				continue;
			}
			*ep = e->next;
			if (e->cg.version != 0)
				pool_uncgroup(e);
			close(e->pidfd);
			reap(e);
			unlink(e->path);
			free(e);
		}
		if (handedout == NULL || t >= until || gotsig)
			return;
		(void)poll(NULL, 0, 10);
	}
}

/* Discard every pool sandbox nobody took, and with all every one handed out. */
void
pool_empty(int all)
{
	struct snapshot *s;
	struct pool_entry *e;

	for (s = snapshots; s != NULL; s = s->next)
		while ((e = s->pool) != NULL) {
			s->pool = e->next;
			s->npool--;
			pool_discard(e);
		}
	while (all && (e = handedout) != NULL) {
		handedout = e->next;
		pool_discard(e);
	}
}
