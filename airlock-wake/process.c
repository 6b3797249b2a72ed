/*
 * The process backend (DESIGN.md section 4): zygotes, and sandboxes forked
 * from them.
 *
 * A zygote is the image's runner started once inside fresh namespaces
 * (user, pid, mount, network, ipc, uts, cgroup) with the image's root
 * filesystem as its read-only root.  It initialises the interpreter, then
 * forks one pool sandbox per SB_SPAWN.  Each pool sandbox waits on its own
 * listening socket in our mode-0700 runtime directory; that socket's path
 * is the handle airlock-snaft connects to.
 */
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/close_range.h>
#include <linux/sched.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airlock.h"
#include "sandbox.h"
#include "wake.h"

/* The user the sandbox's root maps to on the host: nobody. */
#define SANDBOX_HOST_UID	65534
#define SANDBOX_HOST_GID	65534
/* The nice value of everything inside a sandbox. */
#define SANDBOX_NICE		10


/* Where the zygote mounts the image root before it pivots into it. */
#define ROOT			"/tmp/root"

/* Mount flags a bind remount must keep: the kernel locks them. */
static unsigned long
lockedflags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) != 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static void __attribute__((noreturn))
childfail(int fd, const char *what)
{
	char buf[256];
	int e = errno;

	snprintf(buf, sizeof(buf), "%s: %s", what, strerror(e));
	if (write(fd, buf, strlen(buf)) < 0)
		_exit(EXIT_SYSTEM);
	_exit(EXIT_SANDBOX);
}

/*
 * Back to the default action, through the system call: glibc's sigaction
 * refuses the two signals it reserves for itself (32 and 33), and those
 * too may arrive ignored.  SIGKILL and SIGSTOP fail with EINVAL, and are
 * default anyway.
 */
static void
resetsignal(int sig)
{
	struct {
		void		(*handler)(int);
		unsigned long	 flags;
		void		(*restorer)(void);
		uint64_t	 mask;
	} ksa;

	memset(&ksa, 0, sizeof(ksa));
	ksa.handler = SIG_DFL;
	(void)syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

/*
 * In the new namespaces: build the root and exec the runner.  Runs as root
 * of a fresh user namespace, so every mount below is invisible to the host
 * and carries no host privilege.  Errors go to errfd for the parent.
 */
static void __attribute__((noreturn))
zygote_child(struct snapshot *s, int ctl, int syncfd, int errfd)
{
	static const char *devs[] = { "null", "zero", "urandom", "random" };
	static char env_path[] = "PATH=/usr/bin:/bin";
	static char env_lang[] = "LANG=C.UTF-8";
	static char env_home[] = "HOME=/tmp";
	/* A scrubbed environment: nothing of the host's reaches the sandbox. */
	char *envp[3 + SNAPSHOT_MAXENV + 1] = { env_path, env_lang, env_home };
	char path[PATH_MAX + 32], *argv[SNAPSHOT_MAXPRELOAD + 4], c;
	char popt[] = "-p";
	size_t n;
	size_t i;
	struct pollfd pfd;
	sigset_t mask;
	int fd, rootfd, sig;

	/* Wait until wake has written our uid and gid maps. */
	if (read(syncfd, &c, 1) != 1)
		_exit(EXIT_SANDBOX);
	close(syncfd);
	/*
	 * The image root, opened while we still have wake's host uid: the
	 * host's nobody may not be able to search the directories above it
	 * (a checkout in a 0700 directory), and needs not to.
	 */
	if ((rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		childfail(errfd, "open the image root");
	/*
	 * Creating the namespace did not change our host uid; becoming root of
	 * the namespace does: from now on we are the host's nobody, with
	 * capabilities only over this namespace's own objects.
	 */
	if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
		childfail(errfd, "becoming root of the user namespace");
	/*
	 * The zygote must not outlive wake; its death ends the pid namespace
	 * and every sandbox in it.  Only now: the kernel clears the
	 * parent-death signal when the effective uid changes, as it just did.
	 * If wake died before this, its end of ctl is already closed.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		childfail(errfd, "prctl");
	pfd.fd = ctl;
	pfd.events = 0;
	if (poll(&pfd, 1, 0) != 0)
		_exit(EXIT_SANDBOX);

	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		childfail(errfd, "make / private");
	/*
	 * The image root, bound through that descriptor onto a directory of
	 * a tmpfs of our own, becomes the mount point to pivot to.
	 */
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=4k,nr_inodes=4,mode=0700") != 0 ||
	    mkdir(ROOT, 0755) != 0)
		childfail(errfd, "a mount point for the image root");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rootfd);
	if (mount(path, ROOT, NULL, MS_BIND | MS_REC, NULL) != 0)
		childfail(errfd, "bind the image root");
	close(rootfd);
	/*
	 * The only device nodes: bound from the host, each over an empty file
	 * the image provides.  They stay usable (no MS_NODEV) but nothing on
	 * them can be executed or gain privileges.
	 */
	for (i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		char src[32];

		snprintf(src, sizeof(src), "/dev/%s", devs[i]);
		snprintf(path, sizeof(path), "%s/dev/%s", ROOT, devs[i]);
		if (access(path, F_OK) != 0)
			continue;
		if (mount(src, path, NULL, MS_BIND, NULL) != 0)
			childfail(errfd, path);
		if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID |
		    MS_NOEXEC | lockedflags(path), NULL) != 0)
			childfail(errfd, path);
	}
	/* The image root is read-only for everything inside. */
	if (mount(NULL, ROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
	    MS_NOSUID | MS_NODEV | lockedflags(ROOT), NULL) != 0)
		childfail(errfd, "remount the image root read-only");
	if (chdir(ROOT) != 0)
		childfail(errfd, "chdir new root");
	/*
	 * pivot_root(".", ".") stacks the old root under the new one; the
	 * detach then removes every host path from this namespace for good.
	 */
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		childfail(errfd, "pivot_root");
	if (umount2(".", MNT_DETACH) != 0)
		childfail(errfd, "detach the old root");
	if (chdir("/") != 0)
		childfail(errfd, "chdir /");
	if (sethostname("airlock", 7) != 0)
		childfail(errfd, "sethostname");

	if ((fd = open("/dev/null", O_RDWR)) < 0)
		childfail(errfd, "open /dev/null");
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(ctl, SB_ZYGOTE_FD) < 0)
		childfail(errfd, "dup2");
	/*
	 * No inherited descriptors beyond 0-3 (2 is wake's stderr): everything
	 * else closes at exec, whatever flags it was opened with.
	 */
	if (fcntl(SB_ZYGOTE_FD, F_SETFD, 0) != 0)
		childfail(errfd, "fcntl");
	if (syscall(SYS_close_range, SB_ZYGOTE_FD + 1, ~0U,
	    CLOSE_RANGE_CLOEXEC) != 0)
		childfail(errfd, "close_range");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		childfail(errfd, "no_new_privs");
	/*
	 * Untrusted code yields to the pipeline that watches it: the zygote,
	 * every sandbox and every payload run below the tools' priority, so a
	 * busy payload or a pool refill never delays a verdict.
	 */
	if (setpriority(PRIO_PROCESS, 0, SANDBOX_NICE) != 0)
		childfail(errfd, "setpriority");
	/*
	 * Signal dispositions and the mask are the host's until now: what
	 * the shell that started us ignored (a background job ignores SIGINT
	 * and SIGQUIT) or blocked would survive the exec into every sandbox.
	 * The runner starts from the defaults, as a fresh program should.
	 */
	for (sig = 1; sig < NSIG; sig++)
		resetsignal(sig);
	sigemptyset(&mask);
	if (sigprocmask(SIG_SETMASK, &mask, NULL) != 0)
		childfail(errfd, "sigprocmask");

	/* runner [-p program] preload...: guest/lang.h's lang_init(). */
	n = 0;
	argv[n++] = s->runner;
	if (s->program != NULL) {
		argv[n++] = popt;
		argv[n++] = s->program;
	}
	for (i = 0; i < s->npreload; i++)
		argv[n++] = s->preload[i];
	argv[n] = NULL;
	/* The scrubbed three, and what the snapshot adds (thread counts). */
	for (i = 0; i < s->nenv; i++)
		envp[3 + i] = s->env[i];
	envp[3 + s->nenv] = NULL;
	execve(s->runner, argv, envp);
	childfail(errfd, s->runner);
}

static int
zygote_recv(struct snapshot *s, uint16_t want, int *fd)
{
	struct sb_hdr h;
	int fds[1], nfds;

	*fd = -1;
	if (sb_recv(s->ctl, 0, &h, NULL, 0, fds, 1, &nfds) <= 0)
		return -1;
	if (h.type != want || h.len != 0) {
		if (nfds > 0)
			close(fds[0]);
		return -1;
	}
	if (nfds > 0)
		*fd = fds[0];
	return 0;
}

static void	zygote_stop(struct snapshot *);

/*
 * Start s's zygote: clone it into new namespaces, map its ids, and wait
 * for it to say it is ready.  0, or -1 with s->error.
 */
static int
zygote_start(struct snapshot *s)
{
	char *errbuf = s->error;
	size_t errlen = sizeof(s->error);
	char map[64], path[64], msg[256];
	struct pollfd pfd;
	int sv[2], sync[2], errp[2], fd;
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(sync, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		snprintf(errbuf, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	/*
	 * The child inherits our supplementary groups and cannot drop them in
	 * its namespace (setgroups is denied there), so drop them here first:
	 * as root, so that no host group reaches the sandbox.
	 */
	if (geteuid() == 0 && setgroups(0, NULL) != 0) {
		snprintf(errbuf, errlen, "setgroups: %s", strerror(errno));
		goto close_all;
	}
	/*
	 * Every namespace at once: the child is root only inside a user
	 * namespace we map to the host's nobody, with no network interface,
	 * its own pid numbering, mounts, IPC, hostname and cgroup view.
	 */
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID |
	    CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
	    CLONE_NEWCGROUP | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0) {
		snprintf(errbuf, errlen, "clone with new namespaces: %s",
		    strerror(errno));
		goto close_all;
	}
	if (pid == 0) {
		close(sv[0]);
		close(sync[1]);
		close(errp[0]);
		zygote_child(s, sv[1], sync[0], errp[1]);
	}
	close(sv[1]);
	close(sync[0]);
	close(errp[1]);

	/* Map root inside to nobody outside; forbid setgroups first. */
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	if (write_file(path, "deny") != 0)
		goto kill_zygote;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %d 1\n", SANDBOX_HOST_UID);
	if (write_file(path, map) != 0)
		goto kill_zygote;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %d 1\n", SANDBOX_HOST_GID);
	if (write_file(path, map) != 0)
		goto kill_zygote;
	if (write(sync[1], "g", 1) != 1)
		goto kill_zygote;
	close(sync[1]);

	s->pid = pid;
	s->ctl = sv[0];
	/* Ready, or an error from the child, or its death. */
	pfd.fd = s->ctl;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ZYGOTE_START_MS) <= 0 ||
	    zygote_recv(s, SB_READY, &fd) != 0) {
		n = read(errp[0], msg, sizeof(msg) - 1);
		msg[n > 0 ? n : 0] = '\0';
		snprintf(errbuf, errlen, "zygote for %s/%s did not start%s%s",
		    s->image, s->name, n > 0 ? ": " : "", msg);
		close(errp[0]);
		zygote_stop(s);
		return -1;
	}
	close(errp[0]);
	return 0;

kill_zygote:
	snprintf(errbuf, errlen, "writing %s: %s", path, strerror(errno));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	close(sync[1]);
	close(errp[0]);
	return -1;
close_all:
	close(sv[0]);
	close(sv[1]);
	close(sync[0]);
	close(sync[1]);
	close(errp[0]);
	close(errp[1]);
	return -1;
}

static void
zygote_stop(struct snapshot *s)
{
	struct pool_entry *e;
	struct pending *p;
	int i;

	while ((e = s->pool) != NULL) {
		s->pool = e->next;
		pool_discard(e);
	}
	s->npool = 0;
	/*
	 * Closing the control socket tells the zygote to go: it ends its
	 * unclaimed sandboxes, reports the runs still under way and exits.
	 * A moment for that, then it is killed, and with it (the pid
	 * namespace's init) everything it still had.
	 */
	if (s->ctl >= 0)
		close(s->ctl);
	s->ctl = -1;
	if (s->pid > 0) {
		for (i = 0; i < 200 && waitpid(s->pid, NULL, WNOHANG) == 0;
		    i++)
			usleep(5000);
		if (i == 200) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
	}
	s->pid = -1;
	while ((p = s->pending) != NULL) {
		s->pending = p->next;
		close(p->go);
		unlink(p->path);
		free(p);
	}
	s->pending_tail = NULL;
	s->npending = 0;
}

/*
 * Ask the zygote for one more sandbox.  The listening socket is made here,
 * in the runtime directory only we can enter; the sandbox accepts on it.
 */
static int
zygote_request(struct snapshot *s)
{
	static unsigned long counter;
	struct sb_spawn sp = { s->lease_ms, s->tmp_bytes, s->outdir_bytes,
	    s->files };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pending *p;
	int ls, go[2], fds[2], n;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	n = snprintf(p->path, sizeof(p->path), "%s/sb-%lu.sock", rundir,
	    ++counter);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		free(p);
		return -1;
	}
	strcpy(sa.sun_path, p->path);
	unlink(p->path);
	if (pipe2(go, O_CLOEXEC) != 0)
		goto free_pending;
	if ((ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		goto close_go;
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(p->path, 0600) != 0 || listen(ls, 1) != 0)
		goto close_socket;
	fds[0] = ls;
	fds[1] = go[0];
	if (sb_send(s->ctl, SB_SPAWN, 0, &sp, sizeof(sp), NULL, 0, fds, 2) != 0)
		goto close_socket;
	close(ls);
	close(go[0]);
	p->go = go[1];
	p->t_us = now_us();
	/* Replies come in request order: append. */
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
close_go:
	close(go[0]);
	close(go[1]);
free_pending:
	free(p);
	return -1;
}

/* Take one SB_SPAWNED answer and move its sandbox into the pool. */
static int
zygote_collect(struct snapshot *s)
{
	struct pool_entry *e;
	struct pending *p;
	int pidfd;

	if (zygote_recv(s, SB_SPAWNED, &pidfd) != 0 || pidfd < 0)
		return -1;
	if ((p = s->pending) == NULL) {
		close(pidfd);
		return -1;
	}
	if ((s->pending = p->next) == NULL)
		s->pending_tail = NULL;
	s->npending--;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		close(pidfd);
		close(p->go);
		free(p);
		return -1;
	}
	memcpy(e->path, p->path, sizeof(e->path));
	e->pidfd = pidfd;
	e->t_us = p->t_us;
	pool_cgroup(s, e);
	/* In its cgroup (or not, with rlimits only): it may fork its payload. */
	if (write(p->go, "g", 1) != 1)
		log_info("starting sandbox %s: %s", e->path, strerror(errno));
	close(p->go);
	free(p);
	/* Append, so that the oldest sandbox is handed out first. */
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
zygote_readyfd(const struct snapshot *s)
{
	return s->ctl;
}

const struct wake_backend wake_process = {
	.id = BACKEND_PROCESS,
	.start = zygote_start,
	.stop = zygote_stop,
	.request = zygote_request,
	.collect = zygote_collect,
	.readyfd = zygote_readyfd,
};
