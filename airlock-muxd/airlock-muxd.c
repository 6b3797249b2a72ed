/*
 * airlock-muxd: the whole pipeline behind one TCP port (DESIGN.md section
 * 6; airlock-muxd(8) is the contract).  Bind, start the stages, serve: one
 * poll(2) loop, no threads.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/capability.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "addr.h"
#include "airlock.h"
#include "muxd.h"
#include "trace.h"

#define MAX_LISTEN	16
#define DRAIN_CLOSE_US	2000000		/* answered clients get this to go */
#define MUXD_USER	"_airlock"

struct muxd mx;
struct mstats ms;

static int		 lfds[MAX_LISTEN];
static int		 nlfds;
static int		 mlfds[4];	/* metrics (-M) */
static int		 nmlfds;
static int		 sigpipe[2];
static volatile sig_atomic_t got_term, got_hup, got_chld;
static uint64_t		 accept_paused_until;
static uint64_t		 refused_logged_at;
static uint64_t		 refused_unlogged;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-muxd [-iqVv] [-c conns] [-D seconds] "
	    "[-F frames] [-f frames]\n"
	    "                    [-l address:port] [-M address:port] "
	    "[-m bytes] [-o bytes]\n"
	    "                    [-P pipeline] [-R bytes] [-r seconds] "
	    "[-s stage] [-t seconds]\n"
	    "                    [-u user] [-w seconds]\n");
	exit(EXIT_USAGE);
}


void
buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n + 1)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n + 1)
		cap *= 2;
	/* Never more than a buffer with a bound can hold (the memory bound). */
	if (b->max != 0 && cap > b->max && b->len + n + 1 <= b->max)
		cap = b->max;
	/* Out of memory in a daemon serving others: stop loudly. */
	if ((p = realloc(b->p, cap)) == NULL)
		err(EXIT_SYSTEM, "realloc");
	b->p = p;
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void
onsignal(int sig)
{
	int save = errno;
	char c = (char)sig;
	ssize_t n;

	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
	n = write(sigpipe[1], &c, 1);
	(void)n;
	errno = save;
}

static long long
number(const char *s, long long min, long long max, const char *what)
{
	long long v;

	if (parse_number(s, min, max, &v) != 0) {
		warnx("%s must be a number from %lld to %lld: %s", what, min,
		    max, s);
		usage();
	}
	return v;
}

static void
setnonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		err(EXIT_SYSTEM, "fcntl");
}

static void	sockname(int, int, char *, size_t);
static void	start_drain(const char *);

/* Bind "host:port" or "[v6]:port": its sockets into fds, *n of max. */
static void
bind_spec(const char *spec, int *fds, int *nfds, int max)
{
	struct addrinfo *res, *ai;
	char why[512];
	int fd, one = 1, n = 0;

	if (addr_resolve(spec, 1, &res, why, sizeof(why)) == -1)
		errx(EXIT_USAGE, "%s", why);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (*nfds == max)
			errx(EXIT_USAGE, "too many listening addresses");
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			err(EXIT_SYSTEM, "socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			err(EXIT_SYSTEM, "bind %s", spec);
		if (listen(fd, SOMAXCONN) == -1)
			err(EXIT_SYSTEM, "listen %s", spec);
		fds[(*nfds)++] = fd;
		n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		errx(EXIT_SYSTEM, "%s: no address", spec);
}

static void
listen_on(const char *spec)
{
	bind_spec(spec, lfds, &nlfds, MAX_LISTEN);
}

/*
 * The metrics address: loopback only, since the metrics tell anyone who
 * can read them how busy airlock is and with what (airlock-muxd(8),
 * METRICS); a scraper elsewhere reaches them through a tunnel or proxy
 * the operator chooses.
 */
static void
metrics_on(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, loop;

	bind_spec(spec, mlfds, &nmlfds, sizeof(mlfds) / sizeof(mlfds[0]));
	for (i = 0; i < nmlfds; i++) {
		sl = sizeof(ss);
		if (getsockname(mlfds[i], (struct sockaddr *)&ss, &sl) == -1)
			err(EXIT_SYSTEM, "getsockname");
		if (ss.ss_family == AF_INET)
			loop = (ntohl(((struct sockaddr_in *)&ss)->
			    sin_addr.s_addr) >> 24) == 127;
		else
			loop = ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
			    &((struct sockaddr_in6 *)&ss)->sin6_addr);
		if (!loop)
			errx(EXIT_USAGE, "-M %s: the metrics address must be a "
			    "loopback address", spec);
	}
}

/*
 * systemd socket activation: LISTEN_PID names us and LISTEN_FDS counts the
 * listening sockets from fd 3 on (sd_listen_fds(3)).  The variables are
 * removed so that no stage mistakes them for its own.
 */
static void
activation(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int fd, n, acc;
	socklen_t len = sizeof(acc);

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return;
	n = atoi(fds);
	for (fd = 3; fd < 3 + n && nlfds < MAX_LISTEN; fd++) {
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) ==
		    -1 || !acc)
			errx(EXIT_SYSTEM, "LISTEN_FDS: fd %d is not a listening "
			    "socket", fd);
		setnonblock(fd);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		lfds[nlfds++] = fd;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static void
sockname(int fd, int peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) :
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) == -1) {
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else
		snprintf(buf, len, "fd %d", fd);
}

/*
 * Over the connection cap a connection is refused: accepted and closed at
 * once, before anything is read, so nothing queues.  No frame was read, so
 * none is owed a token.
 */
static void
accept_all(int lfd)
{
	char peer[64];
	uint64_t now;
	int fd, i, one = 1;

	for (i = 0; i < 64; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_info("accept: %s; pausing", strerror(errno));
				accept_paused_until = now_us() + 100000;
			}
			return;
		}
		if (mx.nconns >= mx.conn_max || mx.draining) {
			close(fd);
			mx.refused++;
			now = now_us();
			if (now - refused_logged_at < 1000000) {
				refused_unlogged++;
				continue;
			}
			log_info("refused %llu connections: %d open (cap %d)",
			    (unsigned long long)refused_unlogged + 1,
			    mx.nconns, mx.conn_max);
			refused_logged_at = now;
			refused_unlogged = 0;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sockname(fd, 1, peer, sizeof(peer));
		if (conn_new(fd, fd, 1, peer) == NULL)
			close(fd);
		else
			ms.conns++;
	}
}

static int
issocket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The directory of our own executable, where the stages live. */
static const char *
selfdir(void)
{
	static char path[PATH_MAX];
	ssize_t n;

	if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) <= 0)
		return NULL;
	path[n] = '\0';
	return dirname(path);
}

/*
 * Serve as user, with nothing of root's: no supplementary group, no
 * capability in any set, and no way back through a set-user-ID program.
 * The stages keep root: they are the spawner's children (spawn.c), and it
 * alone keeps root.  muxd holds its listening sockets and its pipes to the
 * stages, which is all it needs to serve.
 */
static void
drop(const struct passwd *pw)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int cap;

	/* The bounding set, while we still have CAP_SETPCAP to shrink it. */
	for (cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap) == -1)
			err(EXIT_SYSTEM, "PR_CAPBSET_DROP");
	if (setgroups(0, NULL) == -1)
		err(EXIT_SYSTEM, "setgroups");
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1)
		err(EXIT_SYSTEM, "setresgid %s", pw->pw_name);
	/* All three uids: the permitted and effective sets empty with them. */
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		err(EXIT_SYSTEM, "setresuid %s", pw->pw_name);
	/* The inheritable set is not emptied by the uid change. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		err(EXIT_SYSTEM, "capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		err(EXIT_SYSTEM, "PR_SET_NO_NEW_PRIVS");
	if (setresuid(0, 0, 0) != -1 || setegid(0) != -1)
		errx(EXIT_SYSTEM, "could become root again after dropping to "
		    "%s", pw->pw_name);
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer's check at exit traces muxd from a child. */
	prctl(PR_SET_DUMPABLE, 1);
#endif
	log_debug("serving as %s (uid %d)", pw->pw_name, (int)pw->pw_uid);
}

/* What the spawner reports, and its end (it never ends while muxd runs). */
static void
spawner_events(void)
{
	pid_t pid;
	int st;

	if (spawn_read(pipeline_exited) == 0 && !got_chld)
		return;
	got_chld = 0;
	pid = waitpid(spawn_pid(), &st, WNOHANG);
	if (pid == 0 && spawn_read(pipeline_exited) == 0)
		return;
	if (mx.fatal)
		return;
	warnx("the stage spawner died; no stage can be started again");
	mx.fatal = 1;
	start_drain("spawner gone");
	pipeline_orphaned();
}

/* getpwnam(3)'s answer, kept past later calls. */
static struct passwd *
copy_passwd(const struct passwd *pw)
{
	struct passwd *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->pw_name = strdup(pw->pw_name)) == NULL) {
		free(c);
		return NULL;
	}
	c->pw_uid = pw->pw_uid;
	c->pw_gid = pw->pw_gid;
	return c;
}

static void
free_passwd(struct passwd *c)
{
	if (c != NULL)
		free(c->pw_name);
	free(c);
}

static void
setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe, O_NONBLOCK | O_CLOEXEC) == -1)
		err(EXIT_SYSTEM, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		err(EXIT_SYSTEM, "sigaction");
	/* A client or stage that goes away is an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);
}

static void
start_drain(const char *why)
{
	struct conn *c;
	int i;

	if (mx.draining)
		return;
	mx.draining = 1;
	log_info("%s: draining %d frames", why, mx.nframes);
	for (i = 0; i < nlfds; i++)
		close(lfds[i]);
	nlfds = 0;
	pipeline_drain();
	LIST_FOREACH(c, &mx.conns, link)
		conn_drain(c);
}

enum pkind { P_SIG, P_SPAWN, P_MLISTEN, P_MCONN, P_LISTEN, P_CONN_R, P_CONN_W, P_INST_R, P_INST_W };

struct pref {
	enum pkind	 kind;
	void		*p;
	int		 fd;
};

static struct pollfd	*pfds;
static struct pref	*prefs;
static size_t		 npfd, pcap;

static void
padd(int fd, short events, enum pkind kind, void *p)
{
	if (npfd == pcap) {
		pcap = pcap ? pcap * 2 : 64;
		if ((pfds = reallocarray(pfds, pcap, sizeof(*pfds))) == NULL ||
		    (prefs = reallocarray(prefs, pcap, sizeof(*prefs))) == NULL)
			err(EXIT_SYSTEM, "reallocarray");
	}
	pfds[npfd].fd = fd;
	pfds[npfd].events = events;
	pfds[npfd].revents = 0;
	prefs[npfd].kind = kind;
	prefs[npfd].p = p;
	prefs[npfd].fd = fd;
	npfd++;
}

static int
inst_wants_write(const struct inst *in)
{
	if (in->wfd < 0)
		return 0;
	if (in->cur != NULL)
		return 1;
	return !in->draining && in->stage->cur == in &&
	    !TAILQ_EMPTY(&in->stage->queue);
}

/*
 * The signals that came, handled before anything else that poll(2)
 * reported with them.  SIGTERM first: sent to muxd's whole process group
 * (Ctrl-C, a service manager's stop), it reaches the stages too, and
 * their end of output or death must be seen as part of the drain, not as
 * a failure to recover from.
 */
static void
signals(void)
{
	char sbuf[64];

	while (read(sigpipe[0], sbuf, sizeof(sbuf)) > 0)
		;
	if (got_term) {
		got_term = 0;
		start_drain("signal");
	}
	spawner_events();
	if (got_hup) {
		got_hup = 0;
		if (!mx.draining)
			pipeline_reload();
	}
}

static void
serve(int inetd)
{
	struct conn *c, *nc;
	struct inst *in;
	struct mconn *mc;
	uint64_t now, next, drain_close_at = 0;
	size_t i;
	int timeout, n;

	for (;;) {
		signals();
		now = now_us();
		next = now + 1000000;
		LIST_FOREACH(c, &mx.conns, link) {
			conn_resume(c);
			conn_timers(c, now, &next);
		}
		frame_timers(now, &next);
		pipeline_timers(now, &next);
		metrics_timers(now, &next);
		for (c = LIST_FIRST(&mx.conns); c != NULL; c = nc) {
			nc = LIST_NEXT(c, link);
			if (c->dead)
				conn_free(c);
		}
		if (inetd && mx.nconns == 0)
			start_drain("inetd client done");

		/* Drained: every frame answered; let clients go, then stages. */
		if (mx.draining && mx.nframes == 0) {
			if (drain_close_at == 0)
				drain_close_at = now + DRAIN_CLOSE_US;
			if (now >= drain_close_at)
				while ((c = LIST_FIRST(&mx.conns)) != NULL)
					conn_free(c);
			else if (drain_close_at < next)
				next = drain_close_at;
			if (mx.nconns == 0) {
				pipeline_stop();
				pipeline_timers(now, &next);
				if (pipeline_idle())
					break;
			}
		}

		npfd = 0;
		padd(sigpipe[0], POLLIN, P_SIG, NULL);
		if (!mx.fatal)
			padd(spawn_fd(), POLLIN, P_SPAWN, NULL);
		for (n = 0; n < nmlfds; n++)
			padd(mlfds[n], POLLIN, P_MLISTEN, NULL);
		for (mc = metrics_first(); mc != NULL; mc = metrics_next(mc))
			padd(metrics_fd(mc), metrics_events(mc), P_MCONN, mc);
		if (now >= accept_paused_until)
			for (n = 0; n < nlfds; n++)
				padd(lfds[n], POLLIN, P_LISTEN, NULL);
		else if (accept_paused_until < next)
			next = accept_paused_until;
		LIST_FOREACH(c, &mx.conns, link) {
			/*
			 * A socket is always polled, for input or not, so
			 * that a reset is seen even while muxd is not reading
			 * (a pipe would report its hangup forever).
			 */
			if (conn_wants_read(c))
				padd(c->rfd, POLLIN, P_CONN_R, c);
			else if (c->issock && !c->dead)
				padd(c->rfd, 0, P_CONN_R, c);
			if (conn_wants_write(c))
				padd(c->wfd, POLLOUT, P_CONN_W, c);
		}
		LIST_FOREACH(in, &mx.insts, link) {
			if (in->rfd >= 0)
				padd(in->rfd, POLLIN, P_INST_R, in);
			if (inst_wants_write(in))
				padd(in->wfd, POLLOUT, P_INST_W, in);
		}
		now = now_us();
		timeout = next > now ? (int)((next - now + 999) / 1000) : 0;
		if ((n = poll(pfds, npfd, timeout)) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYSTEM, "poll");
		}
		/*
		 * Nothing is freed while the events are handled: connections
		 * and instances are only freed above, so every pointer in
		 * prefs stays valid; one that died meanwhile is skipped.
		 */
		signals();
		for (i = 0; i < npfd && n > 0; i++) {
			if (pfds[i].revents == 0)
				continue;
			n--;
			switch (prefs[i].kind) {
			case P_SIG:
				break;
			case P_SPAWN:
				spawner_events();
				break;
			case P_MLISTEN:
				metrics_accept(prefs[i].fd);
				break;
			case P_MCONN:
				metrics_io(prefs[i].p, pfds[i].revents);
				break;
			case P_LISTEN:
				if (!mx.draining)
					accept_all(prefs[i].fd);
				break;
			case P_CONN_R:
				c = prefs[i].p;
				if (c->dead || c->rfd != prefs[i].fd)
					break;
				if (c->rdeof && (pfds[i].revents &
				    (POLLERR | POLLHUP)))
					conn_hangup(c);
				else if (pfds[i].revents & (POLLIN | POLLERR |
				    POLLHUP))
					conn_read(c);
				break;
			case P_CONN_W:
				c = prefs[i].p;
				if (!c->dead && c->wfd == prefs[i].fd)
					conn_write(c);
				break;
			case P_INST_R:
				in = prefs[i].p;
				if (in->rfd == prefs[i].fd)
					pipeline_read(in);
				break;
			case P_INST_W:
				in = prefs[i].p;
				if (in->wfd == prefs[i].fd)
					pipeline_write(in);
				break;
			}
		}
	}
}

int
main(int argc, char *argv[])
{
	struct rlimit rl;
	struct passwd *pw = NULL;
	struct conn *c;
	const char **listen = NULL, *metrics = NULL;
	int ch, inetd = 0, nlisten = 0, staged = 0, fd;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-muxd %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	/*
	 * Large buffers (frames, records, answers) are mapped and unmapped
	 * whole: glibc would otherwise raise this threshold as they are
	 * freed and keep what it freed, and muxd's memory would not come
	 * back down to what it holds (airlock-muxd(8), MEMORY).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mx.frame_max = MUXD_FRAME_MAX;
	mx.conn_max = MUXD_CONN_MAX;
	mx.flight_max = MUXD_FLIGHT_MAX;
	mx.conn_flight_max = MUXD_CONN_FLIGHT_MAX;
	mx.out_max = MUXD_OUT_MAX;
	mx.record_max = MUXD_RECORD_MAX;
	mx.read_us = (uint64_t)MUXD_READ_TIMEOUT * 1000000;
	mx.idle_us = (uint64_t)MUXD_IDLE_TIMEOUT * 1000000;
	mx.write_us = (uint64_t)MUXD_WRITE_TIMEOUT * 1000000;
	mx.deadline_us = (uint64_t)MUXD_DEADLINE * 1000000;
	mx.user = MUXD_USER;
	LIST_INIT(&mx.insts);
	LIST_INIT(&mx.conns);
	LIST_INIT(&mx.frames);
	if ((listen = calloc((size_t)argc, sizeof(*listen))) == NULL)
		err(EXIT_SYSTEM, "calloc");

	while ((ch = getopt(argc, argv, "c:D:F:f:il:M:m:o:P:qR:r:s:t:u:Vvw:")) !=
	    -1) {
		switch (ch) {
		case 'c':
			mx.conn_max = (int)number(optarg, 1, 100000, "-c");
			break;
		case 'D':
			mx.deadline_us = (uint64_t)number(optarg, 1, 86400,
			    "-D") * 1000000;
			break;
		case 'F':
			mx.flight_max = (int)number(optarg, 1, 100000, "-F");
			break;
		case 'f':
			mx.conn_flight_max = (int)number(optarg, 1, 100000,
			    "-f");
			break;
		case 'i':
			inetd = 1;
			break;
		case 'l':
			listen[nlisten++] = optarg;
			break;
		case 'M':
			metrics = optarg;
			break;
		case 'm':
			mx.frame_max = (size_t)number(optarg, 64,
			    MUXD_FRAME_CAP, "-m");
			break;
		case 'o':
			mx.out_max = (size_t)number(optarg, 4096,
			    1024 * 1024 * 1024, "-o");
			break;
		case 'P':
			mx.nstages = 0;
			staged = 1;
			if (stage_parse(optarg) == -1)
				usage();
			break;
		case 'q':
			log_level = 0;
			break;
		case 'R':
			mx.record_max = (size_t)number(optarg, 65536,
			    1024 * 1024 * 1024, "-R");
			break;
		case 'r':
			mx.read_us = (uint64_t)number(optarg, 1, 86400, "-r") *
			    1000000;
			break;
		case 's':
			if (!staged)
				mx.nstages = 0;
			staged = 1;
			if (stage_parse(optarg) == -1)
				usage();
			break;
		case 't':
			mx.idle_us = (uint64_t)number(optarg, 1, 86400, "-t") *
			    1000000;
			break;
		case 'u':
			mx.user = optarg;
			break;
		case 'V':
			printf("airlock-muxd %s\n", AIRLOCK_VERSION);
			return EXIT_OK;
		case 'v':
			log_level = 2;
			break;
		case 'w':
			mx.write_us = (uint64_t)number(optarg, 1, 86400, "-w") *
			    1000000;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	trace_init();
	if (!staged &&
	    stage_parse("airlock-wake|airlock-snaft|airlock-triage|"
	    "airlock-sign") == -1)
		errx(EXIT_SYSTEM, "out of memory");
	if (mx.nstages < 2) {
		warnx("the pipeline needs at least two stages, the last one "
		    "the signer");
		usage();
	}
	if (inetd && nlisten > 0) {
		warnx("-i and -l are exclusive");
		usage();
	}

	/* Fds 0-2 must be open, or a pipe could land on one of them. */
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1 && fd <= 2)
		fcntl(fd, F_SETFD, 0);
	if (fd > 2)
		close(fd);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	mx.selfdir = selfdir();
	/*
	 * The user to serve as, known before anything starts.  Not nobody:
	 * the sandboxes' payloads run as the host's nobody, and muxd must
	 * share nothing with them.
	 */
	if (geteuid() == 0) {
		if ((pw = getpwnam(mx.user)) == NULL)
			errx(EXIT_SYSTEM, "user %s does not exist: create it "
			    "(useradd --system --user-group --no-create-home "
			    "%s) or name another with -u", mx.user, mx.user);
		if (pw->pw_uid == 0 || pw->pw_gid == 0 ||
		    strcmp(pw->pw_name, "nobody") == 0)
			errx(EXIT_USAGE, "-u %s: muxd serves as a user of its "
			    "own, neither root nor nobody", mx.user);
		if ((pw = copy_passwd(pw)) == NULL)
			err(EXIT_SYSTEM, "malloc");
	}
	/* The signer's word on its batches, for the metrics (airlock-sign(1)). */
	if (metrics != NULL && setenv("AIRLOCK_SIGN_STATS", "1", 1) == -1)
		err(EXIT_SYSTEM, "setenv");
	spawn_init();
	setup_signals();

	/* Bind first: a port in use is an error before any stage starts. */
	if (!inetd) {
		activation();
		for (ch = 0; ch < nlisten; ch++)
			listen_on(listen[ch]);
		if (nlfds == 0)
			listen_on("127.0.0.1:" MUXD_PORT);
	}
	if (metrics != NULL)
		metrics_on(metrics);
	free(listen);

	if (pipeline_start() == -1) {
		pipeline_stop();
		free_passwd(pw);
		return EXIT_SYSTEM;
	}
	if (pw != NULL)
		drop(pw);
	free_passwd(pw);
	pw = NULL;
	if (inetd) {
		setnonblock(0);
		setnonblock(1);
		if ((c = conn_new(0, 1, issocket(0) && issocket(1),
		    "stdin")) == NULL)
			err(EXIT_SYSTEM, "calloc");
	}
	for (ch = 0; ch < nlfds; ch++) {
		char name[64];

		sockname(lfds[ch], 0, name, sizeof(name));
		log_info("listening on %s", name);
	}
	for (ch = 0; ch < nmlfds; ch++) {
		char name[64];

		sockname(mlfds[ch], 0, name, sizeof(name));
		log_info("metrics on %s", name);
	}
	log_info("ready: %d stages, %s", mx.nstages, inetd ? "inetd mode" :
	    "accepting");
	serve(inetd);
	log_info("done: %llu frames in, %llu tokens out, %llu unsigned, "
	    "%llu connections refused", (unsigned long long)mx.frames_in,
	    (unsigned long long)mx.tokens_out,
	    (unsigned long long)mx.unsigned_out,
	    (unsigned long long)mx.refused);
	return mx.fatal ? EXIT_SYSTEM : EXIT_OK;
}
