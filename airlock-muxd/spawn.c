/*
 * The spawner: the one part of airlock-muxd that keeps root.  The stages
 * need root (airlock-wake makes user namespaces and cgroups, airlock-snaft
 * claims sandboxes and writes their limits, airlock-sign reads a root-owned
 * key), and a stage that dies must be started again as root; muxd itself
 * needs no privilege once it has its sockets.  So muxd forks this process
 * before it drops privileges, and from then on asks it, over a socketpair,
 * for exactly two things: start stage N (its command is the one fixed at
 * start, from muxd's own options; no client byte ever reaches this
 * process), and send SIGTERM or SIGKILL to a stage process it started and
 * has not yet reaped.  It reports each stage's exit, and hands muxd the
 * stage's two pipe ends with SCM_RIGHTS.
 *
 * The spawner is the stages' parent, so it alone can reap them, and a pid
 * it is asked to signal is always its own live child: never a pid reused
 * by another process.  It holds no client socket, no listening socket and
 * none of the stages' pipes, and it ends when muxd ends.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "muxd.h"

enum { REQ_SPAWN = 1, REQ_SIGNAL };
enum { MSG_SPAWNED = 1, MSG_EXITED };

struct spawn_req {
	int	op;
	int	stage;
	int	pid;
	int	sig;
};

struct spawn_msg {
	int	type;
	int	pid;
	int	err;		/* MSG_SPAWNED: errno of a failed start, or 0 */
	int	status;		/* MSG_EXITED: as from waitpid(2) */
};

static int		 sock = -1;	/* muxd's end */
static pid_t		 spawner;
/* Exits read while waiting for a start's answer, handled later. */
static struct spawn_msg	*early;
static size_t		 nearly, capearly;

/* The spawner's own state. */
static pid_t		*kids;
static size_t		 nkids, capkids;
static int		 chldpipe[2];

static void
closefrom3(int keep)
{
	struct rlimit rl;
	int fd, max = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (int)rl.rlim_cur;
	for (fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/*
 * The program to run: a bare name is looked for next to muxd's own
 * executable first (so bin/airlock-muxd runs bin/airlock-wake), then in
 * PATH.
 */
static const char *
resolve(struct stage *s, char *buf, size_t len)
{
	if (strchr(s->argv[0], '/') == NULL && mx.selfdir != NULL) {
		snprintf(buf, len, "%s/%s", mx.selfdir, s->argv[0]);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/*
 * Start one instance of stage s; its stdin's write end in *wfd, its
 * stdout's read end in *rfd.  The child's exec failure comes back through
 * a close-on-exec pipe, so that "no such program" is an error here and not
 * a mysterious early death.  Returns the pid, or -1 with errno set.
 */
static pid_t
start(struct stage *s, int *wfd, int *rfd)
{
	char path[4096];
	const char *exe;
	int ip[2], op[2], ep[2], e, i;
	ssize_t n;
	pid_t pid, parent = getpid();

	if (pipe2(ip, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(op, O_CLOEXEC) == -1)
		goto close_ip;
	if (pipe2(ep, O_CLOEXEC) == -1)
		goto close_op;
	exe = resolve(s, path, sizeof(path));
	if ((pid = fork()) == -1)
		goto close_ep;
	if (pid == 0) {
		/*
		 * The spawner ignores the signals muxd's process group gets;
		 * a stage gets every default back (an ignored signal would
		 * stay ignored across exec).
		 */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		/*
		 * A stage ends when muxd ends, however muxd ends: muxd's end
		 * kills the spawner (its own parent-death signal), and the
		 * kernel then sends the stage SIGTERM.  Not SIGKILL: every
		 * airlock stage ends in order on SIGTERM, and airlock-wake
		 * then removes its sandboxes' sockets and cgroups.  If the
		 * spawner died before the signal was set, it is our parent
		 * no more.
		 */
		signal(SIGTERM, SIG_DFL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
			goto child_fail;
		if (getppid() != parent)
			_exit(EXIT_SYSTEM);
		if (dup2(ip[0], 0) == -1 || dup2(op[1], 1) == -1)
			goto child_fail;
		/* No other stage's pipe leaks into a stage. */
		closefrom3(ep[1]);
		for (i = 0; s->envv[i] != NULL; i++)
			putenv(s->envv[i]);
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		if (exe != NULL)
			execv(exe, s->argv);
		else
			execvp(s->argv[0], s->argv);
child_fail:
		e = errno;
		n = write(ep[1], &e, sizeof(e));
		(void)n;
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		close(ip[1]);
		close(op[0]);
		errno = e;
		return -1;
	}
	/*
	 * Fewer wakeups for big records.  Set here, by root, so that the
	 * pipes of root's stages are not counted against muxd's user's
	 * pipe buffer allowance.
	 */
	fcntl(ip[1], F_SETPIPE_SZ, 1024 * 1024);
	fcntl(op[0], F_SETPIPE_SZ, 1024 * 1024);
	*wfd = ip[1];
	*rfd = op[0];
	return pid;

close_ep:
	close(ep[0]);
	close(ep[1]);
close_op:
	close(op[0]);
	close(op[1]);
close_ip:
	close(ip[0]);
	close(ip[1]);
	return -1;
}

static void
sendmsg_fds(const struct spawn_msg *m, int wfd, int rfd)
{
	union {
		char		buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fds[2] = { wfd, rfd };

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (wfd >= 0) {
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	}
	/* muxd gone: the spawner's loop sees its end and exits. */
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) == -1 && errno == EINTR)
		;
}

static int
iskid(pid_t pid, size_t *at)
{
	size_t i;

	for (i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			*at = i;
			return 1;
		}
	return 0;
}

/* A request from muxd, checked before anything is done for it. */
static void
request(const struct spawn_req *q)
{
	struct spawn_msg m;
	size_t at;
	int wfd = -1, rfd = -1;
	pid_t pid;

	memset(&m, 0, sizeof(m));
	switch (q->op) {
	case REQ_SPAWN:
		m.type = MSG_SPAWNED;
		if (q->stage < 0 || q->stage >= mx.nstages) {
			m.err = EINVAL;
			sendmsg_fds(&m, -1, -1);
			return;
		}
		if (nkids == capkids) {
			capkids = capkids ? 2 * capkids : 16;
			if ((kids = reallocarray(kids, capkids,
			    sizeof(*kids))) == NULL)
				err(EXIT_SYSTEM, "spawner: reallocarray");
		}
		if ((pid = start(&mx.stages[q->stage], &wfd, &rfd)) == -1) {
			m.err = errno;
			sendmsg_fds(&m, -1, -1);
			return;
		}
		kids[nkids++] = pid;
		m.pid = pid;
		sendmsg_fds(&m, wfd, rfd);
		close(wfd);
		close(rfd);
		return;
	case REQ_SIGNAL:
		/*
		 * Only SIGTERM and SIGKILL, and only to a stage this process
		 * started and has not reaped: its pid cannot have been
		 * reused, and no other process can be named.
		 */
		if ((q->sig == SIGTERM || q->sig == SIGKILL) &&
		    iskid(q->pid, &at))
			kill(q->pid, q->sig);
		return;
	}
	warnx("spawner: unknown request %d", q->op);
}

static void
onchld(int sig)
{
	int save = errno;
	char c = (char)sig;
	ssize_t n;

	n = write(chldpipe[1], &c, 1);
	(void)n;
	errno = save;
}

static void
reap(void)
{
	struct spawn_msg m;
	size_t at;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (!iskid(pid, &at))
			continue;
		kids[at] = kids[--nkids];
		memset(&m, 0, sizeof(m));
		m.type = MSG_EXITED;
		m.pid = pid;
		m.status = st;
		sendmsg_fds(&m, -1, -1);
	}
}

static void __attribute__((noreturn))
spawner_main(pid_t parent)
{
	struct sigaction sa;
	struct pollfd pfd[2];
	struct spawn_req q;
	char c[64];
	ssize_t n;
	int fd;

	/* muxd's end is ours: the stages die with us, and we with muxd. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(EXIT_SYSTEM);
	prctl(PR_SET_NAME, "airlock-spawner");
	/*
	 * In inetd mode standard input and output are the client's socket:
	 * holding a copy would keep the connection open after muxd closes
	 * it.  The stages get pipes there anyway.
	 */
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	closefrom3(sock);
	/*
	 * A signal to muxd's whole process group (Ctrl-C, a service
	 * manager's stop) is muxd's to act on: the spawner must keep
	 * reaping and reporting stages through the drain.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(chldpipe, O_CLOEXEC | O_NONBLOCK) == -1)
		err(EXIT_SYSTEM, "spawner: pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onchld;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) == -1)
		err(EXIT_SYSTEM, "spawner: sigaction");

	for (;;) {
		pfd[0].fd = sock;
		pfd[0].events = POLLIN;
		pfd[1].fd = chldpipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYSTEM, "spawner: poll");
		}
		if (pfd[1].revents) {
			while (read(chldpipe[0], c, sizeof(c)) > 0)
				;
			reap();
		}
		if (pfd[0].revents == 0)
			continue;
		n = recv(sock, &q, sizeof(q), 0);
		if (n == -1 && errno == EINTR)
			continue;
		/* muxd is gone: so are we, and the stages after us. */
		if (n <= 0)
			_exit(EXIT_OK);
		if (n != (ssize_t)sizeof(q)) {
			warnx("spawner: request of %zd bytes", n);
			continue;
		}
		request(&q);
	}
}

/*
 * Fork the spawner.  Called once the stages' commands are known, before
 * muxd's signal handlers and sockets exist, so the spawner shares neither.
 */
void
spawn_init(void)
{
	int sv[2];
	pid_t parent = getpid();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		err(EXIT_SYSTEM, "socketpair");
	if ((spawner = fork()) == -1)
		err(EXIT_SYSTEM, "fork");
	if (spawner == 0) {
		close(sv[0]);
		sock = sv[1];
		spawner_main(parent);
	}
	close(sv[1]);
	sock = sv[0];
}

pid_t
spawn_pid(void)
{
	return spawner;
}

int
spawn_fd(void)
{
	return sock;
}

/* One message from the spawner, with its descriptors; 0 at its end. */
static int
recvone(struct spawn_msg *m, int fds[2], int flags)
{
	union {
		char		buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	fds[0] = fds[1] = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(2 * sizeof(int)))
			memcpy(fds, CMSG_DATA(cm), 2 * sizeof(int));
	if (n != (ssize_t)sizeof(*m)) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

static void
keep_early(const struct spawn_msg *m)
{
	if (nearly == capearly) {
		capearly = capearly ? 2 * capearly : 8;
		if ((early = reallocarray(early, capearly,
		    sizeof(*early))) == NULL)
			err(EXIT_SYSTEM, "reallocarray");
	}
	early[nearly++] = *m;
}

/*
 * Ask for an instance of stage; its pid, or -1 with errno set (EPIPE if
 * the spawner is gone).  Waits for the answer: starting a stage takes a
 * fork and an exec, and nothing else is done meanwhile.
 */
pid_t
spawn_stage(int stage, int *wfd, int *rfd)
{
	struct spawn_req q = { REQ_SPAWN, stage, 0, 0 };
	struct spawn_msg m;
	struct pollfd pfd = { sock, POLLIN, 0 };
	int fds[2], r;

	if (send(sock, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
		return -1;
	for (;;) {
		if ((r = recvone(&m, fds, MSG_DONTWAIT)) == -1 &&
		    errno == EAGAIN) {
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				return -1;
			continue;
		}
		if (r == 0)
			errno = EPIPE;
		if (r <= 0)
			return -1;
		if (m.type == MSG_EXITED) {
			keep_early(&m);
			continue;
		}
		if (m.type != MSG_SPAWNED)
			continue;
		if (m.err != 0 || fds[0] < 0 || fds[1] < 0) {
			if (fds[0] >= 0)
				close(fds[0]);
			if (fds[1] >= 0)
				close(fds[1]);
			errno = m.err != 0 ? m.err : EPROTO;
			return -1;
		}
		*wfd = fds[0];
		*rfd = fds[1];
		return m.pid;
	}
}

void
spawn_signal(pid_t pid, int sig)
{
	struct spawn_req q = { REQ_SIGNAL, 0, pid, sig };

	if (send(sock, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_info("asking the spawner to signal %d: %s", (int)pid,
		    strerror(errno));
}

/*
 * The exits the spawner reported: exited(pid, status) for each.  Returns
 * -1 once the spawner is gone.
 */
int
spawn_read(void (*exited)(pid_t, int))
{
	struct spawn_msg m;
	size_t i;
	int fds[2], r;

	for (i = 0; i < nearly; i++)
		exited(early[i].pid, early[i].status);
	nearly = 0;
	for (;;) {
		r = recvone(&m, fds, MSG_DONTWAIT);
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return -1;
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		if (m.type == MSG_EXITED)
			exited(m.pid, m.status);
	}
}
