/*
 * System calls: the SNAFT check, dispatch, and the calls about the process
 * itself (identity, time, randomness, signals, exit).  Files are in
 * sys_file.c, memory in sys_mem.c.
 *
 * Each emulation follows the Linux man page of the call for the cases a
 * single-threaded program without children can meet; none is ever passed
 * through to the host kernel.  Arguments are guest registers and are
 * checked before use; guest memory is reached only through mem.c.
 */
#include <sys/random.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <asm/unistd_64.h>
#include <linux/futex.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "view.h"
#include "vmm.h"

#define GUEST_PID	1
#define X32_BIT		0x40000000ULL
#define ARCH_SET_GS	0x1001
#define ARCH_SET_FS	0x1002
#define ARCH_GET_FS	0x1003
#define ARCH_GET_GS	0x1004
#define SIGSET_SIZE	8
#define GETRANDOM_MAX	(32U * 1024 * 1024 - 1)
#define ALLOW_FILE_MAX	65536		/* bytes of an -a file */
#define ALLOW_WORDS_MAX	1024		/* more would list one twice */
#define ALLOW_NAME_MAX	127


/*
 * A violation: the run is killed at this call, which is never emulated.
 * name is the call's name, or NULL for a call that has none here: one of
 * another ABI, named "x32:39" or "i386:1" as airlock-snaft names it, or a
 * number without a name, named by the number.
 */
void
sys_violation(struct vm *vm, int nr, const char *name, const char *family,
    enum abi arch, const uint64_t args[6])
{
	if (vm->state != VM_RUNNING)
		return;
	if (arch != ABI_X86_64)
		snprintf(vm->viol.numname, sizeof(vm->viol.numname), "%s:%d",
		    abi_name(arch), nr);
	else if (name == NULL)
		snprintf(vm->viol.numname, sizeof(vm->viol.numname), "%d", nr);
	vm->viol.nr = nr;
	vm->viol.name = arch != ABI_X86_64 || name == NULL ?
	    vm->viol.numname : name;
	vm->viol.family = family;
	vm->viol.arch = arch;
	memcpy(vm->viol.args, args, sizeof(vm->viol.args));
	vm->viol.at_us = now_us() - vm->start_us;
	vm->nviol = 1;
	vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
	    "forbidden system call %s (%d) of family %s", vm->viol.name, nr,
	    family);
}

/*
 * The run ends the way Linux ends a process on an unhandled fatal signal:
 * signals are recorded, never delivered to guest handlers.
 */
void
sys_signal_end(struct vm *vm, int sig, const char *why)
{
	vm_end(vm, OUTCOME_SIGNALED, sig, NO_KILL, "%s", why);
}

/*
 * The allow list file (-a): names of system calls or SNAFT families,
 * separated by white space; '#' starts a comment that runs to the end of
 * its line.  The names are checked by the intent table's own allow-list
 * parser (lib/intents.c), with its words, so a list the table refuses is
 * refused here too; we only split the file into words and keep the line
 * of each for the message.  The file is operator input, not the guest's,
 * but still read within bounds.
 */
int
sys_policy_load(struct vm *vm, const char *path)
{
	char buf[ALLOW_FILE_MAX + 1], *words[ALLOW_WORDS_MAX];
	char err[256], *p, *end;
	int lines[ALLOW_WORDS_MAX], line = 1, fd;
	size_t n = 0, len = 0, bad;
	ssize_t r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("open %s", path);
		return -1;
	}
	while (len < sizeof(buf) &&
	    (r = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			warn("read %s", path);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	if (len > ALLOW_FILE_MAX) {
		warnx("%s: longer than %d bytes", path, ALLOW_FILE_MAX);
		return -1;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		warnx("%s: NUL byte", path);
		return -1;
	}
	/* Comments out first: a '#' runs to the end of its line. */
	for (p = buf; (p = strchr(p, '#')) != NULL;)
		while (*p != '\0' && *p != '\n')
			*p++ = ' ';
	for (p = buf; *p != '\0'; p = end) {
		if (isspace((unsigned char)*p)) {
			line += *p == '\n';
			end = p + 1;
			continue;
		}
		for (end = p; *end != '\0' && !isspace((unsigned char)*end);
		    end++)
			;
		if (end - p > ALLOW_NAME_MAX) {
			warnx("%s:%d: name too long: %.*s...", path, line,
			    ALLOW_NAME_MAX, p);
			return -1;
		}
		if (n == ALLOW_WORDS_MAX) {
			warnx("%s:%d: more than %d names", path, line,
			    ALLOW_WORDS_MAX);
			return -1;
		}
		lines[n] = line;
		words[n++] = p;
		if (*end != '\0') {
			line += *end == '\n';
			*end++ = '\0';
		}
	}
	vm->have_allowlist = 1;
	if (intents_allow(words, n, vm->allowed, err, sizeof(err),
	    &bad) == -1) {
		warnx("%s:%d: %s", path, lines[bad], err);
		return -1;
	}
	return 0;
}

/* Default action of each signal: 1 terminates, 0 ignores or stops. */
static int
sig_kills(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 0;
	default:
		return 1;
	}
}

/*
 * A stopped program: Linux leaves it stopped, and nothing in a sandbox can
 * continue it, so it sleeps until the wall-clock limit ends the run, as a
 * stopped process sandbox does (its CPU time stands still meanwhile).
 */
static void
stop_self(struct vm *vm)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while (!vm->timed_out)
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
}

/*
 * Whether a call sends a signal to the program itself: allowed whatever
 * the allow list says, since it can only end (or stop) the program, as
 * airlock-snaft(1) allows it for a process sandbox.  Only its own pid
 * counts; kill(0, ...) and kill(-1, ...) need the allow list.
 */
static int
self_signal(int nr, const uint64_t a[6])
{
	if (nr == __NR_kill || nr == __NR_tkill)
		return a[0] == GUEST_PID;
	return nr == __NR_tgkill && a[0] == GUEST_PID && a[1] == GUEST_PID;
}

static int64_t
send_self(struct vm *vm, uint64_t pid, uint64_t sig)
{
	char why[64];

	if (pid != GUEST_PID && pid != 0 && (int64_t)pid != -1)
		return -ESRCH;
	if (sig > 64)
		return -EINVAL;
	if (sig == 0)
		return 0;
	/*
	 * A signal to itself with the default action ends the run as that
	 * signal would (abort(3) is raise(SIGABRT)); one with a handler or
	 * ignored is recorded and not delivered.
	 */
	if (sig == SIGSTOP ||
	    (vm->sigacts[sig].handler == (uint64_t)(uintptr_t)SIG_DFL &&
	    (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU))) {
		stop_self(vm);
		return 0;
	}
	if (sig == SIGKILL ||
	    (vm->sigacts[sig].handler == (uint64_t)(uintptr_t)SIG_DFL &&
	    sig_kills((int)sig))) {
		snprintf(why, sizeof(why), "signal %d sent to itself",
		    (int)sig);
		sys_signal_end(vm, (int)sig, why);
	}
	return 0;
}

static int64_t
sys_sigaction(struct vm *vm, const uint64_t a[6])
{
	struct ksigaction act;
	uint64_t sig = a[0];
	int e;

	if (a[3] != SIGSET_SIZE || sig == 0 || sig > 64)
		return -EINVAL;
	if (a[1] != 0 && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	/* Guest memory: the new action, copied before anything changes. */
	if (a[1] != 0 && (e = gm_copyin(vm, &act, a[1], sizeof(act))) != 0)
		return e;
	if (a[2] != 0 && (e = gm_copyout(vm, a[2], &vm->sigacts[sig],
	    sizeof(vm->sigacts[sig]))) != 0)
		return e;
	if (a[1] != 0)
		vm->sigacts[sig] = act;
	return 0;
}

static int64_t
sys_sigprocmask(struct vm *vm, const uint64_t a[6])
{
	uint64_t set, old = vm->sigmask;
	int e;

	if (a[3] != SIGSET_SIZE)
		return -EINVAL;
	if (a[1] != 0) {
		if ((e = gm_copyin(vm, &set, a[1], sizeof(set))) != 0)
			return e;
		set &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
		switch (a[0]) {
		case SIG_BLOCK:
			vm->sigmask |= set;
			break;
		case SIG_UNBLOCK:
			vm->sigmask &= ~set;
			break;
		case SIG_SETMASK:
			vm->sigmask = set;
			break;
		default:
			return -EINVAL;
		}
	}
	if (a[2] != 0 && (e = gm_copyout(vm, a[2], &old, sizeof(old))) != 0)
		return e;
	return 0;
}

static int
valid_clock(uint64_t c)
{
	return c <= CLOCK_BOOTTIME && c != CLOCK_PROCESS_CPUTIME_ID &&
	    c != CLOCK_THREAD_CPUTIME_ID;
}

/*
 * The clocks that count from the VM's start (vm.c, vm_mono_ns()), never
 * the host's uptime: CLOCK_MONOTONIC, its RAW and COARSE forms, and
 * CLOCK_BOOTTIME (a VM is never suspended).
 */
static int
mono_clock(uint64_t c)
{
	return c == CLOCK_MONOTONIC || c == CLOCK_MONOTONIC_RAW ||
	    c == CLOCK_MONOTONIC_COARSE || c == CLOCK_BOOTTIME;
}

/*
 * An absolute time on the guest's monotonic clock, made one on the
 * host's CLOCK_MONOTONIC.  A time too far ahead to convert stays as it
 * is: a sleep until then ends at the wall-time limit anyway.
 */
static void
mono_to_host(struct vm *vm, struct timespec *ts)
{
	uint64_t ns;

	if (ts->tv_sec < 0 || (uint64_t)ts->tv_sec > UINT64_MAX / 4000000000)
		return;
	ns = (uint64_t)ts->tv_sec * 1000000000 + (uint64_t)ts->tv_nsec +
	    vm->mono_off;
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static int64_t
sys_clock(struct vm *vm, int nr, const uint64_t a[6])
{
	struct timespec ts;
	struct timeval tv;
	uint64_t us, t;
	int e;

	switch (nr) {
	case __NR_clock_gettime:
		if (a[0] == CLOCK_PROCESS_CPUTIME_ID ||
		    a[0] == CLOCK_THREAD_CPUTIME_ID) {
			/* The guest's CPU time: its run time so far. */
			us = now_us() - vm->start_us;
			ts.tv_sec = (time_t)(us / 1000000);
			ts.tv_nsec = (long)(us % 1000000) * 1000;
		} else if (!valid_clock(a[0]))
			return -EINVAL;
		else if (mono_clock(a[0])) {
			t = vm_mono_ns(vm);
			ts.tv_sec = (time_t)(t / 1000000000);
			ts.tv_nsec = (long)(t % 1000000000);
		} else
			clock_gettime((clockid_t)a[0], &ts);
		return gm_copyout(vm, a[1], &ts, sizeof(ts));
	case __NR_clock_getres:
		if (a[0] > CLOCK_BOOTTIME)
			return -EINVAL;
		ts.tv_sec = 0;
		ts.tv_nsec = 1;
		return a[1] == 0 ? 0 : gm_copyout(vm, a[1], &ts, sizeof(ts));
	case __NR_gettimeofday:
		if (a[0] != 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			tv.tv_sec = ts.tv_sec;
			tv.tv_usec = ts.tv_nsec / 1000;
			if ((e = gm_copyout(vm, a[0], &tv, sizeof(tv))) != 0)
				return e;
		}
		return 0;
	case __NR_time:
		t = (uint64_t)time(NULL);
		if (a[0] != 0 && (e = gm_copyout(vm, a[0], &t, sizeof(t))) != 0)
			return e;
		return (int64_t)t;
	}
	return -ENOSYS;
}

/*
 * nanosleep(2), clock_nanosleep(2): really sleep, on the VMM's thread; the
 * wall-time timer interrupts the sleep like it interrupts KVM_RUN.
 */
static int64_t
sys_sleep(struct vm *vm, int nr, const uint64_t a[6])
{
	struct timespec ts;
	uint64_t clk = CLOCK_MONOTONIC, flags = 0, req = a[0];
	int e;

	if (nr == __NR_clock_nanosleep) {
		clk = a[0];
		flags = a[1];
		req = a[2];
		if (!valid_clock(clk) || (flags & ~(uint64_t)TIMER_ABSTIME))
			return -EINVAL;
	}
	if ((e = gm_copyin(vm, &ts, req, sizeof(ts))) != 0)
		return e;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	if ((flags & TIMER_ABSTIME) && mono_clock(clk)) {
		mono_to_host(vm, &ts);
		clk = CLOCK_MONOTONIC;
	}
	e = clock_nanosleep((clockid_t)clk, (int)flags, &ts, NULL);
	return e == 0 ? 0 : -e;
}

static int64_t
sys_futex(struct vm *vm, const uint64_t a[6])
{
	struct timespec ts;
	uint32_t *w;
	int op = (int)(a[1] & FUTEX_CMD_MASK);

	switch (op) {
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		/* No other thread exists to wake. */
		return 0;
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if ((w = gm_ptr(vm, a[0], 4, PG_READ)) == NULL ||
		    (a[0] & 3) != 0)
			return -EFAULT;
		if (*w != (uint32_t)a[2])
			return -EAGAIN;
		/*
		 * One thread waiting for a wake that no one can send: Linux
		 * would sleep until the timeout or the wall limit.
		 */
		if (a[3] == 0) {
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_WALL_TIME,
			    "futex wait that can never be woken");
			return -EINTR;
		}
		if (gm_copyin(vm, &ts, a[3], sizeof(ts)) != 0)
			return -EFAULT;
		if (op == FUTEX_WAIT) {
			if (ts.tv_sec < 0 || ts.tv_nsec < 0 ||
			    ts.tv_nsec >= 1000000000)
				return -EINVAL;
			clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		} else if (a[1] & FUTEX_CLOCK_REALTIME)
			clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts,
			    NULL);
		else {
			mono_to_host(vm, &ts);
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
			    NULL);
		}
		return -ETIMEDOUT;
	default:
		return -ENOSYS;
	}
}

static int64_t
sys_prlimit(struct vm *vm, int nr, const uint64_t a[6])
{
	uint64_t lim[2], res, old;

	if (nr == __NR_prlimit64) {
		if (a[0] != 0 && a[0] != GUEST_PID)
			return -ESRCH;
		res = a[1];
		old = a[3];
	} else {
		res = a[0];
		old = a[1];
	}
	if (res >= 16)
		return -EINVAL;
	/* New limits are accepted and ignored: the VMM's limits rule. */
	lim[0] = lim[1] = UINT64_MAX;
	if (res == 3)			/* RLIMIT_STACK */
		lim[0] = lim[1] = 8ULL << 20;
	else if (res == 7)		/* RLIMIT_NOFILE */
		lim[0] = lim[1] = FD_MAX;
	else if (res == 9 || res == 2)	/* RLIMIT_AS, RLIMIT_DATA */
		lim[0] = lim[1] = vm->memsize;
	else if (res == 4)		/* RLIMIT_CORE */
		lim[0] = lim[1] = 0;
	if (old != 0)
		return gm_copyout(vm, old, lim, sizeof(lim));
	return 0;
}

static int64_t
sys_uname(struct vm *vm, uint64_t buf)
{
	struct utsname u;

	/* A fixed identity: nothing about the host (lib/view.h). */
	view_uname(&u);
	return gm_copyout(vm, buf, &u, sizeof(u));
}

static int64_t
sys_misc(struct vm *vm, int nr, const uint64_t a[6], int *handled)
{
	struct sysinfo si;
	uint64_t v, ids[3];
	void *p;
	ssize_t n;

	*handled = 1;
	switch (nr) {
	case __NR_exit:
	case __NR_exit_group:
		/* One thread: exit and exit_group both end the run. */
		vm_end(vm, OUTCOME_EXITED, (int)(a[0] & 0xff), NO_KILL, "exited");
		return 0;
	case __NR_getpid:
	case __NR_gettid:
	case __NR_set_tid_address:
	case __NR_getpgrp:
	case __NR_getsid:
	case __NR_getpgid:
		return GUEST_PID;
	case __NR_getppid:
		return 0;
	case __NR_getuid:
	case __NR_geteuid:
	case __NR_getgid:
	case __NR_getegid:
		return GUEST_ID;
	case __NR_getresuid:
	case __NR_getresgid:
		ids[0] = ids[1] = ids[2] = GUEST_ID;
		if (gm_copyout(vm, a[0], ids, 4) != 0 ||
		    gm_copyout(vm, a[1], ids, 4) != 0 ||
		    gm_copyout(vm, a[2], ids, 4) != 0)
			return -EFAULT;
		return 0;
	case __NR_getgroups:
		return 0;
	case __NR_set_robust_list:
		return a[1] == 24 ? 0 : -EINVAL;
	case __NR_rseq:
		/* glibc runs fine without restartable sequences. */
		return -ENOSYS;
	case __NR_arch_prctl:
		switch (a[0]) {
		case ARCH_SET_FS:
			/* Any base the program could set with wrfsbase. */
			if (a[1] >= USER_TOP)
				return -EPERM;
			return vm_set_fsbase(vm, a[1]) == 0 ? 0 : -EINVAL;
		case ARCH_GET_FS:
			v = vm_get_fsbase(vm);
			return gm_copyout(vm, a[1], &v, sizeof(v));
		default:
			return -EINVAL;
		}
	case __NR_prlimit64:
	case __NR_getrlimit:
		return sys_prlimit(vm, nr, a);
	case __NR_setrlimit:
		return 0;
	case __NR_uname:
		return sys_uname(vm, a[0]);
	case __NR_getrandom:
		if (a[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM |
		    GRND_INSECURE))
			return -EINVAL;
		v = a[1] > GETRANDOM_MAX ? GETRANDOM_MAX : a[1];
		/* Guest memory: the whole output buffer, checked once. */
		if ((p = gm_ptr(vm, a[0], v, PG_WRITE)) == NULL)
			return -EFAULT;
		n = getrandom(p, v, 0);
		return n < 0 ? -errno : n;
	case __NR_clock_gettime:
	case __NR_clock_getres:
	case __NR_gettimeofday:
	case __NR_time:
		return sys_clock(vm, nr, a);
	case __NR_nanosleep:
	case __NR_clock_nanosleep:
		return sys_sleep(vm, nr, a);
	case __NR_sched_yield:
		return 0;
	case __NR_sched_getaffinity:
		/* One CPU, in a mask the size of the kernel's (8 bytes). */
		if (a[1] < VIEW_CPUMASK_BYTES || (a[1] & 7) != 0)
			return -EINVAL;
		v = VIEW_CPUMASK;
		if (gm_copyout(vm, a[2], &v, sizeof(v)) != 0)
			return -EFAULT;
		return VIEW_CPUMASK_BYTES;
	case __NR_sysinfo:
		view_sysinfo(&si, vm->memsize,
		    (now_us() - vm->start_us) / 1000000);
		return gm_copyout(vm, a[0], &si, sizeof(si));
	case __NR_rt_sigaction:
		return sys_sigaction(vm, a);
	case __NR_rt_sigprocmask:
		return sys_sigprocmask(vm, a);
	case __NR_sigaltstack:
		if (a[1] != 0) {
			uint64_t ss[3] = { 0, 2 /* SS_DISABLE */, 0 };

			if (gm_copyout(vm, a[1], ss, sizeof(ss)) != 0)
				return -EFAULT;
		}
		return 0;
	case __NR_kill:
		return send_self(vm, a[0], a[1]);
	case __NR_tkill:
		return send_self(vm, a[0], a[1]);
	case __NR_tgkill:
		if (a[1] != GUEST_PID)
			return -ESRCH;
		return send_self(vm, a[0], a[2]);
	case __NR_futex:
		return sys_futex(vm, a);
	case __NR_prctl:
		if (a[0] == 15)			/* PR_SET_NAME */
			return 0;
		return -EINVAL;
	case __NR_umask:
		/* What open(2) and mkdir(2) take from a new file's mode. */
		v = vm->umask;
		vm->umask = (uint32_t)(a[0] & 0777);
		return (int64_t)v;
	case __NR_wait4:
		return -ECHILD;
	case __NR_restart_syscall:
		return -EINTR;
	}
	*handled = 0;
	return -ENOSYS;
}

void
sys_dispatch(struct vm *vm, struct kvm_regs *r)
{
	uint64_t a[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
	const char *fam, *name;
	int64_t ret;
	int nr, handled;

	/*
	 * The number is the low 32 bits of RAX, as Linux's do_syscall_64()
	 * and seccomp take it: what is above them is ignored, so the call
	 * that is checked is the call that runs, as on the process backend.
	 */
	nr = (int)(uint32_t)r->rax;
	/* x32 system calls are a violation whatever the number. */
	if (nr >= 0 && (nr & X32_BIT)) {
		sys_violation(vm, nr & ~(int)X32_BIT, NULL, FAMILY_FOREIGN_ABI,
		    ABI_X32, a);
		return;
	}
	/*
	 * A number without a name (negative, unassigned, past the table)
	 * is no call: ENOSYS, as Linux answers, or with an allow list a
	 * violation named by its number, as airlock-snaft(1) names it.
	 */
	if (nr < 0 || nr >= SYSCALL_MAX || syscall_name(nr) == NULL) {
		if (vm->have_allowlist) {
			sys_violation(vm, nr, NULL, FAMILY_UNLISTED,
			    ABI_X86_64, a);
			return;
		}
		vm->unknown_calls++;
		r->rax = (uint64_t)-ENOSYS;
		return;
	}
	name = syscall_name(nr);

	/*
	 * SNAFT: the always-dangerous families first, then the allow list.
	 * Executable mappings ("dlopen") are how ld.so loads the program's
	 * own libraries before any payload runs; they are forbidden from
	 * the first instruction with -x, and always in a VM restored from a
	 * snapshot, whose program loaded its libraries before the snapshot
	 * point.  A violating call is not counted as observed, as in
	 * airlock-snaft(1).
	 */
	fam = family_of_call_self(nr, a, GUEST_PID);
	if (fam != NULL && (strcmp(fam, "dlopen") != 0 || vm->forbid_exec)) {
		sys_violation(vm, nr, name, fam, ABI_X86_64, a);
		return;
	}
	if (vm->have_allowlist && !vm->allowed[nr] && !self_signal(nr, a)) {
		sys_violation(vm, nr, name, FAMILY_UNLISTED, ABI_X86_64, a);
		return;
	}
	vm->counts[nr]++;

	ret = sys_mem(vm, nr, a, &handled);
	if (!handled)
		ret = sys_file(vm, nr, a, &handled);
	if (!handled)
		ret = sys_misc(vm, nr, a, &handled);
	if (!handled)
		vm->unknown_calls++;
	if (vm->verbose)
		fprintf(stderr, "airlock-vmm: %s(0x%llx, 0x%llx, 0x%llx) = "
		    "%lld\n", name, (unsigned long long)a[0],
		    (unsigned long long)a[1], (unsigned long long)a[2],
		    (long long)ret);
	r->rax = (uint64_t)ret;
}
