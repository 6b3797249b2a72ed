/*
 * python-runner: the Python runner of the process backend (DESIGN.md
 * section 4).  It runs inside the sandbox, in the image's root filesystem,
 * started by airlock-wake with its control socket on descriptor 3.
 *
 * Two roles, one binary:
 *
 *  zygote   initialises CPython once and imports the common modules, then
 *           forks a pool sandbox for every SB_SPAWN from airlock-wake, and
 *           supervises them all from one event loop: it accepts snaft's
 *           claim on each sandbox's socket, forwards the run, hands snaft
 *           the seccomp listener, enforces the lease and the wall time, and
 *           reports how each payload ended (it is their parent, so wait4
 *           gives the status and CPU time);
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
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <linux/capability.h>
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
#include <linux/futex.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define PAYLOAD_MAX	(64u * 1024 * 1024)

static const char *progname = "python-runner";

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s[%d]: ", progname, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(112);
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
 * The page shared between the zygote and a payload process for the
 * listener hand-over.  The payload side writes listener then sets state 1
 * once its filter is in place; the zygote takes the listener with
 * pidfd_getfd(2), sets state 2 and wakes the futex the payload side sleeps
 * on.  The payload side cannot signal anything: every system call after
 * the filter goes to a listener nobody holds yet, so the zygote polls for
 * state 1.
 */
struct handover {
	volatile int	state;
	volatile int	listener;
	volatile int	memory_error;
};

static void
setlimit(int res, uint64_t soft, uint64_t hard, const char *what)
{
	struct rlimit rl = { (rlim_t)soft, (rlim_t)hard };

	if (setrlimit(res, &rl) != 0)
		die("setrlimit %s: %s", what, strerror(errno));
}

static int
exitcode(void)
{
	PyObject *type, *value, *tb, *code;
	long c = 1;

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	code = value ? PyObject_GetAttrString(value, "code") : NULL;
	if (code == NULL || code == Py_None)
		c = 0;
	else if (PyLong_Check(code))
		c = PyLong_AsLong(code) & 0xff;
	else {
		/* sys.exit("message") prints the message and exits 1. */
		PyObject_Print(code, stderr, Py_PRINT_RAW);
		fputc('\n', stderr);
		c = 1;
	}
	PyErr_Clear();
	Py_XDECREF(code);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return (int)c;
}

/*
 * The payload process, forked when the sandbox is made, so that a run pays
 * neither the fork nor the interpreter's after-fork work.  It waits for the
 * run its sandbox forwards, then never trusts itself again.
 */
static int	dropcaps(void);

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

static void __attribute__((noreturn))
payload(struct handover *ho, int ctl, int go, const struct sb_spawn *sp)
{
	static union {
		struct sb_run run;
		char buf[sizeof(struct sb_run) +
		    SB_BPF_MAX * sizeof(struct sock_filter)];
	} req;
	const struct sb_run *run = &req.run;
	struct sock_fprog prog;
	PyObject *main, *globals, *res;
	struct stat st;
	char *src;
	ssize_t n;
	size_t got = 0;
	long listener;
	int code = 0, memerr = 0, nullfd, fds[3], nfds, memfd, out, errfd;

	char opts[64], c;
	struct pollfd pfd;

	/*
	 * If the zygote dies, so does its payload: it must never run
	 * unsupervised.  (The zygote is the pid namespace's init: its death
	 * ends everything in it anyway.)
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		_exit(112);
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
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		die("mount /tmp: %s", strerror(errno));
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

	/*
	 * Fresh randomness for this process, which serves exactly one run:
	 * never the zygote's RNG state.  (random also reseeds itself in
	 * PyOS_AfterFork_Child through os.register_at_fork; seeding again
	 * costs little and does not depend on that.)
	 */
	PyOS_AfterFork_Child();
	res = PyRun_String("import random as _r; _r.seed(); del _r",
	    Py_file_input, PyModule_GetDict(PyImport_AddModule("__main__")),
	    NULL);
	if (res == NULL)
		die("reseeding random failed");
	Py_DECREF(res);

	/*
	 * Warm up: compile and run a small program now, while output still
	 * goes to /dev/null, so that the copy-on-write faults of the compiler
	 * and of printing are taken here and not in the run.
	 */
	res = PyRun_String("print(compile('x = [str(i) for i in range(9)]\\n'"
	    "'print(x, {1: 2})', '<warm>', 'exec') is not None)\n"
	    "import sys\nsys.stdout.flush()\nsys.stderr.flush()\n",
	    Py_file_input, PyModule_GetDict(PyImport_AddModule("__main__")),
	    NULL);
	if (res == NULL)
		die("warm-up failed");
	Py_DECREF(res);

	n = recvmsgfds(ctl, SB_RUN, &req, sizeof(req.run), sizeof(req), fds, 3,
	    &nfds);
	if (n <= 0)
		_exit(0);	/* the sandbox expired unclaimed */
	if (nfds != 3 || req.run.bpf_len == 0 || req.run.bpf_len > SB_BPF_MAX ||
	    (size_t)n != sizeof(req.run) + req.run.bpf_len *
	    sizeof(struct sock_filter))
		_exit(112);
	close(ctl);
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

	/* Descriptors: stdin /dev/null, stdout and stderr snaft's pipes. */
	if ((nullfd = open("/dev/null", O_RDONLY)) < 0 ||
	    dup2(nullfd, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		die("descriptors: %s", strerror(errno));
	if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
		die("close_range: %s", strerror(errno));

	/*
	 * Limits inside the sandbox; snaft enforces wall time and output from
	 * the host side as well.  The hard CPU limit is one second above the
	 * soft one so that SIGXCPU comes first and SIGKILL follows.
	 */
	setlimit(RLIMIT_AS, run->memory_bytes, run->memory_bytes, "AS");
	setlimit(RLIMIT_CPU, (run->cpu_ms + 999) / 1000,
	    (run->cpu_ms + 999) / 1000 + 1, "CPU");
	setlimit(RLIMIT_FSIZE, run->file_bytes, run->file_bytes, "FSIZE");
	setlimit(RLIMIT_CORE, 0, 0, "CORE");
	setlimit(RLIMIT_NOFILE, 64, 64, "NOFILE");
	setlimit(RLIMIT_NPROC, 0, 0, "NPROC");
	setlimit(RLIMIT_MEMLOCK, 0, 0, "MEMLOCK");
	setlimit(RLIMIT_MSGQUEUE, 0, 0, "MSGQUEUE");
	/* CPython ignores SIGXFSZ; a payload over the file limit must die. */
	signal(SIGXFSZ, SIG_DFL);

	/*
	 * The SNAFT filter.  NO_NEW_PRIVS is already set (inherited from the
	 * sandbox).  From here on every system call goes through the filter,
	 * and in observe mode every one waits for the monitor.
	 */
	listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener < 0)
		_exit(112);	/* the sandbox reports it: state stays 0 */
	ho->listener = (int)listener;
	__atomic_store_n(&ho->state, 1, __ATOMIC_RELEASE);
	/*
	 * Sleep, not spin, until the sandbox holds the listener: a spinning
	 * payload process starves the very process it waits for on a small
	 * machine.  In observe mode this futex call itself waits for the
	 * monitor, which is fine: the monitor gets the listener first.
	 */
	while (__atomic_load_n(&ho->state, __ATOMIC_ACQUIRE) != 2)
		syscall(SYS_futex, &ho->state, FUTEX_WAIT, 1, NULL, NULL, 0);
	close((int)listener);

	main = PyImport_AddModule("__main__");
	globals = PyModule_GetDict(main);
	res = PyRun_StringFlags(src, Py_file_input, globals, globals, NULL);
	if (res == NULL) {
		if (PyErr_ExceptionMatches(PyExc_SystemExit))
			code = exitcode();
		else {
			memerr = PyErr_ExceptionMatches(PyExc_MemoryError);
			PyErr_Print();
			code = 1;
		}
	} else
		Py_DECREF(res);
	/* Flush what Python buffered; errors here are the payload's. */
	res = PyRun_String("import sys\ntry:\n sys.stdout.flush()\nexcept "
	    "BaseException:\n pass\ntry:\n sys.stderr.flush()\nexcept "
	    "BaseException:\n pass\n", Py_file_input, globals, globals);
	Py_XDECREF(res);
	PyErr_Clear();
	ho->memory_error = memerr;
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

static void
writeexit(int conn, int status, const struct rusage *ru, int memerr,
    int wallkilled)
{
	struct sb_exit e;

	memset(&e, 0, sizeof(e));
	if (WIFEXITED(status)) {
		e.how = SB_EXITED;
		e.code = WEXITSTATUS(status);
	} else {
		e.how = SB_SIGNALED;
		e.code = WTERMSIG(status);
	}
	e.cpu_us = (uint64_t)ru->ru_utime.tv_sec * 1000000 +
	    (uint64_t)ru->ru_utime.tv_usec +
	    (uint64_t)ru->ru_stime.tv_sec * 1000000 +
	    (uint64_t)ru->ru_stime.tv_usec;
	e.maxrss_kb = (uint64_t)ru->ru_maxrss;
	e.memory_error = memerr != 0;
	e.wall_killed = wallkilled;
	(void)sendmsgfds(conn, SB_EXIT, 0, &e, sizeof(e), NULL, 0);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the zygote ----------------------------------------------------------- */

static void
initpython(int argc, char *argv[])
{
	PyConfig config;
	PyStatus st;
	PyObject *res;
	int i;

	/*
	 * Isolated: no environment variables, no user site, no current
	 * directory on sys.path.  No site import: the image carries no site
	 * packages, and skipping it keeps start-up small.
	 */
	PyConfig_InitIsolatedConfig(&config);
	config.site_import = 0;
	config.write_bytecode = 0;
	config.install_signal_handlers = 1;
	st = PyConfig_SetString(&config, &config.program_name, L"python3");
	if (!PyStatus_Exception(st))
		st = PyConfig_SetString(&config, &config.home, L"/usr");
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st))
		die("initialising Python: %s", st.err_msg ? st.err_msg : "?");

	/* The snapshot's modules, imported once so no run pays for them. */
	for (i = 1; i < argc; i++) {
		PyObject *m = PyImport_ImportModule(argv[i]);

		if (m == NULL) {
			PyErr_Print();
			die("import %s failed", argv[i]);
		}
		Py_DECREF(m);
	}
	/*
	 * Everything imported so far is shared with every fork: freeze it out
	 * of the collector, so that no run's garbage collection walks (and so
	 * copies) the zygote's heap.
	 */
	res = PyRun_String("import sys, gc\nsys.argv = ['<payload>']\n"
	    "gc.collect()\ngc.freeze()\n",
	    Py_file_input, PyModule_GetDict(PyImport_AddModule("__main__")),
	    NULL);
	if (res == NULL)
		die("setting sys.argv failed");
	Py_DECREF(res);
}

/* ---- the zygote's supervision ----------------------------------------- */

enum sbstate {
	SBX_POOL,	/* waiting to be claimed on its socket */
	SBX_CLAIMED,	/* snaft connected; waiting for its SB_RUN */
	SBX_STARTING,	/* run forwarded; waiting for the filter */
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
	int		 ctl;		/* to the payload process: the run */
	struct handover	*ho;
	uint64_t	 deadline;	/* ms: lease, filter, then wall time */
	uint64_t	 claimed;	/* ms: when snaft claimed it */
	uint64_t	 wall_ms;
	int		 wallkilled;
};

static struct sandbox *sandboxes;

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
	struct handover *ho;
	int sv[2], pidfd;
	pid_t pid;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		die("out of memory");
	ho = mmap(NULL, sizeof(*ho), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ho == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		payload(ho, sv[1], go, sp);
	}
	close(go);
	close(sv[1]);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		die("pidfd_open: %s", strerror(errno));
	b->state = SBX_POOL;
	b->pid = pid;
	b->pidfd = pidfd;
	b->lsock = lsock;
	b->conn = -1;
	b->ctl = sv[0];
	b->ho = ho;
	/*
	 * Unclaimed, it expires: a lease for go (the payload process gives
	 * up by itself) and a lease from then to be claimed.
	 */
	b->deadline = now_ms() + 2 * sp->lease_ms;
	b->next = sandboxes;
	sandboxes = b;
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
	static union {
		struct sb_run run;
		char buf[sizeof(struct sb_run) +
		    SB_BPF_MAX * sizeof(struct sock_filter)];
	} req;
	int fds[3], nfds = 0, i;
	ssize_t n;

	n = recvmsgfds(b->conn, SB_RUN, &req, sizeof(req.run), sizeof(req),
	    fds, 3, &nfds);
	if (n == 0) {
		/* snaft hung up without a run: it will not run the record. */
		sbend(b);
		return;
	}
	if (n < 0 || nfds != 3 || req.run.bpf_len == 0 ||
	    req.run.bpf_len > SB_BPF_MAX ||
	    (size_t)n != sizeof(req.run) + req.run.bpf_len *
	    sizeof(struct sock_filter)) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		senderror(b->conn, "malformed run request");
		sbend(b);
		return;
	}
	if (sendmsgfds(b->ctl, SB_RUN, 0, &req, (uint32_t)n, fds, 3) != 0) {
		senderror(b->conn, "handing the run over: %s", strerror(errno));
		for (i = 0; i < 3; i++)
			close(fds[i]);
		sbend(b);
		return;
	}
	for (i = 0; i < 3; i++)
		close(fds[i]);
	closefd(&b->ctl);
	b->wall_ms = req.run.wall_ms;
	b->deadline = now_ms() + 5000;
	b->state = SBX_STARTING;
}

/*
 * The filter is in place: take the listener out of the payload process
 * (it cannot send it itself: every system call it makes now waits on that
 * very listener), give it and a pidfd to snaft, and let the payload run.
 */
static void
onfilter(struct sandbox *b)
{
	struct sb_started started;
	int lfd, give[2];

	lfd = (int)syscall(SYS_pidfd_getfd, b->pidfd, b->ho->listener, 0);
	if (lfd < 0) {
		senderror(b->conn, "pidfd_getfd: %s", strerror(errno));
		sbend(b);
		return;
	}
	give[0] = lfd;
	give[1] = b->pidfd;
	started.pid = b->pid;
	started.pad = 0;
	if (sendmsgfds(b->conn, SB_STARTED, 0, &started, sizeof(started), give,
	    2) != 0) {
		close(lfd);
		sbend(b);
		return;
	}
	close(lfd);
	__atomic_store_n(&b->ho->state, 2, __ATOMIC_RELEASE);
	syscall(SYS_futex, &b->ho->state, FUTEX_WAKE, 1, NULL, NULL, 0);
	b->deadline = now_ms() + b->wall_ms;
	b->state = SBX_RUNNING;
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
	if (b->state == SBX_STARTING && b->conn >= 0)
		senderror(b->conn, "payload process died before its filter was "
		    "installed (status 0x%x)", status);
	else if (b->state == SBX_RUNNING && b->conn >= 0)
		writeexit(b->conn, status, &ru, b->ho->memory_error,
		    b->wallkilled);
	closefd(&b->lsock);
	closefd(&b->conn);
	closefd(&b->ctl);
	close(b->pidfd);
	munmap(b->ho, sizeof(*b->ho));
	*bp = b->next;
	free(b);
}

/* One event: b's socket (its handle, or snaft's connection) is ready. */
static void
onevent(struct sandbox *b)
{
	switch (b->state) {
	case SBX_POOL:
		onclaim(b);
		break;
	case SBX_CLAIMED:
		onrun(b);
		break;
	case SBX_STARTING:
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
	if (b->state == SBX_STARTING &&
	    __atomic_load_n(&b->ho->state, __ATOMIC_ACQUIRE) == 1) {
		onfilter(b);
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

#define ZYGOTE_MAXFDS	4096
#define CLAIM_FIRST_MS	50	/* spawns wait this long at most for a start */

int
main(int argc, char *argv[])
{
	static struct pollfd pfd[ZYGOTE_MAXFDS];
	static struct sandbox *who[ZYGOTE_MAXFDS];
	struct sb_spawn sp;
	struct sandbox *b, **bp;
	struct timespec ts, *tsp;
	uint64_t now, next;
	int ctl = SB_ZYGOTE_FD, fds[2], nfds, pidfd, n, i, starting, claiming;
	uint32_t seq = 0;
	ssize_t r;

	progname = "python-runner";
	initpython(argc, argv);
	if (sendmsgfds(ctl, SB_READY, 0, NULL, 0, NULL, 0) != 0)
		die("ready: %s", strerror(errno));
	/* The filter hand-over polls in short sleeps; keep them short. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	for (;;) {
		now = now_ms();
		next = UINT64_MAX;
		starting = 0;
		claiming = 0;
		for (b = sandboxes; b != NULL; b = b->next) {
			/*
			 * A run being started goes before a new sandbox: forking
			 * the interpreter takes milliseconds, and the run's
			 * start would wait for it.  Not for long, though.
			 */
			if ((b->state == SBX_CLAIMED || b->state == SBX_STARTING) &&
			    now - b->claimed < CLAIM_FIRST_MS)
				claiming = 1;
			ontime(b, now);
			if (b->state == SBX_STARTING)
				starting = 1;
			if (b->state != SBX_ENDING && b->deadline < next)
				next = b->deadline;
		}
		n = 0;
		/* -1 once wake is gone, or while a run starts: ignored. */
		pfd[n].fd = claiming ? -1 : ctl;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		for (b = sandboxes; b != NULL && n + 2 <= ZYGOTE_MAXFDS;
		    b = b->next) {
			pfd[n].fd = b->pidfd;
			pfd[n].events = POLLIN;
			who[n++] = b;
			pfd[n].fd = b->state == SBX_POOL ? b->lsock : b->conn;
			pfd[n].events = POLLIN;
			who[n++] = b;
		}
		/*
		 * Sleep until something happens or the next deadline; while a
		 * run starts, wake every 20 us to look at its payload process's
		 * flag, which it cannot signal (see struct handover).
		 */
		tsp = NULL;
		if (starting) {
			ts.tv_sec = 0;
			ts.tv_nsec = 20000;
			tsp = &ts;
		} else if (next != UINT64_MAX) {
			uint64_t ms = next > now ? next - now : 0;

			ts.tv_sec = (time_t)(ms / 1000);
			ts.tv_nsec = (long)(ms % 1000) * 1000000;
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t)n, tsp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll: %s", strerror(errno));
		}

		/* Sandboxes first: a waiting payload is on a run's clock. */
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0 || pfd[i].fd < 0)
				continue;
			for (bp = &sandboxes; *bp != NULL && *bp != who[i];
			    bp = &(*bp)->next)
				;
			if (*bp == NULL)
				continue;	/* gone earlier in this pass */
			if (pfd[i].fd == (*bp)->pidfd) {
				onexit(bp);
				/* who[i + 1] may be freed: skip its event. */
				if (*bp != who[i])
					i++;
			} else if (pfd[i].fd == (*bp)->lsock ||
			    pfd[i].fd == (*bp)->conn)
				onevent(*bp);
		}

		if (ctl < 0 && sandboxes == NULL)
			_exit(0);	/* every run reported: done */
		if (ctl < 0 || pfd[0].revents == 0)
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
			for (b = sandboxes; b != NULL; b = b->next)
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
