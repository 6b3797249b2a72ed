/*
 * airlock-sign narrows itself once its key and chain are open, as
 * signify pledges after its options: from then on it holds the secret key
 * and parses whatever comes down the pipe, so whatever a bug in that
 * parsing could make it do must be as little as the signing loop needs.
 * The filter kills the process at any other call.  It needs no file
 * system, no network, no new process: a hostile record that took over the
 * signer could not even open the key file's directory.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <seccomp.h>

#include "airlock.h"
#include "narrow.h"

/* Each rule, with why the signing loop needs it. */
static const struct {
	const char	*name;
	const char	*why;
} rules[] = {
	{ "read",		"records on standard input" },
	{ "ppoll",		"waiting for them (group commit), SIGTERM let in" },
	{ "write",		"tokens out, diagnostics on standard error" },
	{ "pwrite64",		"the chain state, rewritten in place" },
	{ "fdatasync",		"the chain state, made durable per batch or lease" },
	{ "brk",		"malloc" },
	{ "mmap",		"malloc of large blocks (never executable)" },
	{ "munmap",		"free of large blocks" },
	{ "mremap",		"realloc of large blocks" },
	{ "madvise",		"free giving memory back" },
	{ "futex",		"glibc's locks (stdio)" },
	{ "getrandom",		"the id of a record made for a bad line" },
	{ "clock_gettime",	"the token's timestamp" },
	{ "gettimeofday",	"the same, where the vDSO cannot serve it" },
	{ "time",		"the same" },
	{ "newfstatat",		"stdio's first write to a descriptor" },
	{ "fstat",		"the same, on older glibc" },
	{ "lseek",		"stdio on a pipe" },
	{ "rt_sigprocmask",	"glibc's abort path" },
	{ "rt_sigreturn",	"returning from a signal handler" },
	{ "getrusage",		"make bench's trace: the signer's CPU time" },
	{ "exit",		"the end" },
	{ "exit_group",		"the end" },
#ifdef __SANITIZE_ADDRESS__
	/*
	 * The sanitizer build only: ASan's runtime, and LeakSanitizer's
	 * check at exit, which stops the process with a traced thread.
	 */
	{ "sigaltstack",	"ASan's stack for its reports" },
	{ "getpid",		"ASan's reports" },
	{ "gettid",		"LeakSanitizer" },
	{ "sched_yield",	"ASan's allocator" },
	{ "mprotect",		"ASan's shadow memory" },
	{ "prctl",		"LeakSanitizer" },
	{ "readlink",		"ASan's symbolizer" },
	{ "fcntl",		"the same, opening the binary for a leak report" },
	{ "openat",		"LeakSanitizer reads /proc/self" },
	{ "open",		"the same, by the old call" },
	{ "getdents",		"LeakSanitizer lists /proc/self/task" },
	{ "getppid",		"LeakSanitizer's tracer thread" },
	{ "close",		"the same" },
	{ "pread64",		"the same" },
	{ "getdents64",		"LeakSanitizer lists /proc/self/task" },
	{ "clone",		"LeakSanitizer's tracer thread" },
	{ "ptrace",		"the same" },
	{ "wait4",		"the same" },
	{ "rt_sigaction",	"the same" },
	{ "tgkill",		"the same" },
	{ "kill",		"the same" },
	{ "sched_getaffinity",	"ASan at start of a thread" },
#endif
};

int
narrow(void)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = 0, nr;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]) && rc == 0; i++) {
		if ((nr = seccomp_syscall_resolve_name(rules[i].name)) ==
		    __NR_SCMP_ERROR) {
			rc = -EINVAL;
			break;
		}
		if (strcmp(rules[i].name, "mmap") == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
			    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* isatty(3) in stdio, and no other ioctl. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_EQ, TCGETS));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}
