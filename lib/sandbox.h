/*
 * The process backend's control protocol (DESIGN.md section 4): between
 * airlock-wake and a zygote, and between airlock-snaft and a woken sandbox.
 * Shared by guest/runner.c (inside the sandbox) and the host tools.
 * Every message is one SOCK_SEQPACKET datagram starting with struct sb_hdr;
 * descriptors travel as SCM_RIGHTS.  Both ends check type, version and
 * length before reading anything else: the sandbox side is hostile once a
 * payload has run.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stdint.h>

#define SB_MAGIC	0x41524c4bu	/* "ARLK" */
#define SB_VERSION	2

/* The control descriptor a zygote finds open when it starts. */
#define SB_ZYGOTE_FD	3

enum sb_type {
	/* wake -> zygote: fork a pool sandbox; fds: [listening socket, go] */
	SB_SPAWN = 1,
	/* zygote -> wake: the sandbox exists; fds: [pidfd of its payload
	 * process] */
	SB_SPAWNED,
	/* zygote -> wake: initialised, ready to spawn */
	SB_READY,
	/* snaft -> sandbox (its zygote, or a kvm sandbox's VMM): run; fds:
	 * [payload memfd, stdout, stderr, input files memfd (struct sb_file
	 * records)] */
	SB_RUN,
	/* zygote -> snaft: filter in place; fds: [listener, pidfd, /output] */
	SB_STARTED,
	/* zygote -> snaft: the payload process is gone */
	SB_EXIT,
	/* zygote -> snaft: the run could not start */
	SB_ERROR,
	/* kvm sandbox -> snaft: how the run ended, one JSON object; fds:
	 * [output files memfd (struct sb_file records), sealed] */
	SB_REPORT,
	/*
	 * payload process -> its zygote, inside the sandbox: the filter goes
	 * in next, and its listener will be SB_LISTENER_FD.  The zygote then
	 * takes the listener with pidfd_getfd(2) and answers with one byte,
	 * "go", once snaft holds it.  Sent before the filter, by the runner's
	 * own code: after it, the payload process holds no channel to anyone.
	 * fds: [its /output, a directory], for snaft to read after the run.
	 */
	SB_ARMING,
};

/*
 * A run's input files travel in one sealed memfd, one record each: the
 * header, then name_len bytes of name, then data_len bytes of data.  The
 * runner (or a kvm sandbox's VMM) checks every record (a name is one path
 * component) before it writes the file into the sandbox's /input.  A kvm
 * sandbox hands what its /output holds back the same way, one record per
 * entry at its top level, in a memfd it seals before it sends it with
 * SB_REPORT: type says whether the entry is a regular file, and only a
 * regular file has data.  Input files are all SB_FILE_REGULAR.
 */
struct sb_file {
	uint32_t	name_len;
	uint32_t	type;		/* SB_FILE_* */
	uint64_t	data_len;
};

#define SB_FILE_REGULAR	0
#define SB_FILE_OTHER	1	/* a directory: no data; never taken */

/* Where a payload process holds its /output while it sends SB_ARMING. */
#define SB_OUTDIR_FD	5

/* Where a payload process's seccomp listener lands: the lowest free fd. */
#define SB_LISTENER_FD	4

struct sb_hdr {
	uint32_t	magic;
	uint16_t	version;
	uint16_t	type;
	uint32_t	len;		/* bytes after the header */
	uint32_t	seq;		/* echoed in the answer */
};

struct sb_spawn {
	uint64_t	lease_ms;	/* exit if nobody claims it by then */
	uint64_t	tmp_bytes;	/* size of the private /tmp */
	uint64_t	outdir_bytes;	/* size of the private /output */
	uint64_t	files;		/* most files in /input and /output */
};

/* Size of a sandbox's /input: above any intent's input limit. */
#define SB_INPUT_BYTES	(8ULL * 1024 * 1024)

#define SB_BPF_MAX	4096		/* instructions, the kernel's cap */

struct sb_run {
	uint64_t	wall_ms;
	uint64_t	cpu_ms;
	uint64_t	memory_bytes;
	uint64_t	file_bytes;
	uint64_t	payload_bytes;	/* size of the payload memfd */
	uint32_t	bpf_len;	/* instructions following this struct */
	uint32_t	flags;		/* SB_RUN_* */
	/*
	 * Process backend: struct sock_filter bpf[bpf_len] follows.
	 * kvm backend (SB_RUN_KVM, bpf_len 0): struct sb_kvmpolicy.
	 */
};

#define SB_RUN_KVM	0x1	/* to an airlock-vmm: a policy, not BPF */
/*
 * The run's memory cgroup holds memory_bytes (snaft set it): the kernel's
 * OOM killer is the memory limit, counted where the payload cannot write.
 * Without it the runner makes memory_bytes an address-space rlimit.
 */
#define SB_RUN_MEMCG	0x2

/*
 * The policy a kvm sandbox enforces itself: allowed[nr] nonzero for each
 * system call the intent allows.  The always-dangerous families are the
 * VMM's own (lib/intents.c), as they are snaft's.  The caps are the
 * row's, which a process sandbox gets in struct sb_spawn.
 */
#define SB_KVM_NR	1024
struct sb_kvmpolicy {
	uint8_t		allowed[SB_KVM_NR];
	uint64_t	output_bytes;	/* each of stdout and stderr */
	uint64_t	tmp_bytes;
	uint64_t	files;		/* most files in /input and /output */
	uint64_t	outdir_bytes;	/* size of /output */
};

/* An SB_REPORT body is JSON text of at most this many bytes. */
#define SB_REPORT_MAX	65536

enum sb_exit_how {
	SB_EXITED = 1,		/* code holds the exit status */
	SB_SIGNALED,		/* code holds the signal */
};

struct sb_exit {
	uint32_t	how;
	int32_t		code;
	uint64_t	cpu_us;		/* user + system time of the run */
	uint64_t	maxrss_kb;
	uint32_t	wall_killed;	/* the sandbox killed it at wall_ms */
	uint32_t	pad;
	uint64_t	minflt;		/* the run's minor page faults */
};

/*
 * Nothing in these two comes from memory or a channel a payload can write:
 * the zygote fills struct sb_exit from wait4(2) and its own clock, and
 * struct sb_arming is sent before the payload's first instruction.
 */
struct sb_arming {
	uint64_t	tmp_dev;	/* st_dev of the sandbox's private /tmp */
	uint64_t	t_run;		/* CLOCK_MONOTONIC ns: it got SB_RUN */
	uint64_t	t_arming;	/* and when it sent this */
	/*
	 * What the payload process had used before its run (the pool's
	 * preparation, the language's warm-up): the zygote reports the run's
	 * own CPU time and page faults, and snaft limits the run's own CPU.
	 */
	uint64_t	cpu_us;
	uint64_t	minflt;
};

/*
 * When a process sandbox's start went through each step, in
 * CLOCK_MONOTONIC nanoseconds (the sandbox has no time namespace of its
 * own), for make bench's breakdown (AIRLOCK_TRACE); 0 where a sandbox does
 * not say (a kvm sandbox).  snaft only traces them: they decide nothing.
 */
enum {
	SB_T_ZYGOTE_RUN,	/* the zygote received SB_RUN */
	SB_T_PAYLOAD_RUN,	/* the payload process received it */
	SB_T_PAYLOAD_ARMING,	/* it sent SB_ARMING: its filter goes in */
	SB_T_ZYGOTE_ARMING,	/* the zygote received SB_ARMING */
	SB_T_ZYGOTE_LISTENER,	/* the zygote took the listener */
	SB_T_COUNT
};

/*
 * The payload process's pid as the sandbox numbers it.  A kvm sandbox
 * sends its own pid (it is the payload's whole world) and only a pidfd.
 */
struct sb_started {
	int32_t		pid;
	uint32_t	pad;
	/*
	 * st_dev of the sandbox's private /tmp, the one file system on which
	 * the payload may take file locks (0 from a kvm sandbox, whose VMM
	 * keeps its own).
	 */
	uint64_t	tmp_dev;
	/* CPU time the payload process used before the run (sb_arming). */
	uint64_t	cpu_base_us;
	uint64_t	t_ns[SB_T_COUNT];	/* see SB_T_ZYGOTE_RUN */
};

struct sb_error {
	char		text[200];
};

/* The most descriptors one message carries. */
#define SB_MAXFDS	4

#include <sys/types.h>

/*
 * Send one message: the header, then body and tail (either may be NULL
 * with length 0), and nfds descriptors.  Returns 0, or -1 with errno.
 */
int	sb_send(int sock, uint16_t type, uint32_t seq, const void *body,
	    size_t blen, const void *tail, size_t tlen, const int *fds, int nfds);

/*
 * Receive one message into h and body (len bytes at most), with up to
 * maxfds descriptors (the rest are closed).  flags go to recvmsg(2) (say
 * MSG_DONTWAIT).  Returns the bytes received, header included; 0 at end
 * of file; -1 with errno (EPROTO for a malformed or truncated message,
 * whose descriptors are then closed).  The caller checks h->type and
 * h->len.
 */
ssize_t	sb_recv(int sock, int flags, struct sb_hdr *h, void *body, size_t len,
	    int *fds, int maxfds, int *nfds);

#endif
