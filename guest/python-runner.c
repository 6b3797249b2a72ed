/*
 * python-runner: the Python runner of the process backend (DESIGN.md
 * section 4).  It runs inside the sandbox, in the image's root filesystem,
 * started by airlock-wake with its control socket on descriptor 3.
 *
 * Three roles, one binary:
 *
 *  zygote   initialises CPython once and imports the common modules, then
 *           forks a pool sandbox for every SB_SPAWN from airlock-wake;
 *  sandbox  (a fork of the zygote) gets its own mount namespace and private
 *           size-capped /tmp, drops every capability, then waits for
 *           airlock-snaft to connect with a payload; it forks the payload
 *           process, hands snaft the seccomp listener, and reports how the
 *           payload ended;
 *  payload  (a fork of the sandbox) sets its limits, installs the SNAFT
 *           filter it was given and runs the payload in the pristine
 *           interpreter.  It is never trusted after the filter is in place.
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
 * The page shared between the sandbox and its payload process for the
 * listener hand-over.  The payload side writes listener then sets state 1;
 * the sandbox takes the listener with pidfd_getfd(2), sets state 2 and
 * wakes the futex the payload side sleeps on.  The payload side cannot
 * signal anything: every system call after the filter goes to a listener
 * nobody holds yet, so the sandbox polls for state 1.
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
static void __attribute__((noreturn))
payload(struct handover *ho, int ctl)
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

	/* If the sandbox dies, so does its payload: it must never run alone. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
		_exit(112);

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

static void __attribute__((noreturn))
sandbox(int lsock, int go, const struct sb_spawn *sp)
{
	static union {
		struct sb_run run;
		char buf[sizeof(struct sb_run) +
		    SB_BPF_MAX * sizeof(struct sock_filter)];
	} req;
	char opts[64], c;
	struct handover *ho;
	struct pollfd pfd[2];
	struct rusage ru;
	struct sb_started started;
	uint64_t deadline;
	ssize_t n;
	pid_t pid;
	int conn, fds[3], nfds, pidfd, lfd, status, wallkilled = 0, give[2];
	int sp2[2];

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
	 * airlock-wake says go once this sandbox is in its cgroup, so that the
	 * payload process we fork next starts inside it.
	 */
	pfd[0].fd = go;
	pfd[0].events = POLLIN;
	if (poll(pfd, 1, sp->lease_ms > INT32_MAX ? -1 : (int)sp->lease_ms) <= 0 ||
	    read(go, &c, 1) != 1)
		_exit(0);
	close(go);

	ho = mmap(NULL, sizeof(*ho), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ho == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp2) != 0)
		die("socketpair: %s", strerror(errno));
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(lsock);
		close(sp2[0]);
		payload(ho, sp2[1]);
	}
	close(sp2[1]);

	/* Wait to be claimed; an unclaimed sandbox expires with its lease. */
	pfd[0].fd = lsock;
	pfd[0].events = POLLIN;
	if (poll(pfd, 1, sp->lease_ms > INT32_MAX ? -1 : (int)sp->lease_ms) <= 0) {
		kill(pid, SIGKILL);
		_exit(0);
	}
	if ((conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		kill(pid, SIGKILL);
		_exit(111);
	}
	close(lsock);

	n = recvmsgfds(conn, SB_RUN, &req, sizeof(req.run), sizeof(req), fds, 3,
	    &nfds);
	if (n <= 0 || nfds != 3 || req.run.bpf_len == 0 ||
	    req.run.bpf_len > SB_BPF_MAX ||
	    (size_t)n != sizeof(req.run) + req.run.bpf_len *
	    sizeof(struct sock_filter)) {
		kill(pid, SIGKILL);
		senderror(conn, "malformed run request");
		_exit(112);
	}
	/* Hand the run to the waiting payload process, as it came. */
	if (sendmsgfds(sp2[0], SB_RUN, 0, &req, (uint32_t)n, fds, 3) != 0) {
		kill(pid, SIGKILL);
		senderror(conn, "handing the run over: %s", strerror(errno));
		_exit(112);
	}
	close(sp2[0]);
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
		kill(pid, SIGKILL);
		senderror(conn, "pidfd_open: %s", strerror(errno));
		_exit(112);
	}

	/*
	 * Take the listener out of the payload process.  It cannot send it
	 * itself: every system call it makes now waits on that very listener.
	 * The wait below is a short sleep in a loop; without a small timer
	 * slack each of those sleeps would last the default 50 us extra, on
	 * every run's critical path.
	 */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	deadline = now_ms() + 5000;
	while (__atomic_load_n(&ho->state, __ATOMIC_ACQUIRE) != 1) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			senderror(conn, "payload process died before its filter "
			    "was installed (status 0x%x)", status);
			_exit(112);
		}
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			senderror(conn, "payload process never installed its "
			    "filter");
			_exit(112);
		}
		usleep(20);
	}
	lfd = (int)syscall(SYS_pidfd_getfd, pidfd, ho->listener, 0);
	if (lfd < 0) {
		kill(pid, SIGKILL);
		senderror(conn, "pidfd_getfd: %s", strerror(errno));
		_exit(112);
	}
	give[0] = lfd;
	give[1] = pidfd;
	started.pid = pid;
	started.pad = 0;
	if (sendmsgfds(conn, SB_STARTED, 0, &started, sizeof(started), give,
	    2) != 0) {
		kill(pid, SIGKILL);
		_exit(111);
	}
	close(lfd);
	__atomic_store_n(&ho->state, 2, __ATOMIC_RELEASE);
	syscall(SYS_futex, &ho->state, FUTEX_WAKE, 1, NULL, NULL, 0);

	/*
	 * Wait for the payload, enforcing wall time from inside as well.  If
	 * snaft goes away the run is over: kill it.
	 */
	deadline = now_ms() + req.run.wall_ms;
	pfd[0].fd = pidfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = conn;
	pfd[1].events = POLLIN;
	for (;;) {
		uint64_t t = now_ms();
		int r;

		r = poll(pfd, 2, t >= deadline ? 0 : (int)(deadline - t));
		if (r < 0 && errno != EINTR) {
			kill(pid, SIGKILL);
			break;
		}
		if (r > 0 && (pfd[0].revents & POLLIN))
			break;
		if (r > 0 && pfd[1].revents) {
			/* snaft left: nobody is watching, so nothing runs. */
			kill(pid, SIGKILL);
			break;
		}
		if (now_ms() >= deadline) {
			wallkilled = 1;
			kill(pid, SIGKILL);
			break;
		}
	}
	if (wait4(pid, &status, 0, &ru) != pid)
		_exit(111);
	writeexit(conn, status, &ru, ho->memory_error, wallkilled);
	_exit(0);
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

int
main(int argc, char *argv[])
{
	struct sb_spawn sp;
	int ctl = SB_ZYGOTE_FD, fds[2], nfds, pidfd;
	uint32_t seq = 0;
	ssize_t n;
	pid_t pid;

	progname = "python-runner";
	/* Children are reaped at once; the zygote never waits on them. */
	signal(SIGCHLD, SIG_IGN);
	initpython(argc, argv);
	if (sendmsgfds(ctl, SB_READY, 0, NULL, 0, NULL, 0) != 0)
		die("ready: %s", strerror(errno));

	for (;;) {
		n = recvmsgfds(ctl, SB_SPAWN, &sp, sizeof(sp), sizeof(sp), fds,
		    2, &nfds);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			_exit(0);	/* airlock-wake is gone, and so are we */
		if (n < 0 || nfds != 2)
			die("bad message from airlock-wake (%zd, %d fds): %s",
			    n, nfds, strerror(errno));
		seq++;
		fflush(NULL);
		if ((pid = fork()) < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(ctl);
			signal(SIGCHLD, SIG_DFL);
			sandbox(fds[0], fds[1], &sp);
		}
		close(fds[0]);
		close(fds[1]);
		if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
			die("pidfd_open: %s", strerror(errno));
		if (sendmsgfds(ctl, SB_SPAWNED, seq, NULL, 0, &pidfd, 1) != 0)
			_exit(0);
		close(pidfd);
	}
}
