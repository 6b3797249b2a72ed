/*
 * The calls the monitor answers itself, in place of the host kernel
 * (airlock-snaft(1), "What the monitor answers").  They are allowed by the
 * policy like any other; what the kernel would do for them is what must
 * not happen:
 *
 *  - file locks (fcntl F_GETLK, F_SETLK, F_SETLKW and their OFD forms)
 *    are granted only on the sandbox's private /tmp.  A lock on a file of
 *    the image, a device or a pipe lives on an inode every sandbox shares
 *    (and the host sees): a channel between runs.  Elsewhere the call
 *    fails with ENOLCK;
 *  - uname, sysinfo and sched_getaffinity get the fixed view of lib/view.h
 *    that a kvm sandbox gets from its VMM, not the host's release, RAM,
 *    load, process count and CPUs.
 *
 * Every decision is made while the calling task waits in the kernel.  The
 * payload has one thread (clone is always dangerous), so nothing can
 * change its descriptor table or its memory between our look and the
 * answer; a signal that interrupts the wait makes the kernel drop this
 * notification and send a new one for the restarted call.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "snaft.h"
#include "view.h"

static int nr_fcntl = -2, nr_uname, nr_sysinfo, nr_affinity;

static void
numbers(void)
{
	if (nr_fcntl != -2)
		return;
	nr_fcntl = syscall_number("fcntl");
	nr_uname = syscall_number("uname");
	nr_sysinfo = syscall_number("sysinfo");
	nr_affinity = syscall_number("sched_getaffinity");
}

int
answer_wanted(int nr)
{
	numbers();
	return nr == nr_fcntl || nr == nr_uname || nr == nr_sysinfo ||
	    nr == nr_affinity;
}

static int
islock(uint32_t cmd)
{
	return cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW ||
	    cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}

/*
 * Whether the payload's descriptor fd is a file of its own /tmp: the
 * descriptor itself, taken with pidfd_getfd(2), and its device compared
 * with the one the sandbox reported before the payload's first
 * instruction.  -1 with errno if the descriptor cannot be looked at.
 */
static int
ontmp(struct run *r, int fd)
{
	struct stat st;
	int lfd, ok;

	if (r->tmp_dev == 0) {
		errno = ENOENT;
		return -1;
	}
	if ((lfd = (int)syscall(SYS_pidfd_getfd, r->pidfd, fd, 0)) < 0)
		return -1;
	ok = fstat(lfd, &st) == 0 && (uint64_t)st.st_dev == r->tmp_dev;
	close(lfd);
	return ok;
}

/* Write our answer into the payload's memory at addr. */
static int
copyout(struct run *r, uint64_t addr, const void *p, size_t len)
{
	struct iovec local = { (void *)(uintptr_t)p, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	static int warned;

	if (r->hostpid <= 0 && (r->hostpid = pidfd_hostpid(r->pidfd)) <= 0)
		return -ESRCH;
	if (process_vm_writev(r->hostpid, &local, 1, &remote, 1, 0) ==
	    (ssize_t)len)
		return 0;
	if (errno == EFAULT)
		return -EFAULT;
	/* Without the right to write it, the call fails: never the host's. */
	if (!warned++)
		log_info("warning: cannot answer the payload's %s: "
		    "process_vm_writev: %s", "uname, sysinfo or "
		    "sched_getaffinity", strerror(errno));
	return -EPERM;
}

int
answer_call(struct run *r, const struct seccomp_data *d,
    struct seccomp_notif_resp *resp)
{
	struct utsname u;
	struct sysinfo si;
	uint64_t mask = VIEW_CPUMASK;
	int rc;

	numbers();
	if (d->nr == nr_fcntl) {
		/* The kernel reads fcntl's command as an unsigned int. */
		if (!islock((uint32_t)d->args[1]))
			return 0;
		rc = ontmp(r, (int)d->args[0]);
		if (rc == 1 || (rc < 0 && errno == EBADF))
			return 0;	/* the kernel grants it, or says EBADF */
		resp->error = -ENOLCK;
		return 1;
	}
	if (d->nr == nr_uname) {
		view_uname(&u);
		resp->error = copyout(r, d->args[0], &u, sizeof(u));
	} else if (d->nr == nr_sysinfo) {
		view_sysinfo(&si, r->limits.memory_bytes,
		    (now_us() - r->t_run) / 1000000);
		resp->error = copyout(r, d->args[0], &si, sizeof(si));
	} else if (d->nr == nr_affinity) {
		/* As the kernel: the buffer must hold its whole mask. */
		if (d->args[1] < VIEW_CPUMASK_BYTES || (d->args[1] & 7) != 0)
			resp->error = -EINVAL;
		else if ((resp->error = copyout(r, d->args[2], &mask,
		    sizeof(mask))) == 0)
			resp->val = VIEW_CPUMASK_BYTES;
	} else
		return 0;
	return 1;
}
