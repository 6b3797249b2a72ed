/*
 * The process backend's side of a run (airlock-snaft(1), "Runs"): a pool
 * sandbox of a zygote.  It gets the compiled filter and installs it; the
 * zygote hands us its listener and a pidfd, our monitor (run.c) decides
 * every notified call, and the zygote reports the exit from wait4(2).
 */
#include <linux/filter.h>

#include "airlock.h"
#include "sandbox.h"
#include "snaft.h"

/* The run request: the limits, then the compiled filter. */
static int
process_sendrun(struct run *r, struct sb_run *run, int fds[4])
{
	const struct policy *p = r->policy;

	run->bpf_len = (uint32_t)p->len;
	if (r->memcg)
		run->flags |= SB_RUN_MEMCG;
	return sb_send(r->conn, SB_RUN, 0, run, sizeof(*run), p->bpf,
	    p->len * sizeof(struct sock_filter), fds, 4);
}

const struct backend_ops backend_process = {
	.id = BACKEND_PROCESS,
	.sendrun = process_sendrun,
	.startfds = 3,		/* the listener, a pidfd, /output */
	.report = NULL,		/* SB_EXIT, from the zygote's wait4 */
	.cgroup = 1,
	.cpu = 1,
};
