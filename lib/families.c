/*
 * SNAFT families (airlock-intents(5), airlock-snaft(1)): the names an allow
 * list may use, the always-dangerous families no row can allow, the
 * runner's base set, and the classifier that snaft's monitor and
 * airlock-vmm call on every system call.  No JSON, no allocation: the VMM
 * and the fuzzers link it as it is.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/sched.h>
#include <linux/sockios.h>

#include <asm/unistd_64.h>

#include <fcntl.h>
#include <string.h>

#include "families.h"

/*
 * When a member of a dangerous family is dangerous.  Most are dangerous
 * whatever their arguments; a few are ordinary calls that become dangerous
 * only for some arguments, and those stay allowable by name (a filter must
 * then check the arguments, see family_argcheck()).
 */
enum cond {
	COND_END = 0,		/* ends a member list */
	COND_ALWAYS,
	COND_PROT_EXEC,		/* arg2 (prot) asks for PROT_EXEC */
	COND_NOT_THREAD,	/* arg0 (clone flags) lacks CLONE_THREAD */
	COND_OTHER_PID,		/* arg0 (pid) is not 0 */
	COND_FCNTL_OWNER,	/* fcntl: F_SETOWN, F_SETOWN_EX, F_SETSIG, or
				   F_SETFL with O_ASYNC */
	COND_IOCTL_OWNER,	/* ioctl: FIOASYNC, FIOSETOWN, SIOCSPGRP */
};

struct member {
	int		nr;
	enum cond	cond;
};

struct family {
	const char	*name;
	int		 dangerous;
	struct member	 members[24];
};

#define A(n)	{ __NR_##n, COND_ALWAYS }

/*
 * Always-dangerous families first, in the order of DESIGN.md section 3 and
 * then the ones airlock adds; airlock-intents(5) says why each is here.
 * family_of_dangerous() returns the first family whose member matches, so
 * "fork" (clone without CLONE_THREAD) must come before "clone".
 */
static const struct family families[] = {
	{ "ptrace", 1, { A(ptrace), A(process_vm_readv),
	    A(process_vm_writev), A(kcmp), A(pidfd_getfd),
	    A(process_madvise), { __NR_prlimit64, COND_OTHER_PID } } },
	{ "socket", 1, { A(socket), A(socketpair) } },
	{ "connect", 1, { A(connect) } },
	{ "dlopen", 1, { { __NR_mmap, COND_PROT_EXEC },
	    { __NR_mprotect, COND_PROT_EXEC },
	    { __NR_pkey_mprotect, COND_PROT_EXEC } } },
	{ "fork", 1, { A(fork), A(vfork), { __NR_clone, COND_NOT_THREAD } } },
	{ "clone", 1, { A(clone), A(clone3) } },
	{ "mount", 1, { A(mount), A(umount2), A(fsopen), A(fsmount),
	    A(fsconfig), A(fspick), A(move_mount), A(open_tree),
	    A(mount_setattr), A(pivot_root), A(chroot) } },
	{ "reboot", 1, { A(reboot) } },
	{ "kexec_load", 1, { A(kexec_load), A(kexec_file_load) } },
	{ "bpf", 1, { A(bpf) } },
	{ "perf_event_open", 1, { A(perf_event_open) } },
	{ "userfaultfd", 1, { A(userfaultfd) } },
	{ "io_uring", 1, { A(io_uring_setup), A(io_uring_enter),
	    A(io_uring_register) } },
	{ "keyctl", 1, { A(add_key), A(request_key), A(keyctl) } },
	{ "namespace", 1, { A(unshare), A(setns) } },
	{ "module", 1, { A(init_module), A(finit_module), A(delete_module),
	    A(create_module), A(query_module), A(get_kernel_syms) } },
	/*
	 * Making a descriptor signal its owner (SIGIO, or any signal with
	 * F_SETSIG) lets a payload name any process of its pid namespace as
	 * the owner, and so signal the sandboxes beside it: the one way round
	 * the rule that a payload may only signal itself.
	 */
	{ "sigio", 1, { { __NR_fcntl, COND_FCNTL_OWNER },
	    { __NR_ioctl, COND_IOCTL_OWNER } } },
	{ "admin", 1, { A(acct), A(quotactl), A(quotactl_fd), A(swapon),
	    A(swapoff), A(settimeofday), A(clock_settime), A(clock_adjtime),
	    A(adjtimex), A(sethostname), A(setdomainname), A(iopl),
	    A(ioperm), A(open_by_handle_at), A(syslog), A(vhangup),
	    A(lookup_dcookie), A(nfsservctl), A(_sysctl), A(uselib) } },

	/* Convenience families: names a row may allow. */
	{ "open", 0, { A(open), A(openat), A(openat2) } },
	{ "stat", 0, { A(stat), A(fstat), A(lstat), A(newfstatat),
	    A(statx) } },
	{ "close", 0, { A(close), A(close_range) } },
	{ "getdents", 0, { A(getdents), A(getdents64) } },
	{ "getpid", 0, { A(getpid), A(gettid), A(getppid) } },
};

#undef A

#define NFAMILIES	(sizeof(families) / sizeof(families[0]))

/*
 * The runner's base set: what an initialised CPython 3.11 needs to run an
 * ordinary payload.  airlock-intents(5) gives the reason for each one, and
 * the reasons some obvious calls are left out.
 */
const char *const policy_base[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* files */
	"read", "write", "pread64", "pwrite64", "readv", "writev", "lseek",
	"openat", "close", "fstat", "newfstatat", "statx", "getdents64",
	"getcwd", "readlink", "readlinkat", "access", "faccessat",
	"faccessat2", "fcntl", "ioctl", "dup", "dup2", "dup3",
	"unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "rename",
	"renameat", "ftruncate", "fsync", "fdatasync", "chmod", "fchown",
	"sendfile",
	/* waiting */
	"poll", "ppoll", "select", "pselect6", "futex", "sched_yield",
	/* time */
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday",
	"time", "restart_syscall",
	/* signals */
	"rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "sigaltstack",
	/* the process itself */
	"exit", "exit_group", "getpid", "gettid", "getuid", "geteuid",
	"getgid", "getegid", "uname", "sysinfo", "prlimit64",
	"sched_getaffinity", "getrandom",
	NULL
};

static const struct family *
family_find(const char *name)
{
	size_t i;

	for (i = 0; i < NFAMILIES; i++)
		if (strcmp(families[i].name, name) == 0)
			return &families[i];
	return NULL;
}

int
family_known(const char *name)
{
	return family_find(name) != NULL;
}

const char *
family_name(size_t i)
{
	return i < NFAMILIES ? families[i].name : NULL;
}

int
family_expand(const char *name, uint8_t set[SYSCALL_MAX])
{
	const struct family *f;
	const struct member *m;
	int n = 0, nr;

	if (name == NULL)
		return -1;
	if ((f = family_find(name)) != NULL) {
		for (m = f->members; m->cond != COND_END; m++) {
			/* Headers newer than SYSCALL_MAX must fail closed. */
			if (m->nr < 0 || m->nr >= SYSCALL_MAX)
				return -1;
			set[m->nr] = 1;
			n++;
		}
		return n;
	}
	/* A plain system call name is a family of one. */
	if ((nr = syscall_number(name)) == -1)
		return -1;
	set[nr] = 1;
	return 1;
}

/*
 * The always-dangerous family of which nr is a member whatever its
 * arguments, or NULL.  Such a call can never be allowed by name.
 */
const char *
family_always(int nr)
{
	const struct member *m;
	size_t i;

	for (i = 0; i < NFAMILIES && families[i].dangerous; i++)
		for (m = families[i].members; m->cond != COND_END; m++)
			if (m->nr == nr && m->cond == COND_ALWAYS)
				return families[i].name;
	return NULL;
}

int
family_dangerous(const char *name)
{
	const struct family *f;
	int nr;

	if (name == NULL)
		return 0;
	if ((f = family_find(name)) != NULL)
		return f->dangerous;
	if ((nr = syscall_number(name)) == -1)
		return 0;
	return family_always(nr) != NULL;
}

int
family_argcheck(int nr)
{
	const struct member *m;
	size_t i;

	/* clone is "fork" only without CLONE_THREAD, but never allowable. */
	if (family_always(nr) != NULL)
		return 0;
	for (i = 0; i < NFAMILIES && families[i].dangerous; i++)
		for (m = families[i].members; m->cond != COND_END; m++)
			if (m->nr == nr && m->cond != COND_ALWAYS)
				return 1;
	return 0;
}

static int
cond_holds(enum cond c, const uint64_t a[6])
{
	/* The kernel reads fcntl's and ioctl's command as an unsigned int. */
	uint32_t cmd = (uint32_t)a[1];

	switch (c) {
	case COND_ALWAYS:
		return 1;
	case COND_PROT_EXEC:
		return (a[2] & PROT_EXEC) != 0;
	case COND_NOT_THREAD:
		return (a[0] & CLONE_THREAD) == 0;
	case COND_OTHER_PID:
		/*
		 * prlimit64(pid, resource, new, old) on ourselves (pid 0) is
		 * harmless.  On anyone else it is a channel: the sandboxes of
		 * one zygote share a uid and a pid namespace, so one run
		 * could set its own limit and another read it; and setting
		 * another process's limits could starve the monitor.
		 */
		return a[0] != 0;
	case COND_FCNTL_OWNER:
		return cmd == F_SETOWN || cmd == F_SETOWN_EX ||
		    cmd == F_SETSIG || (cmd == F_SETFL && (a[2] & O_ASYNC));
	case COND_IOCTL_OWNER:
		return cmd == FIOASYNC || cmd == FIOSETOWN || cmd == SIOCSPGRP;
	case COND_END:
		break;
	}
	return 0;
}

const char *
family_of_call(int nr, const uint64_t args[6])
{
	const struct member *m;
	size_t i;

	for (i = 0; i < NFAMILIES && families[i].dangerous; i++)
		for (m = families[i].members; m->cond != COND_END; m++)
			if (m->nr == nr && cond_holds(m->cond, args))
				return families[i].name;
	return NULL;
}

const char *
family_of_call_self(int nr, const uint64_t args[6], uint64_t self)
{
	uint64_t a[6];

	if (nr != __NR_prlimit64 || self == 0 || args[0] != self)
		return family_of_call(nr, args);
	/* Naming itself by its pid is naming itself. */
	memcpy(a, args, sizeof(a));
	a[0] = 0;
	return family_of_call(nr, a);
}

const char *
family_of_dangerous(int nr, uint64_t arg0, uint64_t arg2)
{
	const uint64_t args[6] = { arg0, 0, arg2, 0, 0, 0 };

	return family_of_call(nr, args);
}

