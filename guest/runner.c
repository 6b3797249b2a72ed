/*
 * The runner of the process backend (DESIGN.md section 4): the program
 * that runs inside the sandbox, in the image's root filesystem, started
 * by airlock-wake with its control socket on descriptor 3.  This file is
 * the sandbox and its supervision, the same for every language; what a
 * language adds (starting its interpreter, warming up, running a payload)
 * is a part of its own behind guest/lang.h: guest/python.c for
 * python-runner.
 *
 * Two roles, one binary:
 *
 *  zygote   initialises the language once (its common modules imported),
 *           then forks a pool sandbox for every SB_SPAWN from
 *           airlock-wake, and supervises them all from one event loop: it
 *           accepts snaft's claim on each sandbox's socket, forwards the
 *           run, hands snaft the seccomp listener, enforces the lease and
 *           the wall time, and reports how each payload ended (it is their
 *           parent, so wait4 gives the status and CPU time);
 *  payload  (a fork of the zygote, one per pool sandbox) gets its own mount
 *           namespace and private size-capped /tmp, drops every
 *           capability, waits for airlock-wake's go, warms up, then waits
 *           for its run: it sets its limits, installs the SNAFT filter it
 *           was given and runs the payload in the pristine interpreter.  It
 *           is never trusted after the filter is in place.
 *
 * (An earlier design had a sandbox process between the two, a second
 * fork of the whole interpreter per run; without it a run took a quarter
 * less CPU on the PVM machine this was measured on.)
 *
 * Nothing here decides policy: snaft compiled the filter and holds the
 * listener.  This file only builds the box and reports what happened.
 */
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airlock.h"
#include "intents.h"
#include "lang.h"
#include "sandbox.h"

#define PAYLOAD_MAX	(64u * 1024 * 1024)

void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s[%d]: ", lang_name, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(EXIT_SANDBOX);
}

/* Send one message (lib/sbmsg.c) with optional descriptors. */
static int
sendmsgfds(int sock, uint16_t type, uint32_t seq, const void *body,
    uint32_t len, const int *fds, int nfds)
{
	return sb_send(sock, type, seq, body, len, NULL, 0, fds, nfds);
}

/*
 * Receive one message of the given type into body (at least minlen and at
 * most len bytes) and up to maxfds descriptors.  Returns the body length,
 * 0 at EOF, -1 on error or on a message of another type or size (whose
 * descriptors are closed).
 */
static ssize_t
recvmsgfds(int sock, uint16_t type, void *body, size_t minlen, size_t len,
    int *fds, int maxfds, int *nfds)
{
	struct sb_hdr h;
	ssize_t n;
	int i;

	n = sb_recv(sock, 0, &h, body, len, fds, maxfds, nfds);
	if (n <= 0)
		return n;
	if (h.type != type || h.len < minlen || h.len > len) {
		for (i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return (ssize_t)h.len;
}

static void
senderror(int sock, const char *fmt, ...)
{
	struct sb_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof(e.text), fmt, ap);
	va_end(ap);
	(void)sendmsgfds(sock, SB_ERROR, 0, &e, sizeof(e), NULL, 0);
}

/* ---- the payload process ---------------------------------------------- */

/*
 * The payload process and its zygote share no memory at all: each run's
 * payload process is a fork of the zygote, and whatever it writes stays in
 * its own copy.  Between them there is one socket pair, which the payload
 * process closes before the payload's first instruction.
 *
 * The listener hand-over on it: the payload process sends SB_ARMING (with
 * what snaft must know of its /tmp), installs its filter, whose listener
 * lands on SB_LISTENER_FD, and reads one byte.  The zygote takes the
 * listener with pidfd_getfd(2), gives it to snaft, and writes that byte.
 * Until snaft holds the listener the payload process cannot run a single
 * notified call, and in observe mode the read itself waits for snaft.
 */
#define CTL_FD	3	/* the payload process's end, from SB_ARMING on */

static void
setlimit(int res, uint64_t soft, uint64_t hard, const char *what)
{
	struct rlimit rl = { (rlim_t)soft, (rlim_t)hard };

	if (setrlimit(res, &rl) != 0)
		die("setrlimit %s: %s", what, strerror(errno));
}

/*
 * The payload process, forked when the sandbox is made, so that a run pays
 * neither the fork nor the interpreter's after-fork work.  It waits for the
 * run its sandbox forwards, then never trusts itself again.
 */
static int	dropcaps(void);
static uint64_t	rusage_us(const struct rusage *);
static uint64_t	now_ns(void);

/* Close every descriptor above 2 but a and b. */
static void
keepfds(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		(void)syscall(SYS_close_range, 3, lo - 1, 0);
	if (hi > lo + 1)
		(void)syscall(SYS_close_range, lo + 1, hi - 1, 0);
	(void)syscall(SYS_close_range, hi + 1, ~0U, 0);
}

/*
 * The sandbox's /input and /output, made while we still hold our
 * namespace's capabilities.  /input is two mounts of one tmpfs: the one on
 * top read-only, the one under it writable and reachable only through
 * *inputw, which we close once the run's files are in.  /output is a
 * tmpfs of the row's size; *outdir stays open for snaft, which reads what
 * the payload left there once it has ended.  Neither can hold a device or
 * run a program, and each holds at most the row's file count (its inodes:
 * one for the directory, one a file).  Safe: the mounts are invisible
 * outside our mount namespace, and we hold CAP_SYS_ADMIN only in our user
 * namespace.
 */
static void
mountfiles(const struct sb_spawn *sp, int *inputw, int *outdir)
{
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char opts[96];

	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=0755",
	    (unsigned long long)SB_INPUT_BYTES,
	    (unsigned long long)sp->files + 1);
	if (mount("tmpfs", "/input", "tmpfs", fl, opts) != 0 ||
	    (*inputw = open("/input", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mount("/input", "/input", NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, "/input", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | fl,
	    NULL) != 0)
		die("mount /input: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=0777",
	    (unsigned long long)(sp->outdir_bytes ? sp->outdir_bytes : 4096),
	    (unsigned long long)sp->files + 1);
	if (mount("tmpfs", "/output", "tmpfs", fl, opts) != 0 ||
	    (*outdir = open("/output", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		die("mount /output: %s", strerror(errno));
}

/*
 * The run's input files, from snaft's memfd (struct sb_file records), into
 * /input through its writable mount, read-only for the payload.  snaft
 * made the records, but they are checked here all the same.
 */
static void
putfiles(int memfd, int inputw, uint64_t max)
{
	struct sb_file h;
	struct stat st;
	uint64_t off = 0, nfiles = 0;
	char name[FILE_NAME_MAX + 1], buf[65536];
	size_t want;
	ssize_t n;
	int fd;

	if (fstat(memfd, &st) != 0)
		die("input files: %s", strerror(errno));
	while (off < (uint64_t)st.st_size) {
		if (pread(memfd, &h, sizeof(h), (off_t)off) != sizeof(h) ||
		    h.name_len == 0 || h.name_len > FILE_NAME_MAX ||
		    h.data_len > (uint64_t)st.st_size ||
		    pread(memfd, name, h.name_len, (off_t)(off + sizeof(h))) !=
		    (ssize_t)h.name_len || ++nfiles > max)
			die("input files: a malformed record");
		name[h.name_len] = '\0';
		if (memchr(name, '/', h.name_len) != NULL ||
		    strlen(name) != h.name_len || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0)
			die("input files: a malformed name");
		off += sizeof(h) + h.name_len;
		if ((fd = openat(inputw, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0444)) < 0)
			die("input file %s: %s", name, strerror(errno));
		while (h.data_len > 0) {
			want = h.data_len < sizeof(buf) ? h.data_len : sizeof(buf);
			if ((n = pread(memfd, buf, want, (off_t)off)) <= 0 ||
			    write(fd, buf, (size_t)n) != n)
				die("input file %s: %s", name, n < 0 ?
				    strerror(errno) : "short");
			off += (uint64_t)n;
			h.data_len -= (uint64_t)n;
		}
		close(fd);
	}
}

/* Move fd to a descriptor at or above 16, out of the way of the dup2s. */
static int
movehigh(int fd)
{
	int nfd;

	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 16)) < 0)
		die("fcntl: %s", strerror(errno));
	close(fd);
	return nfd;
}

static void __attribute__((noreturn))
payload(int ctl, int go, const struct sb_spawn *sp)
{
	static union {
		struct sb_run run;
		char buf[sizeof(struct sb_run) +
		    SB_BPF_MAX * sizeof(struct sock_filter)];
	} req;
	const struct sb_run *run = &req.run;
	struct sock_fprog prog;
	struct sb_arming arming;
	struct rusage ru;
	struct stat st;
	uint64_t cpu_s;
	char *src;
	ssize_t n;
	size_t got = 0;
	long listener;
	int code = 0, nullfd, fds[4], nfds, memfd, out, errfd, inputw, outdir;
	char opts[64], c;
	struct pollfd pfd;

	/*
	 * If the zygote dies, so does its payload: it must never run
	 * unsupervised.  (The zygote is the pid namespace's init: its death
	 * ends everything in it anyway.)
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		_exit(EXIT_SANDBOX);
	/* Nothing of the other sandboxes: only our run and our go. */
	keepfds(ctl, go);

	/*
	 * A mount namespace of our own for a private /tmp: a fresh tmpfs,
	 * size- and inode-capped, so nothing written survives this run and no
	 * run can fill another's.  Safe: we hold CAP_SYS_ADMIN only inside the
	 * sandbox's user namespace, and the mount is invisible outside it.
	 */
	if (unshare(CLONE_NEWNS) != 0)
		die("unshare mount namespace: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=4096,mode=1777",
	    (unsigned long long)sp->tmp_bytes);
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0 ||
	    stat("/tmp", &st) != 0)
		die("mount /tmp: %s", strerror(errno));
	memset(&arming, 0, sizeof(arming));
	arming.tmp_dev = (uint64_t)st.st_dev;
	mountfiles(sp, &inputw, &outdir);
	if (dropcaps() != 0)
		die("dropping capabilities: %s", strerror(errno));

	/*
	 * airlock-wake says go once this process is in its sandbox's cgroup,
	 * so that what follows is charged there.
	 */
	pfd.fd = go;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, sp->lease_ms > INT32_MAX ? -1 : (int)sp->lease_ms) <= 0 ||
	    read(go, &c, 1) != 1)
		_exit(0);
	close(go);

	/* The language's own preparation: fresh randomness, a warm-up. */
	lang_after_fork();

	n = recvmsgfds(ctl, SB_RUN, &req, sizeof(req.run), sizeof(req), fds, 4,
	    &nfds);
	if (n <= 0)
		_exit(0);	/* the sandbox expired unclaimed */
	arming.t_run = now_ns();
	if (nfds != 4 || req.run.bpf_len == 0 || req.run.bpf_len > SB_BPF_MAX ||
	    (size_t)n != sizeof(req.run) + req.run.bpf_len *
	    sizeof(struct sock_filter))
		_exit(EXIT_SANDBOX);
	memfd = fds[0];
	out = fds[1];
	errfd = fds[2];
	prog.len = (unsigned short)run->bpf_len;
	prog.filter = (struct sock_filter *)(req.buf + sizeof(req.run));

	if (fstat(memfd, &st) != 0 || (uint64_t)st.st_size != run->payload_bytes ||
	    run->payload_bytes > PAYLOAD_MAX)
		die("payload memfd has the wrong size");
	if ((src = malloc(run->payload_bytes + 1)) == NULL)
		die("out of memory for the payload");
	while (got < run->payload_bytes) {
		n = pread(memfd, src + got, run->payload_bytes - got, (off_t)got);
		if (n <= 0)
			die("read payload: %s", n < 0 ? strerror(errno) : "short");
		got += (size_t)n;
	}
	src[got] = '\0';
	if (memchr(src, '\0', got) != NULL)
		die("payload contains a NUL byte");
	close(memfd);
	putfiles(fds[3], inputw, sp->files);
	close(fds[3]);
	close(inputw);

	/*
	 * Descriptors: stdin /dev/null, stdout and stderr snaft's pipes, the
	 * zygote on CTL_FD for the hand-over, /output on SB_OUTDIR_FD until it
	 * is sent, and nothing else, so that the listener lands on
	 * SB_LISTENER_FD.  Everything is moved out of the way first, so that
	 * no dup2 overwrites a descriptor still to be moved.
	 */
	ctl = movehigh(ctl);
	out = movehigh(out);
	errfd = movehigh(errfd);
	outdir = movehigh(outdir);
	if ((nullfd = open("/dev/null", O_RDONLY)) < 0 ||
	    dup2(nullfd, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0 ||
	    dup2(ctl, CTL_FD) < 0 || dup2(outdir, SB_OUTDIR_FD) < 0)
		die("descriptors: %s", strerror(errno));
	if (syscall(SYS_close_range, SB_OUTDIR_FD + 1, ~0U, 0) != 0 ||
	    (close(SB_LISTENER_FD) != 0 && errno != EBADF))
		die("close_range: %s", strerror(errno));

	/*
	 * Limits inside the sandbox; snaft enforces wall time and output from
	 * the host side as well.  The hard CPU limit is one second above the
	 * soft one so that SIGXCPU comes first and SIGKILL follows.
	 *
	 * Memory: where snaft set the run's cgroup to memory_bytes, that is
	 * the limit, and the kernel counts its OOM kills where no payload can
	 * write; the address space is then left unlimited, so that a payload
	 * over the limit meets the cgroup and not a MemoryError of its own.
	 * Without a cgroup, the address space is the limit (and an allocation
	 * over it a MemoryError, which is the payload's to handle).
	 */
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage: %s", strerror(errno));
	arming.cpu_us = rusage_us(&ru);
	arming.minflt = (uint64_t)ru.ru_minflt;
	if (run->flags & SB_RUN_MEMCG)
		setlimit(RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY, "AS");
	else
		setlimit(RLIMIT_AS, run->memory_bytes, run->memory_bytes, "AS");
	cpu_s = (arming.cpu_us / 1000 + run->cpu_ms + 999) / 1000;
	setlimit(RLIMIT_CPU, cpu_s, cpu_s + 1, "CPU");
	setlimit(RLIMIT_FSIZE, run->file_bytes, run->file_bytes, "FSIZE");
	setlimit(RLIMIT_CORE, 0, 0, "CORE");
	setlimit(RLIMIT_NOFILE, 64, 64, "NOFILE");
	setlimit(RLIMIT_NPROC, 0, 0, "NPROC");
	setlimit(RLIMIT_MEMLOCK, 0, 0, "MEMLOCK");
	setlimit(RLIMIT_MSGQUEUE, 0, 0, "MSGQUEUE");
	/*
	 * Not dumpable: no process of the same uid may attach to this one or
	 * read its memory, even if a way round the filter were found; the
	 * zygote and snaft hold CAP_SYS_PTRACE over it and still can.  The
	 * zygote's 1 us timer slack is its own: back to the default.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_TIMERSLACK, 0UL, 0, 0, 0) != 0)
		die("prctl: %s", strerror(errno));

	/*
	 * The hand-over (see CTL_FD), with /output for snaft.  NO_NEW_PRIVS is
	 * already set (inherited from the zygote).  From the filter on every
	 * system call goes through it, and in observe mode every one waits
	 * for the monitor.
	 */
	outdir = SB_OUTDIR_FD;
	arming.t_arming = now_ns();
	if (sendmsgfds(CTL_FD, SB_ARMING, 0, &arming, sizeof(arming), &outdir,
	    1) != 0)
		_exit(EXIT_SANDBOX);
	close(SB_OUTDIR_FD);
	listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener != SB_LISTENER_FD)
		_exit(EXIT_SANDBOX);	/* the zygote reports it: no listener */
	if (read(CTL_FD, &c, 1) != 1 || c != 'g')
		_exit(EXIT_SANDBOX);
	close(CTL_FD);
	close(SB_LISTENER_FD);

	code = lang_run(src, got);
	/*
	 * Close the output first: the monitor then has every byte, and its
	 * end, before this process spends a millisecond tearing down the
	 * interpreter's address space in exit.
	 */
	close(1);
	close(2);
	_exit(code);
}

/* ---- the sandbox -------------------------------------------------------- */

static int
dropcaps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int c;

	/*
	 * Empty the bounding set first (that needs CAP_SETPCAP), then every
	 * other set, so that nothing in the sandbox can regain a capability,
	 * not even inside its own user namespace.
	 */
	for (c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		return -1;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) != 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static uint64_t
rusage_us(const struct rusage *ru)
{
	return (uint64_t)ru->ru_utime.tv_sec * 1000000 +
	    (uint64_t)ru->ru_utime.tv_usec +
	    (uint64_t)ru->ru_stime.tv_sec * 1000000 +
	    (uint64_t)ru->ru_stime.tv_usec;
}

/* How the run ended, and what it used beyond what b used before it. */
static void
writeexit(int conn, int status, const struct rusage *ru, int wallkilled,
    uint64_t cpu_base_us, uint64_t minflt_base)
{
	struct sb_exit e;
	uint64_t cpu = rusage_us(ru), minflt = (uint64_t)ru->ru_minflt;

	memset(&e, 0, sizeof(e));
	if (WIFEXITED(status)) {
		e.how = SB_EXITED;
		e.code = WEXITSTATUS(status);
	} else {
		e.how = SB_SIGNALED;
		e.code = WTERMSIG(status);
	}
	e.cpu_us = cpu > cpu_base_us ? cpu - cpu_base_us : 0;
	e.maxrss_kb = (uint64_t)ru->ru_maxrss;
	e.minflt = minflt > minflt_base ? minflt - minflt_base : 0;
	e.wall_killed = wallkilled;
	(void)sendmsgfds(conn, SB_EXIT, 0, &e, sizeof(e), NULL, 0);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_ms(void)
{
	return now_ns() / 1000000;
}

/* ---- the zygote's supervision ----------------------------------------- */

enum sbstate {
	SBX_POOL,	/* waiting to be claimed on its socket */
	SBX_CLAIMED,	/* snaft connected; waiting for its SB_RUN */
	SBX_STARTING,	/* run forwarded; waiting for SB_ARMING */
	SBX_ARMING,	/* its filter is going in; taking the listener */
	SBX_RUNNING,	/* snaft holds the listener; waiting for the exit */
	SBX_ENDING,	/* killed, or snaft gone: waiting to reap */
};

/* One pool sandbox: its payload process and what the zygote holds of it. */
struct sandbox {
	struct sandbox	*next;
	enum sbstate	 state;
	pid_t		 pid;
	int		 pidfd;
	int		 lsock;		/* its handle, until claimed */
	int		 conn;		/* snaft, from the claim on */
	int		 ctl;		/* to the payload process, until it runs */
	int		 outdir;	/* its /output, from SB_ARMING to snaft */
	int		 wallkilled;
	uint64_t	 tmp_dev;	/* from its SB_ARMING */
	uint64_t	 deadline;	/* ms: lease, filter, then wall time */
	uint64_t	 claimed;	/* ms: when snaft claimed it */
	uint64_t	 wall_ms;
	uint64_t	 t_ns[SB_T_COUNT];	/* its start's steps, for snaft */
	uint64_t	 cpu_base_us;	/* used before the run: SB_ARMING */
	uint64_t	 minflt_base;
};

#define ZYGOTE_MAXSB	1024
#define ZYGOTE_MAXFDS	(1 + 3 * ZYGOTE_MAXSB)
#define CLAIM_FIRST_MS	50	/* spawns wait this long at most for a start */
#define STACK_WIPE	32768	/* bytes of dead stack cleared before a fork */

/*
 * Everything the zygote knows of its sandboxes, in one mapping that the
 * kernel gives every fork as fresh zero pages (MADV_WIPEONFORK): no
 * payload process inherits a word of another sandbox's bookkeeping, nor a
 * run request the zygote forwarded for another tenant.  The zygote keeps
 * no other state about its sandboxes: it allocates nothing after its
 * interpreter is initialised.
 */
struct zygote {
	struct sandbox	 slots[ZYGOTE_MAXSB];
	struct sandbox	*live;		/* the sandboxes, newest first */
	struct sandbox	*free;		/* unused slots */
	struct pollfd	 pfd[ZYGOTE_MAXFDS];
	struct sandbox	*who[ZYGOTE_MAXFDS];
	union {
		struct sb_run run;
		char buf[sizeof(struct sb_run) +
		    SB_BPF_MAX * sizeof(struct sock_filter)];
	} req;
};

static struct zygote *zy;

static void
zygote_init(void)
{
	int i;

	zy = mmap(NULL, sizeof(*zy), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zy == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	/* No fallback: without it, bookkeeping would reach the sandboxes. */
	if (madvise(zy, sizeof(*zy), MADV_WIPEONFORK) != 0)
		die("madvise MADV_WIPEONFORK: %s", strerror(errno));
	for (i = ZYGOTE_MAXSB - 1; i >= 0; i--) {
		zy->slots[i].next = zy->free;
		zy->free = &zy->slots[i];
	}
}

/*
 * Clear the stack below the caller, where the handlers of other sandboxes'
 * events left their locals (exit statuses, error texts), so that a fork
 * made next inherits none of it.
 */
static void __attribute__((noinline))
wipestack(void)
{
	char dead[STACK_WIPE];

	explicit_bzero(dead, sizeof(dead));
	__asm__ volatile("" : : "r"(dead) : "memory");
}

static void
closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
sbkill(struct sandbox *b)
{
	(void)syscall(SYS_pidfd_send_signal, b->pidfd, SIGKILL, NULL, 0);
}

/* Stop supervising: the run's end is reported or nobody waits for it. */
static void
sbend(struct sandbox *b)
{
	sbkill(b);
	closefd(&b->lsock);
	closefd(&b->conn);
	closefd(&b->ctl);
	closefd(&b->outdir);
	b->state = SBX_ENDING;
}

/*
 * Fork the payload process of a new pool sandbox, handle lsock, started by
 * go.  Returns a pidfd of it for airlock-wake; any failure here is the
 * zygote's end (die()).
 */
static int
spawn(const struct sb_spawn *sp, int lsock, int go)
{
	struct sandbox *b;
	int sv[2], pidfd;
	pid_t pid;

	if ((b = zy->free) == NULL)
		die("more than %d sandboxes", ZYGOTE_MAXSB);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair: %s", strerror(errno));
	fflush(NULL);
	wipestack();
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		zy = NULL;	/* zero pages here: see struct zygote */
		signal(SIGCHLD, SIG_DFL);
		payload(sv[1], go, sp);
	}
	close(go);
	close(sv[1]);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		die("pidfd_open: %s", strerror(errno));
	zy->free = b->next;
	memset(b, 0, sizeof(*b));
	b->state = SBX_POOL;
	b->pid = pid;
	b->pidfd = pidfd;
	b->lsock = lsock;
	b->conn = -1;
	b->ctl = sv[0];
	b->outdir = -1;
	/*
	 * Unclaimed, it expires: a lease for go (the payload process gives
	 * up by itself) and a lease from then to be claimed.
	 */
	b->deadline = now_ms() + 2 * sp->lease_ms;
	b->next = zy->live;
	zy->live = b;
	return pidfd;
}

/* snaft connected: accept the claim. */
static void
onclaim(struct sandbox *b)
{
	if ((b->conn = accept4(b->lsock, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		sbend(b);
		return;
	}
	closefd(&b->lsock);
	b->claimed = now_ms();
	b->state = SBX_CLAIMED;
}

/* The run request: checked, then handed to the payload process as it came. */
static void
onrun(struct sandbox *b)
{
	int fds[4], nfds = 0, i;
	ssize_t n;

	n = recvmsgfds(b->conn, SB_RUN, &zy->req, sizeof(zy->req.run),
	    sizeof(zy->req), fds, 4, &nfds);
	b->t_ns[SB_T_ZYGOTE_RUN] = now_ns();
	if (n == 0) {
		/* snaft hung up without a run: it will not run the record. */
		sbend(b);
		return;
	}
	if (n < 0 || nfds != 4 || zy->req.run.bpf_len == 0 ||
	    zy->req.run.bpf_len > SB_BPF_MAX ||
	    (size_t)n != sizeof(zy->req.run) + zy->req.run.bpf_len *
	    sizeof(struct sock_filter)) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		senderror(b->conn, "malformed run request");
		sbend(b);
		return;
	}
	if (sendmsgfds(b->ctl, SB_RUN, 0, &zy->req, (uint32_t)n, fds, 4) != 0) {
		senderror(b->conn, "handing the run over: %s", strerror(errno));
		for (i = 0; i < 4; i++)
			close(fds[i]);
		sbend(b);
		return;
	}
	for (i = 0; i < 4; i++)
		close(fds[i]);
	b->wall_ms = zy->req.run.wall_ms;
	/* Forwarded: nothing of this tenant's request stays here. */
	explicit_bzero(&zy->req, (size_t)n);
	b->deadline = now_ms() + 5000;
	b->state = SBX_STARTING;
}

/*
 * The filter is in place once its listener exists in the payload process:
 * take it out (the payload process cannot send it itself: every system
 * call it makes now waits on that very listener), give it and a pidfd to
 * snaft, and let the payload run.  Until the filter call returns the
 * descriptor does not exist, and we try again shortly.
 */
static void
takelistener(struct sandbox *b)
{
	struct sb_started started;
	uint64_t id = 0;
	int lfd, give[3];

	lfd = (int)syscall(SYS_pidfd_getfd, b->pidfd, SB_LISTENER_FD, 0);
	if (lfd < 0 && errno == EBADF)
		return;		/* not yet */
	if (lfd < 0) {
		senderror(b->conn, "pidfd_getfd: %s", strerror(errno));
		sbend(b);
		return;
	}
	/*
	 * Only the filter call makes that descriptor (the payload process
	 * closed everything above CTL_FD), but check what it is: a seccomp
	 * listener knows no notification 0.
	 */
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 ||
	    errno != ENOENT) {
		close(lfd);
		senderror(b->conn, "descriptor %d of the payload process is "
		    "not its seccomp listener", SB_LISTENER_FD);
		sbend(b);
		return;
	}
	give[0] = lfd;
	give[1] = b->pidfd;
	give[2] = b->outdir;
	memset(&started, 0, sizeof(started));
	started.pid = b->pid;
	started.tmp_dev = b->tmp_dev;
	started.cpu_base_us = b->cpu_base_us;
	b->t_ns[SB_T_ZYGOTE_LISTENER] = now_ns();
	memcpy(started.t_ns, b->t_ns, sizeof(started.t_ns));
	if (sendmsgfds(b->conn, SB_STARTED, 0, &started, sizeof(started), give,
	    3) != 0) {
		close(lfd);
		sbend(b);
		return;
	}
	close(lfd);
	closefd(&b->outdir);
	/* snaft holds the listener: go, and the channel closes for good. */
	if (write(b->ctl, "g", 1) != 1) {
		sbend(b);
		return;
	}
	closefd(&b->ctl);
	b->deadline = now_ms() + b->wall_ms;
	b->state = SBX_RUNNING;
}

/* The payload process says its filter goes in next. */
static void
onarming(struct sandbox *b)
{
	struct sb_arming a;
	int nfds = 0;
	ssize_t n;

	n = recvmsgfds(b->ctl, SB_ARMING, &a, sizeof(a), sizeof(a), &b->outdir,
	    1, &nfds);
	if (n > 0 && nfds != 1) {
		n = -1;
		if (nfds > 0)
			closefd(&b->outdir);
	}
	if (n <= 0) {
		/* Gone or garbled before its filter: onexit reports it. */
		closefd(&b->ctl);
		sbkill(b);
		return;
	}
	b->tmp_dev = a.tmp_dev;
	b->t_ns[SB_T_PAYLOAD_RUN] = a.t_run;
	b->t_ns[SB_T_PAYLOAD_ARMING] = a.t_arming;
	b->t_ns[SB_T_ZYGOTE_ARMING] = now_ns();
	b->cpu_base_us = a.cpu_us;
	b->minflt_base = a.minflt;
	b->state = SBX_ARMING;
	takelistener(b);
}

/* The payload process is gone: reap it, report it, forget the sandbox. */
static void
onexit(struct sandbox **bp)
{
	struct sandbox *b = *bp;
	struct rusage ru;
	int status;

	if (wait4(b->pid, &status, WNOHANG, &ru) != b->pid)
		return;
	if ((b->state == SBX_STARTING || b->state == SBX_ARMING) &&
	    b->conn >= 0)
		senderror(b->conn, "payload process died before its filter was "
		    "installed (status 0x%x)", status);
	else if (b->state == SBX_RUNNING && b->conn >= 0)
		writeexit(b->conn, status, &ru, b->wallkilled, b->cpu_base_us,
		    b->minflt_base);
	closefd(&b->lsock);
	closefd(&b->conn);
	closefd(&b->ctl);
	closefd(&b->outdir);
	close(b->pidfd);
	*bp = b->next;
	memset(b, 0, sizeof(*b));
	b->next = zy->free;
	zy->free = b;
}

/* One event on b's socket: its handle, snaft's connection, or its ctl. */
static void
onevent(struct sandbox *b, int fd)
{
	if (fd == b->ctl) {
		if (b->state == SBX_STARTING)
			onarming(b);
		else {
			/* It says nothing else: its end, garbled or not. */
			closefd(&b->ctl);
			sbkill(b);
		}
		return;
	}
	switch (b->state) {
	case SBX_POOL:
		onclaim(b);
		break;
	case SBX_CLAIMED:
		onrun(b);
		break;
	case SBX_STARTING:
	case SBX_ARMING:
	case SBX_RUNNING:
		/* snaft sends nothing more: this is its end.  Nobody watches. */
		closefd(&b->conn);
		sbkill(b);
		b->state = SBX_ENDING;
		break;
	case SBX_ENDING:
		break;
	}
}

static void
ontime(struct sandbox *b, uint64_t now)
{
	if (b->state == SBX_ARMING) {
		takelistener(b);
		if (b->state != SBX_ARMING)
			return;
	}
	if (now < b->deadline || b->state == SBX_ENDING)
		return;
	switch (b->state) {
	case SBX_POOL:
	case SBX_CLAIMED:
		sbend(b);		/* the lease is over */
		break;
	case SBX_STARTING:
	case SBX_ARMING:
		senderror(b->conn, "payload process never installed its filter");
		sbend(b);
		break;
	case SBX_RUNNING:
		/* The wall limit, enforced from inside as well as by snaft. */
		b->wallkilled = 1;
		sbkill(b);
		b->deadline = UINT64_MAX;
		break;
	case SBX_ENDING:
		break;
	}
}

/* Add fd to the poll set for b; -1 adds nothing. */
static void
watch(int *n, int fd, struct sandbox *b)
{
	if (fd < 0 || *n >= ZYGOTE_MAXFDS)
		return;
	zy->pfd[*n].fd = fd;
	zy->pfd[*n].events = POLLIN;
	zy->who[(*n)++] = b;
}

int
main(int argc, char *argv[])
{
	struct sb_spawn sp;
	struct sandbox *b, **bp;
	struct timespec ts, *tsp;
	uint64_t now, next;
	int ctl = SB_ZYGOTE_FD, fds[2], nfds, pidfd, n, i, arming, claiming;
	uint32_t seq = 0;
	ssize_t r;

	lang_init(argc, argv);
	zygote_init();
	if (sendmsgfds(ctl, SB_READY, 0, NULL, 0, NULL, 0) != 0)
		die("ready: %s", strerror(errno));
	/* The filter hand-over polls in short sleeps; keep them short. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	for (;;) {
		now = now_ms();
		next = UINT64_MAX;
		arming = 0;
		claiming = 0;
		for (b = zy->live; b != NULL; b = b->next) {
			/*
			 * A run being started goes before a new sandbox: forking
			 * the interpreter takes milliseconds, and the run's
			 * start would wait for it.  Not for long, though.
			 */
			if ((b->state == SBX_CLAIMED ||
			    b->state == SBX_STARTING ||
			    b->state == SBX_ARMING) &&
			    now - b->claimed < CLAIM_FIRST_MS)
				claiming = 1;
			ontime(b, now);
			if (b->state == SBX_ARMING)
				arming = 1;
			if (b->state != SBX_ENDING && b->deadline < next)
				next = b->deadline;
		}
		/* wake's socket: not while a run starts, nor once wake is gone. */
		zy->pfd[0].fd = claiming ? -1 : ctl;
		zy->pfd[0].events = POLLIN;
		zy->who[0] = NULL;
		n = 1;
		for (b = zy->live; b != NULL; b = b->next) {
			watch(&n, b->pidfd, b);
			watch(&n, b->state == SBX_POOL ? b->lsock : b->conn, b);
			watch(&n, b->state == SBX_STARTING ? b->ctl : -1, b);
		}
		/*
		 * Sleep until something happens or the next deadline; while a
		 * filter goes in, wake every 20 us to take its listener, which
		 * its payload process cannot announce (see CTL_FD).
		 */
		tsp = NULL;
		if (arming) {
			ts.tv_sec = 0;
			ts.tv_nsec = 20000;
			tsp = &ts;
		} else if (next != UINT64_MAX) {
			uint64_t ms = next > now ? next - now : 0;

			ts.tv_sec = (time_t)(ms / 1000);
			ts.tv_nsec = (long)(ms % 1000) * 1000000;
			tsp = &ts;
		}
		if (ppoll(zy->pfd, (nfds_t)n, tsp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll: %s", strerror(errno));
		}

		/* Sandboxes first: a waiting payload is on a run's clock. */
		for (i = 1; i < n; i++) {
			if (zy->pfd[i].revents == 0)
				continue;
			for (bp = &zy->live; *bp != NULL && *bp != zy->who[i];
			    bp = &(*bp)->next)
				;
			if (*bp == NULL)
				continue;	/* gone earlier in this pass */
			if (zy->pfd[i].fd == (*bp)->pidfd) {
				b = *bp;
				onexit(bp);
				/* Its other events are stale: skip them. */
				if (*bp != b)
					while (i + 1 < n && zy->who[i + 1] == b)
						i++;
			} else
				onevent(*bp, zy->pfd[i].fd);
		}

		if (ctl < 0 && zy->live == NULL)
			_exit(0);	/* every run reported: done */
		if (ctl < 0 || zy->pfd[0].revents == 0)
			continue;
		r = recvmsgfds(ctl, SB_SPAWN, &sp, sizeof(sp), sizeof(sp), fds,
		    2, &nfds);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			/*
			 * airlock-wake is going: no new sandboxes, the unclaimed
			 * ones end, and the runs under way are still reported
			 * before we exit (wake waits a moment for that).
			 */
			closefd(&ctl);
			for (b = zy->live; b != NULL; b = b->next)
				if (b->state == SBX_POOL)
					sbend(b);
			continue;
		}
		if (r < 0 || nfds != 2)
			die("bad message from airlock-wake (%zd, %d fds): %s",
			    r, nfds, strerror(errno));
		seq++;
		pidfd = spawn(&sp, fds[0], fds[1]);
		if (sendmsgfds(ctl, SB_SPAWNED, seq, NULL, 0, &pidfd, 1) != 0)
			_exit(0);
	}
}
