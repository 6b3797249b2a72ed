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
 *   3. Every capability set emptied, the bounding set first, and
 *	PR_SET_NO_NEW_PRIVS set.
 *   4. A seccomp filter that kills the VMM on any system call it does not
 *	need while the guest runs.  Each rule has a name and one reason;
 *	tests/73-vmm-jail.bats leaves each out in turn and shows that some
 *	run then dies, so a rule nobody needs does not stay.
 *
 * A sanitizer build (make SANITIZE=1) is jailed the same way, filter and
 * all, so the sanitizer runs exercise the filter too.  Its runtime needs
 * little more while the guest runs (its allocator maps, unmaps and
 * advises on memory: one rule, san_madvise); what it cannot have is
 * LeakSanitizer's check at exit, which stops the world with a ptrace(2)ing
 * clone of the process and reads /proc.  So the leak check runs just
 * before the jail, where everything the set-up leaked is found, and not
 * at exit; the system call layer the guest drives is leak-checked by
 * fuzz_vmm (tests/fuzz), which runs it without a jail.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

#include "airlock.h"
#include "vmm.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define JAIL_SANITIZER	1
#else
#define JAIL_SANITIZER	0
#endif

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
	if (write_file("/proc/self/uid_map", map) == -1 ||
	    write_file("/proc/self/setgroups", "deny\n") == -1) {
		warn("uid_map");
		return -1;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (write_file("/proc/self/gid_map", map) == -1) {
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
	if (strcmp(real, "/") != 0 && (
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
	/* The root fd again, now the read-only bind. */
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
	if (caps_drop_all() == -1) {
		warn("dropping capabilities");
		return -1;
	}
	return 0;
}

/*
 * One allow rule, named: AIRLOCK_VMM_JAIL_DROP, a test-only switch, names
 * one rule to leave out.  It can only make the filter stricter (the
 * default action kills), never let anything more through.
 */
#define RULE(name, ...)	do {						\
	if (rc == 0 && (drop == NULL || strcmp(drop, (name)) != 0))	\
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, __VA_ARGS__);	\
} while (0)

#define VCPU_IOCTL(req)	SCMP_SYS(ioctl), 2,				\
	SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->vcpufd), SCMP_A1(SCMP_CMP_EQ, (req))

static int
filter(struct vm *vm, int sock)
{
	const char *drop = getenv("AIRLOCK_VMM_JAIL_DROP");
	scmp_filter_ctx ctx;
	int rc = 0;

	/* Anything not listed kills the whole VMM. */
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		warnx("seccomp_init failed");
		return -1;
	}
	/* The run loop: enter the guest, on our vCPU only. */
	RULE("kvm_run", VCPU_IOCTL(KVM_RUN));
	/* arch_prctl(ARCH_GET_FS): read the guest's FS base... */
	RULE("kvm_get_sregs", VCPU_IOCTL(KVM_GET_SREGS));
	/* ...and ARCH_SET_FS: set it. */
	RULE("kvm_set_sregs", VCPU_IOCTL(KVM_SET_SREGS));
	/* Image files: looked up and opened beneath the root fd only. */
	RULE("openat2", SCMP_SYS(openat2), 1,
	    SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->rootfd));
	/* Their stat (glibc's fstat(3) is newfstatat(2), AT_EMPTY_PATH). */
	RULE("newfstatat", SCMP_SYS(newfstatat), 0);
	/* File data, for read(2) and mmap(2) of image files. */
	RULE("pread64", SCMP_SYS(pread64), 0);
	/* Symbolic links inside the image, which path.c follows itself. */
	RULE("readlinkat", SCMP_SYS(readlinkat), 0);
	/* Directory listings. */
	RULE("getdents64", SCMP_SYS(getdents64), 0);
	/* Rewinding a directory (lseek(fd, 0, SEEK_SET) of the guest). */
	RULE("lseek", SCMP_SYS(lseek), 0);
	/* Closing image files. */
	RULE("close", SCMP_SYS(close), 0);
	/* Guest stdout/stderr, the JSON report, diagnostics. */
	RULE("write", SCMP_SYS(write), 0);
	/* fcntl(3, F_GETFL): is there a report descriptor (-j). */
	RULE("fcntl_getfl", SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_GETFL));
	/* getrandom(2) and /dev/urandom for the guest. */
	RULE("getrandom", SCMP_SYS(getrandom), 0);
	/* The run's page faults, for the report. */
	RULE("getrusage", SCMP_SYS(getrusage), 1,
	    SCMP_A0(SCMP_CMP_EQ, (unsigned)RUSAGE_SELF));
	/* Time for the guest and the run, where the vDSO falls back. */
	RULE("clock_gettime", SCMP_SYS(clock_gettime), 0);
	/* nanosleep(2), poll(2) and futex timeouts of the guest. */
	RULE("clock_nanosleep", SCMP_SYS(clock_nanosleep), 0);
	/* munmap(2) and MADV_DONTNEED of guest memory, and free(3). */
	RULE("madvise_dontneed", SCMP_SYS(madvise), 1,
	    SCMP_A2(SCMP_CMP_EQ, MADV_DONTNEED));
	/* malloc(3): small blocks... */
	RULE("brk", SCMP_SYS(brk), 0);
	/* ...large ones (/tmp files, reports), never executable... */
	RULE("mmap_noexec", SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* ...grown by realloc(3)... */
	RULE("mremap", SCMP_SYS(mremap), 0);
	/* ...and freed. */
	RULE("munmap", SCMP_SYS(munmap), 0);
	/* The limit timers, made before the jail: started with the run... */
	RULE("timer_settime", SCMP_SYS(timer_settime), 0);
	/* ...their signal handler returns (EINTR from KVM_RUN)... */
	RULE("rt_sigreturn", SCMP_SYS(rt_sigreturn), 0);
	/* ...and they go when the run ends. */
	RULE("timer_delete", SCMP_SYS(timer_delete), 0);
	/* The end. */
	RULE("exit_group", SCMP_SYS(exit_group), 0);
	if (vm->snap_mode) {
		/*
		 * -S: when the program reaches its payload, ask KVM the size
		 * of the vCPU's XSAVE area, read that area (KVM_GET_XSAVE2
		 * where it is over 4 KiB, as with AMX) and the XCRs, and
		 * write the snapshot to the file opened before the jail,
		 * durably.
		 */
		RULE("snap_check_extension", SCMP_SYS(ioctl), 2,
		    SCMP_A0(SCMP_CMP_EQ, (unsigned)vm->vmfd),
		    SCMP_A1(SCMP_CMP_EQ, KVM_CHECK_EXTENSION));
		RULE("snap_get_xsave", VCPU_IOCTL(KVM_GET_XSAVE));
		RULE("snap_get_xsave2", VCPU_IOCTL(KVM_GET_XSAVE2));
		RULE("snap_get_xcrs", VCPU_IOCTL(KVM_GET_XCRS));
		RULE("snap_fsync", SCMP_SYS(fsync), 0);
	}
	if (sock >= 0) {
		/*
		 * A pool VM (-c): wait for the claim on the listening socket
		 * wake made, accept it, take the run request with its
		 * descriptors, send the start (with our pid) and the report.
		 * Nothing else of the socket API: no socket(2), connect(2)
		 * or bind(2), so no new endpoint ever.
		 */
		RULE("serve_poll", SCMP_SYS(poll), 1, SCMP_A0(SCMP_CMP_NE, 0));
		RULE("serve_accept4", SCMP_SYS(accept4), 1,
		    SCMP_A0(SCMP_CMP_EQ, (unsigned)sock));
		RULE("serve_recvmsg", SCMP_SYS(recvmsg), 0);
		RULE("serve_sendmsg", SCMP_SYS(sendmsg), 0);
		RULE("serve_getpid", SCMP_SYS(getpid), 0);
		/*
		 * The memfd of /output's files, made before the jail and
		 * written with write(2), is sealed before it goes with the
		 * report: seals only ever take rights away.
		 */
		RULE("serve_add_seals", SCMP_SYS(fcntl), 1,
		    SCMP_A1(SCMP_CMP_EQ, F_ADD_SEALS));
	}
#if JAIL_SANITIZER
	/*
	 * The sanitizer's allocator advises the kernel about the memory it
	 * maps (huge pages, core dumps): advice on our own memory only.
	 */
	RULE("san_madvise", SCMP_SYS(madvise), 0);
#endif
	if (JAIL_SANITIZER) {
		/*
		 * The sanitizer's report of an error reads /proc/self/maps,
		 * which the jail has not: let the open fail, so that the
		 * report still comes out (unsymbolized) instead of a SIGSYS.
		 */
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
			    SCMP_SYS(openat), 0);
	}
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
#if JAIL_SANITIZER
	/*
	 * LeakSanitizer's check, now rather than at exit, where the jail
	 * would kill it (see the top of this file); it then does not run
	 * again at exit.
	 */
	__lsan_do_leak_check();
#endif
	if (namespaces(vm, rootfs) == -1 || dropcaps() == -1)
		return -1;
	return filter(vm, sock);
}
