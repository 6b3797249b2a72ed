/*
 * The kvm backend (DESIGN.md section 8, airlock-vmm(8)): every sandbox is
 * an airlock-vmm of its own, restored from the image's kvm snapshot and
 * serving one run of airlock-snaft.  The snapshot is read and its digest
 * checked once, here, into a sealed memory file that every VM of the pool
 * maps copy-on-write; each VMM jails itself before it says it is ready.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "sha256.h"
#include "snapfile.h"
#include "wake.h"

/* Where a VMM finds what it was given: see kvm_child(). */
#define VMM_SNAPSHOT_FD	3
#define VMM_SOCKET_FD	4
#define VMM_READY_FD	5

/* The VMM: AIRLOCK_VMM, else airlock-vmm beside us. */
static const char *
vmmpath(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n;

	if (getenv("AIRLOCK_VMM") != NULL)
		return getenv("AIRLOCK_VMM");
	if (path[0] != '\0')
		return path;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return NULL;
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/airlock-vmm", dirname(self));
	return path;
}

static void
kvmfile(const struct intent *row, char *path, size_t len)
{
	snprintf(path, len, "%s/%s/snapshots/%s.kvm", imagesdir, row->image,
	    row->snapshot);
}

int
kvm_usable(const struct intent *row)
{
	char path[PATH_MAX];
	const char *vmm = vmmpath();
	int fd;

	kvmfile(row, path, sizeof(path));
	if (vmm == NULL || access(vmm, X_OK) != 0 || access(path, R_OK) != 0)
		return 0;
	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Bring s up: /dev/kvm must work, and the snapshot is read, its digest
 * checked against its .digest file, and unpacked once.  The record names
 * the kvm snapshot's digest and, as its kernel, the VMM's.
 */
static int
kvm_start(struct snapshot *s)
{
	struct snapmem hdr;
	struct sha256 h;
	char path[PATH_MAX], why[512], buf[65536];
	const char *vmm = vmmpath();
	struct intent row;
	uint8_t d[SHA256_LEN];
	ssize_t n;
	int fd;

	memset(&row, 0, sizeof(row));
	row.image = s->image;
	row.snapshot = s->name;
	kvmfile(&row, path, sizeof(path));
	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) {
		snprintf(s->error, sizeof(s->error), "the kvm backend needs "
		    "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	close(fd);
	if (vmm == NULL || (fd = open(vmm, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(s->error, sizeof(s->error), "the kvm backend needs "
		    "airlock-vmm (%s): %s", vmm ? vmm : "?", strerror(errno));
		return -1;
	}
	/* The VMM is the sandbox's kernel: its digest goes in the token. */
	sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sha256_update(&h, buf, (size_t)n);
	close(fd);
	if (n < 0) {
		snprintf(s->error, sizeof(s->error), "reading %s: %s", vmm,
		    strerror(errno));
		return -1;
	}
	sha256_final(&h, d);
	memcpy(s->kernel_digest, "sha256:", 7);
	sha256_tohex(d, s->kernel_digest + 7);
	if ((s->kvm_fd = snap_load(path, NULL, &hdr, why, sizeof(why))) < 0) {
		snprintf(s->error, sizeof(s->error), "kvm snapshot %.1024s: "
		    "%.400s", path, why);
		return -1;
	}
	snprintf(s->digest, sizeof(s->digest), "%s", hdr.digest);
	return 0;
}

/* Put fd at want, whatever else is there; both stay open. */
static void
placefd(int fd, int want)
{
	if (fd != want && dup2(fd, want) < 0)
		_exit(EXIT_SANDBOX);
	if (fcntl(want, F_SETFD, 0) != 0)
		_exit(EXIT_SANDBOX);
}

/*
 * In the child: the VMM with the snapshot, its handle's socket and its
 * ready pipe on known descriptors, nothing else, the scrubbed environment
 * and default signals.  It must not outlive us; it jails itself.
 */
static void __attribute__((noreturn))
kvm_child(const struct snapshot *s, int ls, int ready)
{
	static char env_path[] = "PATH=/usr/bin:/bin";
	char *envp[] = { env_path, NULL };
	char lease[32], *argv[16];
	int fds[3], i, sig;
	sigset_t mask;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		_exit(EXIT_SANDBOX);
	if (getppid() == 1)
		_exit(EXIT_SANDBOX);	/* wake died before the prctl */
	/* Above the three targets first, so that no dup2 hits a source. */
	fds[0] = fcntl(s->kvm_fd, F_DUPFD_CLOEXEC, 16);
	fds[1] = fcntl(ls, F_DUPFD_CLOEXEC, 16);
	fds[2] = fcntl(ready, F_DUPFD_CLOEXEC, 16);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
		_exit(EXIT_SANDBOX);
	placefd(fds[0], VMM_SNAPSHOT_FD);
	placefd(fds[1], VMM_SOCKET_FD);
	placefd(fds[2], VMM_READY_FD);
	if (syscall(SYS_close_range, VMM_READY_FD + 1, ~0U, 0) != 0)
		_exit(EXIT_SANDBOX);
	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	sigemptyset(&mask);
	(void)sigprocmask(SIG_SETMASK, &mask, NULL);
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)s->lease_ms);
	i = 0;
	argv[i++] = (char *)"airlock-vmm";
	argv[i++] = (char *)"-R";
	argv[i++] = (char *)"/dev/fd/3";
	argv[i++] = (char *)"-c";
	argv[i++] = (char *)"4";
	argv[i++] = (char *)"-w";
	argv[i++] = (char *)"5";
	argv[i++] = (char *)"-l";
	argv[i++] = lease;
	argv[i++] = (char *)"-r";
	argv[i++] = (char *)s->rootfs;
	argv[i] = NULL;
	execve(vmmpath(), argv, envp);
	_exit(EXIT_SANDBOX);
}

/* One more VM: its handle's socket, a VMM restoring itself behind it. */
static int
kvm_request(struct snapshot *s)
{
	struct pending *p;
	int ls, ready[2];
	pid_t pid;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	if (pipe2(ready, O_CLOEXEC) != 0)
		goto free_pending;
	if ((ls = pool_listen(p->path)) < 0)
		goto close_ready;
	fflush(NULL);
	if ((pid = fork()) < 0)
		goto close_socket;
	if (pid == 0)
		kvm_child(s, ls, ready[1]);
	close(ls);
	close(ready[1]);
	p->go = ready[0];
	p->pid = pid;
	if ((p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(ready[0]);
		unlink(p->path);
		free(p);
		return -1;
	}
	p->t_us = now_us();
	p->next = NULL;
	if (s->pending_tail != NULL)
		s->pending_tail->next = p;
	else
		s->pending = p;
	s->pending_tail = p;
	s->npending++;
	return 0;

close_socket:
	close(ls);
	unlink(p->path);
close_ready:
	close(ready[0]);
	close(ready[1]);
free_pending:
	free(p);
	return -1;
}

/*
 * The oldest request's VM says it is restored and jailed (one byte), and
 * joins the pool.  A VMM that dies instead says the snapshot cannot run
 * here: the snapshot goes down with the reason (its standard error, which
 * is ours, says more).
 */
static int
kvm_collect(struct snapshot *s)
{
	struct pool_entry *e;
	struct pending *p = s->pending;
	char c;
	ssize_t n;

	if (p == NULL)
		return -1;
	do
		n = read(p->go, &c, 1);
	while (n < 0 && errno == EINTR);
	if ((s->pending = p->next) == NULL)
		s->pending_tail = NULL;
	s->npending--;
	close(p->go);
	if (n != 1 || (e = calloc(1, sizeof(*e))) == NULL) {
		(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
		waitpid(p->pid, NULL, 0);
		close(p->pidfd);
		unlink(p->path);
		snprintf(s->error, sizeof(s->error), "airlock-vmm for %s/%s did "
		    "not become ready (see its diagnostics)", s->image, s->name);
		free(p);
		return -1;
	}
	memcpy(e->path, p->path, sizeof(e->path));
	e->pidfd = p->pidfd;
	e->child = p->pid;
	e->t_us = p->t_us;
	free(p);
	/* Oldest first out of the pool: append. */
	e->next = NULL;
	if (s->pool == NULL)
		s->pool = e;
	else {
		struct pool_entry *t = s->pool;

		while (t->next != NULL)
			t = t->next;
		t->next = e;
	}
	s->npool++;
	return 0;
}

static int
kvm_readyfd(const struct snapshot *s)
{
	return s->pending != NULL ? s->pending->go : -1;
}

static void
kvm_stop(struct snapshot *s)
{
	struct pool_entry *e;
	struct pending *p;

	while ((e = s->pool) != NULL) {
		s->pool = e->next;
		pool_discard(e);
	}
	s->npool = 0;
	while ((p = s->pending) != NULL) {
		s->pending = p->next;
		(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
		waitpid(p->pid, NULL, 0);
		close(p->pidfd);
		close(p->go);
		unlink(p->path);
		free(p);
	}
	s->pending_tail = NULL;
	s->npending = 0;
	if (s->kvm_fd >= 0)
		close(s->kvm_fd);
	s->kvm_fd = -1;
}

const struct wake_backend wake_kvm = {
	.id = BACKEND_KVM,
	.start = kvm_start,
	.stop = kvm_stop,
	.request = kvm_request,
	.collect = kvm_collect,
	.readyfd = kvm_readyfd,
};
