/*
 * The VMM's own jail, entered after the guest is loaded and before its
 * first instruction runs, in the manner of Firecracker's jailer: the VMM
 * is the guest's kernel, so a bug in it must not become a way into the
 * host.
 *
 *   1. New user, mount, network, IPC and UTS namespaces.  The user
 *	namespace maps only our own uid, so it grants nothing outside.
 *   2. The mount namespace's root becomes the image root, bind-mounted
 *	read-only: the only files the VMM can still name are the image's.
 *   3. All capabilities dropped, PR_SET_NO_NEW_PRIVS set.
 *   4. A seccomp filter that kills the VMM on any system call it does not
 *	need while the guest runs; each rule below says why it is there.
 *
 * Under AddressSanitizer the seccomp filter and the change of root are
 * left out: its runtime makes calls of its own at exit (LeakSanitizer
 * clones and reads /proc/self/task).  The namespaces and the dropped
 * capabilities still apply.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/kvm.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "vmm.h"

#if defined(__SANITIZE_ADDRESS__)
#define JAIL_SANITIZER	1
#else
#define JAIL_SANITIZER	0
#endif

static int
writefile(const char *path, const char *text)
{
	int fd, rc = 0;
	size_t len = strlen(text);

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -1;
	close(fd);
	return rc;
}

static int
namespaces(struct vm *vm, const char *rootfs)
{
	char map[64], real[4096];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int fd;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET |
	    CLONE_NEWIPC | CLONE_NEWUTS) == -1) {
		warn("unshare");
		return -1;
	}
	/* Our own ids only: the one mapping an unprivileged user may write. */
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (writefile("/proc/self/uid_map", map) == -1 ||
	    writefile("/proc/self/setgroups", "deny\n") == -1) {
		warn("uid_map");
		return -1;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (writefile("/proc/self/gid_map", map) == -1) {
		warn("gid_map");
		return -1;
	}

	/*
	 * Privileged in the new namespaces only: make every mount private
	 * so nothing propagates back, bind the image root onto itself and
	 * make it the root, with the old root detached.  The host's own
	 * root (-r /, for tests with host binaries) already is the root.
	 */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		warn("mount private");
		return -1;
	}
	if (realpath(rootfs, real) == NULL) {
		warn("%s", rootfs);
		return -1;
	}
	if (strcmp(real, "/") != 0 && !JAIL_SANITIZER && (
	    mount(real, real, NULL, MS_BIND | MS_REC, NULL) == -1 ||
	    chdir(real) == -1 ||
	    syscall(SYS_pivot_root, ".", ".") == -1 ||
	    umount2(".", MNT_DETACH) == -1 || chdir("/") == -1)) {
		warn("pivot to %s", rootfs);
		return -1;
	}
	/* Read-only: the VMM never writes the image, and now cannot. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
	    MS_NOSUID | MS_NODEV, NULL) == -1) {
		warn("remount / read-only");
		return -1;
	}
	/*
	 * The root fd again, now the read-only bind.  Without the pivot
	 * (sanitizer builds) "/" is still the host's root: keep the fd
	 * opened on the image.
	 */
	if (JAIL_SANITIZER && strcmp(real, "/") != 0)
		return 0;
	if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
		warn("open /");
		return -1;
	}
	close(vm->rootfd);
	vm->rootfd = fd;
	return 0;
}

static int
dropcaps(void)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	/* Empty effective, permitted and inheritable sets. */
	if (syscall(SYS_capset, &hdr, data) == -1) {
		warn("capset");
		return -1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		warn("prctl");
		return -1;
	}
	return 0;
}

#define ALLOW(nr, ...)	do {						\
	if (rc == 0)							\
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, (nr),	\
		    __VA_ARGS__);					\
} while (0)

static int
filter(struct vm *vm, int sock)
{
	/* The vCPU state a snapshot saves, besides the registers. */
	static const unsigned long snapget[] = { KVM_GET_XSAVE, KVM_GET_XSAVE2,
	    KVM_GET_XCRS };
	scmp_filter_ctx ctx;
	size_t i;
	int rc = 0;

	/* Anything not listed kills the whole VMM. */
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		warnx("seccomp_init failed");
		return -1;
	}
	/* The run loop: enter the guest, on our vCPU only. */
	ALLOW(SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->vcpufd),
	    SCMP_A1(SCMP_CMP_EQ, KVM_RUN));
	/* arch_prctl(ARCH_SET_FS/GET_FS): the guest's FS base. */
	ALLOW(SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->vcpufd),
	    SCMP_A1(SCMP_CMP_EQ, KVM_GET_SREGS));
	ALLOW(SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->vcpufd),
	    SCMP_A1(SCMP_CMP_EQ, KVM_SET_SREGS));
	/* Image files: looked up and opened beneath the root fd only. */
	ALLOW(SCMP_SYS(openat2), 1, SCMP_A0(SCMP_CMP_EQ,
	    (unsigned)vm->rootfd));
	/* ...stat'ed (glibc's fstat is newfstatat with AT_EMPTY_PATH)... */
	ALLOW(SCMP_SYS(fstat), 0);
	ALLOW(SCMP_SYS(newfstatat), 0);
	/* ...and read: file data, links, directories, rewinds. */
	ALLOW(SCMP_SYS(pread64), 0);
	ALLOW(SCMP_SYS(readlinkat), 0);
	ALLOW(SCMP_SYS(getdents64), 0);
	ALLOW(SCMP_SYS(lseek), 0);
	ALLOW(SCMP_SYS(close), 0);
	/* Guest stdout/stderr, the JSON report, diagnostics. */
	ALLOW(SCMP_SYS(write), 0);
	/* fcntl(3, F_GETFL): is there a report descriptor. */
	ALLOW(SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_GETFL));
	/* getrandom(2) and /dev/urandom for the guest. */
	ALLOW(SCMP_SYS(getrandom), 0);
	/* Time for the guest, when the vDSO falls back to the kernel. */
	ALLOW(SCMP_SYS(clock_gettime), 0);
	ALLOW(SCMP_SYS(gettimeofday), 0);
	/* nanosleep(2) and futex timeouts of the guest. */
	ALLOW(SCMP_SYS(clock_nanosleep), 0);
	/* munmap(2) and MADV_DONTNEED of guest memory. */
	ALLOW(SCMP_SYS(madvise), 1, SCMP_A2(SCMP_CMP_EQ, MADV_DONTNEED));
	/* malloc(3): /tmp files, reports.  Never executable memory. */
	ALLOW(SCMP_SYS(brk), 0);
	ALLOW(SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	ALLOW(SCMP_SYS(mremap), 0);
	ALLOW(SCMP_SYS(munmap), 0);
	/*
	 * The limit timers, made before the jail: started when the run
	 * starts, their signal handler returns, then they go.
	 */
	ALLOW(SCMP_SYS(timer_settime), 0);
	ALLOW(SCMP_SYS(rt_sigreturn), 0);
	ALLOW(SCMP_SYS(timer_delete), 0);
	/*
	 * -S: when the program reaches its payload, read the vCPU's FPU and
	 * XCR state (the size of the XSAVE area first) and write the
	 * snapshot to the file opened before the jail, durably.
	 */
	if (vm->snap_mode) {
		ALLOW(SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ,
		    (unsigned)vm->vmfd), SCMP_A1(SCMP_CMP_EQ,
		    KVM_CHECK_EXTENSION));
		for (i = 0; i < sizeof(snapget) / sizeof(snapget[0]); i++)
			ALLOW(SCMP_SYS(ioctl), 2, SCMP_A0(SCMP_CMP_EQ,
			    (unsigned)vm->vcpufd), SCMP_A1(SCMP_CMP_EQ,
			    snapget[i]));
		ALLOW(SCMP_SYS(fsync), 0);
	}
	/*
	 * A pool VM (-c): wait for the claim on the listening socket wake
	 * made, accept it, take the run request with its descriptors, send
	 * the start and the report.  Nothing else of the socket API: no
	 * socket(2), connect(2) or bind(2), so no new endpoint ever.
	 */
	if (sock >= 0) {
		ALLOW(SCMP_SYS(poll), 1, SCMP_A0(SCMP_CMP_NE, 0));
		ALLOW(SCMP_SYS(accept4), 1, SCMP_A0(SCMP_CMP_EQ,
		    (unsigned)sock));
		ALLOW(SCMP_SYS(recvmsg), 0);
		ALLOW(SCMP_SYS(sendmsg), 0);
		ALLOW(SCMP_SYS(getpid), 0);
	}
	/* The end. */
	ALLOW(SCMP_SYS(exit_group), 0);
	if (rc != 0) {
		warnx("seccomp_rule_add: %s", strerror(-rc));
		goto out;
	}
	if ((rc = seccomp_load(ctx)) != 0)
		warnx("seccomp_load: %s", strerror(-rc));
out:
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

int
jail_enter(struct vm *vm, const char *rootfs, int sock)
{
	if (namespaces(vm, rootfs) == -1 || dropcaps() == -1)
		return -1;
	if (!JAIL_SANITIZER && filter(vm, sock) == -1)
		return -1;
	return 0;
}
