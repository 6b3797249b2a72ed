/* airlock-snaft: what its files share. */
#ifndef SNAFT_H
#define SNAFT_H

#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>

#include <poll.h>

#include <jansson.h>

#include "cgroup.h"
#include "intents.h"
#include "record.h"
#include "sha256.h"

struct policy {
	struct policy		*next;
	const struct intent	*row;
	struct sock_filter	*bpf;
	size_t			 len;
};

const struct policy	*policy_get(const struct intent *, char *, size_t);
void			 policy_free_all(void);

/* One captured output stream. */
struct stream {
	int		 fd;		/* read end, -1 at EOF */
	struct sha256	 hash;		/* of every byte produced */
	char		*buf;		/* the first cap bytes */
	size_t		 cap;
	size_t		 captured;
	uint64_t	 bytes;
};

enum run_state {
	RUN_CONNECTED,		/* request sent, waiting for SB_STARTED */
	RUN_RUNNING,		/* payload runs under the monitor */
	RUN_EXITED,		/* SB_EXIT or the sandbox is gone */
};

struct run {
	struct run	*next;
	json_t		*rec;
	const struct policy *policy;
	struct limits	 limits;
	enum run_state	 state;
	int		 conn;
	int		 listener;
	int		 pidfd;
	int		 payload_pid;	/* as the sandbox numbers it */
	uint64_t	 selfsig;	/* signals the payload sent itself */
	int		 exit_seen;	/* we let exit_group(0) through */
	int		 early;		/* finished on it, before SB_EXIT */
	struct stream	 out, err;
	uint64_t	 t_start;	/* us, when the request went out */
	uint64_t	 t_run;		/* us, when the payload started */
	uint64_t	 t_end;		/* us, when it ended */
	uint64_t	 deadline;	/* us, host-side wall limit */
	uint64_t	 cpu_check;	/* us: when to look at its CPU time next */
	uint64_t	 drain_until;	/* us, give up on output after exit */
	uint32_t	*counts;	/* per syscall number, observe mode */
	uint32_t	 foreign;	/* calls of another architecture */
	json_t		*violations;
	int		 kill;		/* enum kill_reason, or -1 */
	char		 error[256];	/* why it failed, or "" */
	int		 have_exit;
	int		 exit_how, exit_code;
	uint64_t	 cpu_us;
	uint64_t	 page_faults;	/* the payload's, as the sandbox counted */
	int		 have_faults;
	uint64_t	 notified;	/* calls the monitor was asked about */
	int		 wall_killed;
	int		 memory_refused; /* kvm: the VMM refused memory */
	struct cgroup	 cg;		/* version 0: none */
	int		 memcg;		/* cg holds this run's memory limit */
	uint64_t	 tmp_dev;	/* the sandbox's private /tmp */
	uint64_t	 cpu_base_us;	/* its process's CPU before the run */
	pid_t		 hostpid;	/* of the payload, once looked up */
	int		 outdir;	/* the sandbox's /output, or -1 */
	json_t		*inputs;	/* {name, bytes, sha256} of each input */
	json_t		*outputs;	/* /output's files taken, with b64 */
	json_t		*refused;	/* {name, why} of what was not */
	const struct backend_ops *ops;	/* the sandbox's kind */
	long		 oom_before;	/* OOM kills in it before the run */
};

extern const char *rundir;

struct sb_run;

/*
 * What differs between the kinds of sandbox, one file each: process.c,
 * kvm.c.  Everything else about a run (the claim, output, limits, the
 * exec section) is the same for all.
 */
struct backend_ops {
	enum backend	 id;
	/* Send the run request: run holds the limits already. */
	int		(*sendrun)(struct run *, struct sb_run *run, int fds[4]);
	/*
	 * Descriptors SB_STARTED carries: 3 a listener, a pidfd and /output;
	 * 1 a pidfd.
	 */
	int		 startfds;
	/*
	 * How the run ended, from an SB_REPORT and the descriptor it
	 * carries (-1 if reportfds is 0); NULL: SB_EXIT says it.
	 */
	int		(*report)(struct run *, const char *text, size_t len,
			    int fd);
	int		 reportfds;	/* descriptors SB_REPORT carries */
	int		 cgroup;	/* its sandboxes have airlock-wake's cgroups */
	int		 cpu;		/* its SB_EXIT reports the payload's CPU time */
};

extern const struct backend_ops	backend_process, backend_kvm;

struct seccomp_data;
struct seccomp_notif_resp;

/*
 * files.c: input files into a memfd, /output into the exec section.  The
 * entries of a kvm sandbox's /output go through the same rules: after
 * files_out_start(), each is admitted by name and count, fits or not,
 * and is taken or refused.
 */
int		 files_in(struct run *, json_t *files, int *memfd);
int		 files_out_start(struct run *);
const char	*files_admit(struct run *, const char *name);
const char	*files_fits(int regular, uint64_t size, uint64_t left);
void		 files_take(struct run *, const char *name, const void *data,
		    size_t len, uint64_t *left);
void		 files_refuse(struct run *, const char *name, const char *why);
void		 files_out(struct run *, json_t *exec);

/* answer.c: the calls the monitor answers itself. */
int		 answer_wanted(int nr);
int		 answer_call(struct run *, const struct seccomp_data *,
		    struct seccomp_notif_resp *);

int		 handle_ok(const char *);
struct run	*run_start(json_t *rec, const struct intent *row,
		    const struct policy *p, const struct limits *);
void		 run_fail(struct run *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 run_violation(struct run *, const struct seccomp_data *,
		    const char *family, const char *name, enum abi arch,
		    uint64_t at_us);
int		 run_pollfds(struct run *, struct pollfd *, int);
void		 run_events(struct run *, struct pollfd *, int);
void		 run_timeout(struct run *, uint64_t now);
int		 run_done(const struct run *);
json_t		*run_finish(struct run *);

#endif
