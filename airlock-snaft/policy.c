/*
 * SNAFT policies compiled to seccomp filters (airlock-snaft(1)).
 *
 * The kernel runs the filter; the monitor in run.c decides what a notified
 * call means.  Each intent row is compiled once, the first time a record
 * needs it, never per run.
 */
#include <sys/mman.h>

#include <linux/filter.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "airlock.h"
#include "intents.h"
#include "snaft.h"

static struct policy	*cache;

/*
 * The filter:
 *  - default action NOTIFY: anything not allowed below goes to the monitor,
 *    which kills the sandbox and records the violation.  A notified call
 *    never runs unless the monitor lets it, and with no monitor it fails;
 *  - calls from another architecture (i386 through int 0x80, and x32
 *    numbers, which libseccomp treats as a foreign ABI) get NOTIFY too, so
 *    the monitor can name them;
 *  - fast mode: the row's allowed calls are ALLOWed in the kernel, except
 *    mmap and mprotect asking for PROT_EXEC, which stay NOTIFY (dlopen),
 *    and the calls whose arguments the monitor checks or which it
 *    answers itself (fcntl, ioctl, prlimit64, uname, sysinfo,
 *    sched_getaffinity);
 *  - observe mode: nothing is allowed in the kernel; the monitor sees and
 *    counts every call and continues the allowed ones.
 */
static int
compile(const struct intent *row, struct policy *p, char *errbuf,
    size_t errlen)
{
	scmp_filter_ctx ctx;
	int nr, rc, fd = -1, mmapnr, mprotnr, pkeynr;
	ssize_t n;
	off_t size;

	if ((ctx = seccomp_init(SCMP_ACT_NOTIFY)) == NULL) {
		snprintf(errbuf, errlen, "seccomp_init failed");
		return -1;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_NOTIFY);
	/* The runner sets no_new_privs itself before loading the filter. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc != 0) {
		snprintf(errbuf, errlen, "seccomp_attr_set: %s", strerror(-rc));
		goto release_ctx;
	}
	mmapnr = syscall_number("mmap");
	mprotnr = syscall_number("mprotect");
	pkeynr = syscall_number("pkey_mprotect");
	if (row->mode == SNAFT_FAST) {
		for (nr = 0; nr < SYSCALL_MAX; nr++) {
			if (!row->allowed[nr])
				continue;
			/*
			 * The PROT_EXEC forms of the mapping calls are dlopen:
			 * only the others are allowed in the kernel.
			 */
			if (nr == mmapnr || nr == mprotnr || nr == pkeynr)
				rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
			/*
			 * Other calls that are dangerous for some arguments
			 * (prlimit64 on another process) always go to the
			 * monitor, which checks them as in observe mode, and
			 * so do the calls it answers itself (answer.c).
			 */
			else if (family_argcheck(nr) || answer_wanted(nr))
				continue;
			else
				rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			if (rc != 0) {
				snprintf(errbuf, errlen, "seccomp_rule_add %s: %s",
				    syscall_name(nr), strerror(-rc));
				goto release_ctx;
			}
		}
	}
	if ((fd = memfd_create("snaft-bpf", MFD_CLOEXEC)) < 0 ||
	    (rc = seccomp_export_bpf(ctx, fd)) != 0) {
		snprintf(errbuf, errlen, "exporting the filter: %s",
		    strerror(fd < 0 ? errno : -rc));
		goto release_ctx;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > 4096) {
		snprintf(errbuf, errlen, "exported filter has a bad size");
		goto release_ctx;
	}
	p->len = (size_t)size / sizeof(struct sock_filter);
	if ((p->bpf = malloc((size_t)size)) == NULL ||
	    (n = pread(fd, p->bpf, (size_t)size, 0)) != size) {
		snprintf(errbuf, errlen, "reading the filter back failed");
		goto release_ctx;
	}
	close(fd);
	seccomp_release(ctx);
	return 0;
release_ctx:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return -1;
}

const struct policy *
policy_get(const struct intent *row, char *errbuf, size_t errlen)
{
	struct policy *p;

	for (p = cache; p != NULL; p = p->next)
		if (p->row == row)
			return p;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	p->row = row;
	if (compile(row, p, errbuf, errlen) != 0) {
		free(p->bpf);
		free(p);
		return NULL;
	}
	p->next = cache;
	cache = p;
	log_debug("compiled %s (%s mode): %zu BPF instructions", row->pattern,
	    row->mode == SNAFT_FAST ? "fast" : "observe", p->len);
	return p;
}

void
policy_free_all(void)
{
	struct policy *p;

	while ((p = cache) != NULL) {
		cache = p->next;
		free(p->bpf);
		free(p);
	}
}
