/*
 * Upstream: where frames go.  Either airlock-muxd at an address, one TCP
 * connection per call as a JSON-lines client (the frame, its newline, a
 * half-close, then one answer and end of file), so that calls run side by
 * side, each behind a load balancer on its own; or a private airlock-muxd
 * in inetd mode (-i) on a socket pair, started by airlock-mcp, with every
 * call's frame on that one stream, answers matched by channel_id.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "addr.h"
#include "airlock.h"
#include "jsonl.h"
#include "mcp.h"

struct link {
	int		 fd;
	int		 connecting;
	int		 percall;	/* one call, half-closed after it */
	char		*out;		/* frames not yet written */
	size_t		 outlen, outoff;
	char		*in;		/* answer text not yet a line */
	size_t		 inlen, incap;
	struct callq	 calls;
	int		 dead;
	LIST_ENTRY(link) all;
};

static LIST_HEAD(, link)	 links = LIST_HEAD_INITIALIZER(links);
static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;
static const char		*address;
static const char		*pipeline;	/* private: -P, or NULL */
static int			 private;
static int			 quiet;
static struct link		*priv;		/* the private muxd's stream */
static pid_t			 privpid = -1;
static struct link		**plinks;	/* up_poll's, for up_events */
static size_t			 nplinks;

/* The muxd's address, resolved once. */
static void
resolve(const char *spec)
{
	struct addrinfo *res;
	char why[512];

	if (addr_resolve(spec, 0, &res, why, sizeof(why)) == -1)
		errx(EXIT_USAGE, "%s", why);
	memcpy(&addr, res->ai_addr, res->ai_addrlen);
	addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

void
up_init(const char *a, const char *p, int q)
{
	address = a;
	pipeline = p;
	quiet = q;
	private = a == NULL;
	if (!private)
		resolve(a);
}

static struct link *
link_new(int fd, int percall)
{
	struct link *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->fd = fd;
	l->percall = percall;
	TAILQ_INIT(&l->calls);
	LIST_INSERT_HEAD(&links, l, all);
	return l;
}

static void	link_fail(struct link *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Every call still on l is answered with an error saying why. */
static void
link_fail(struct link *l, const char *fmt, ...)
{
	struct call *c;
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	while ((c = TAILQ_FIRST(&l->calls)) != NULL) {
		TAILQ_REMOVE(&l->calls, c, lq);
		c->link = NULL;
		call_answered(c, tools_error("%s", text));
	}
}

static void
link_close(struct link *l)
{
	if (l->dead)
		return;
	l->dead = 1;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l == priv)
		priv = NULL;
}

static void
link_free(struct link *l)
{
	LIST_REMOVE(l, all);
	free(l->out);
	free(l->in);
	free(l);
}

/* The private airlock-muxd, next to our own executable or in PATH. */
static int
start_private(void)
{
	static char self[PATH_MAX], exe[PATH_MAX + 32];
	const char *argv[12];
	ssize_t n;
	int sv[2], i = 0;
	pid_t parent = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	exe[0] = '\0';
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		snprintf(exe, sizeof(exe), "%s/airlock-muxd", dirname(self));
		if (access(exe, X_OK) != 0)
			exe[0] = '\0';
	}
	argv[i++] = "airlock-muxd";
	argv[i++] = "-i";
	/* One long-lived client: muxd's idle timeout at its longest. */
	argv[i++] = "-t";
	argv[i++] = "86400";
	if (quiet)
		argv[i++] = "-q";
	if (pipeline != NULL) {
		argv[i++] = "-P";
		argv[i++] = pipeline;
	}
	argv[i] = NULL;
	if ((privpid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (privpid == 0) {
		/* It drains and ends when we end, however we end. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
		    getppid() != parent)
			_exit(EXIT_SYSTEM);
		if (dup2(sv[1], 0) == -1 || dup2(sv[1], 1) == -1)
			_exit(EXIT_SYSTEM);
		signal(SIGPIPE, SIG_DFL);
		if (exe[0] != '\0')
			execv(exe, (char **)argv);
		else
			execvp(argv[0], (char **)argv);
		warn("exec airlock-muxd");
		_exit(EXIT_SYSTEM);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	if ((priv = link_new(sv[0], 0)) == NULL) {
		close(sv[0]);
		return -1;
	}
	log_debug("started the private airlock-muxd (pid %d)", (int)privpid);
	return 0;
}

/* The private muxd ended: reap it, so that its successor has its key. */
static void
reap_private(void)
{
	int st;

	if (privpid <= 0)
		return;
	if (waitpid(privpid, &st, 0) == privpid) {
		if (WIFEXITED(st))
			log_info("the private airlock-muxd exited with status "
			    "%d", WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			log_info("the private airlock-muxd was killed by "
			    "signal %d", WTERMSIG(st));
	}
	privpid = -1;
}

static int
append(struct link *l, const char *s, size_t n)
{
	char *p;

	if ((p = realloc(l->out, l->outlen + n)) == NULL)
		return -1;
	memcpy(p + l->outlen, s, n);
	l->out = p;
	l->outlen += n;
	return 0;
}

/*
 * Send c's frame.  Returns 0, or -1 with c answered already (airlock
 * cannot be reached: the frame was not sent, so it has no token).
 */
int
up_send(struct call *c, json_t *frame)
{
	struct link *l;
	char *text;
	int fd, one = 1;

	if ((text = json_dumps(frame, JSON_COMPACT)) == NULL) {
		call_answered(c, tools_error("airlock-mcp: out of memory"));
		return -1;
	}
	if (private) {
		if (priv == NULL && start_private() == -1) {
			call_answered(c, tools_error("airlock-mcp: cannot "
			    "start the private airlock-muxd: %s; the frame was "
			    "not sent and has no token", strerror(errno)));
			free(text);
			return -1;
		}
		l = priv;
	} else {
		fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 || (l = link_new(fd, 1)) == NULL) {
			call_answered(c, tools_error("airlock-mcp: socket: %s",
			    strerror(errno)));
			if (fd != -1)
				close(fd);
			free(text);
			return -1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1) {
			if (errno != EINPROGRESS) {
				call_answered(c, tools_error("airlock-mcp: "
				    "cannot reach airlock-muxd at %s: %s; the "
				    "frame was not sent and has no token",
				    address, strerror(errno)));
				link_close(l);
				free(text);
				return -1;
			}
			l->connecting = 1;
		}
	}
	if (append(l, text, strlen(text)) == -1 || append(l, "\n", 1) == -1) {
		call_answered(c, tools_error("airlock-mcp: out of memory"));
		if (l->percall)
			link_close(l);
		free(text);
		return -1;
	}
	free(text);
	c->link = l;
	TAILQ_INSERT_TAIL(&l->calls, c, lq);
	return 0;
}

/* A call that timed out or was cancelled leaves its link. */
void
up_forget(struct call *c)
{
	struct link *l = c->link;

	if (l == NULL)
		return;
	TAILQ_REMOVE(&l->calls, c, lq);
	c->link = NULL;
	/* Its own connection is of no more use; muxd still signs it. */
	if (l->percall)
		link_close(l);
}

static void
flush(struct link *l)
{
	ssize_t n;
	int e;
	socklen_t len = sizeof(e);

	if (l->connecting) {
		if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
			e = errno;
		if (e != 0) {
			link_fail(l, "airlock-mcp: cannot reach airlock-muxd "
			    "at %s: %s; the frame was not sent and has no "
			    "token", address, strerror(e));
			link_close(l);
			return;
		}
		l->connecting = 0;
	}
	while (l->outoff < l->outlen) {
		n = send(l->fd, l->out + l->outoff, l->outlen - l->outoff,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			link_fail(l, "airlock-mcp: writing to airlock-muxd: "
			    "%s; the frame may not have been read", strerror(
			    errno));
			link_close(l);
			return;
		}
		l->outoff += (size_t)n;
	}
	l->outlen = l->outoff = 0;
	if (l->percall)
		shutdown(l->fd, SHUT_WR);
}

static void
answer(struct link *l, const char *line, size_t len)
{
	struct jsonl_error je;
	struct call *c;
	json_t *ans, *ch;

	if ((ans = jsonl_parse(line, len, &je)) == NULL) {
		log_info("airlock-muxd's answer is not JSON: %s", je.text);
		return;
	}
	ch = json_object_get(ans, "channel_id");
	TAILQ_FOREACH(c, &l->calls, lq)
		if (json_is_integer(ch) &&
		    json_integer_value(ch) == (json_int_t)c->channel)
			break;
	if (c == NULL) {
		log_info("an answer for no call on its way (a call that timed "
		    "out or was cancelled); its token is in the chain");
		json_decref(ans);
		return;
	}
	TAILQ_REMOVE(&l->calls, c, lq);
	c->link = NULL;
	call_answered(c, tools_result(ans));
	json_decref(ans);
}

static void
readlink_(struct link *l)
{
	char buf[65536], *nl, *p;
	size_t start;
	ssize_t n;

	for (;;) {
		n = read(l->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		if (l->inlen + (size_t)n > MCP_ANSWER_MAX) {
			link_fail(l, "airlock-mcp: an answer from airlock-muxd "
			    "over %u bytes; its token is in the chain",
			    MCP_ANSWER_MAX);
			link_close(l);
			return;
		}
		if (l->inlen + (size_t)n > l->incap) {
			l->incap = (l->inlen + (size_t)n) * 2;
			if ((p = realloc(l->in, l->incap)) == NULL)
				err(EXIT_SYSTEM, "realloc");
			l->in = p;
		}
		memcpy(l->in + l->inlen, buf, (size_t)n);
		l->inlen += (size_t)n;
		start = 0;
		while ((nl = memchr(l->in + start, '\n', l->inlen - start)) !=
		    NULL) {
			answer(l, l->in + start, (size_t)(nl - l->in) - start);
			start = (size_t)(nl - l->in) + 1;
		}
		memmove(l->in, l->in + start, l->inlen - start);
		l->inlen -= start;
	}
	/* The end of the stream, or an error. */
	if (l->inlen > 0)
		answer(l, l->in, l->inlen);
	l->inlen = 0;
	if (l == priv) {
		link_fail(l, "airlock-mcp: the private airlock-muxd ended "
		    "before answering (%s); the frame's token, if it was "
		    "signed, is in its chain", n == 0 ? "end of file" :
		    strerror(errno));
		link_close(l);
		reap_private();
		return;
	}
	link_fail(l, "airlock-mcp: airlock-muxd at %s closed the connection "
	    "without an answer: the frame may or may not have run, and if it "
	    "was signed its token is in that host's chain", address);
	link_close(l);
}

void
up_poll(struct pollfd **pfds, size_t *npfd, size_t *cap)
{
	struct link *l, *nl;
	short ev;

	for (l = LIST_FIRST(&links); l != NULL; l = nl) {
		nl = LIST_NEXT(l, all);
		if (l->dead || (l->percall && TAILQ_EMPTY(&l->calls) &&
		    l->outlen == 0)) {
			link_close(l);
			link_free(l);
		}
	}
	nplinks = 0;
	LIST_FOREACH(l, &links, all) {
		ev = POLLIN;
		if (l->connecting || l->outlen > l->outoff)
			ev |= POLLOUT;
		if (*npfd == *cap) {
			*cap = *cap ? 2 * *cap : 16;
			if ((*pfds = reallocarray(*pfds, *cap,
			    sizeof(**pfds))) == NULL)
				err(EXIT_SYSTEM, "reallocarray");
		}
		if ((plinks = reallocarray(plinks, *cap,
		    sizeof(*plinks))) == NULL)
			err(EXIT_SYSTEM, "reallocarray");
		(*pfds)[*npfd].fd = l->fd;
		(*pfds)[*npfd].events = ev;
		(*pfds)[*npfd].revents = 0;
		plinks[nplinks++] = l;
		(*npfd)++;
	}
}

/* pfds: the entries up_poll() added, in its order. */
void
up_events(const struct pollfd *pfds, size_t n)
{
	struct link *l;
	size_t i;

	for (i = 0; i < n && i < nplinks; i++) {
		l = plinks[i];
		if (l->dead || pfds[i].revents == 0)
			continue;
		if (pfds[i].revents & (POLLOUT | POLLERR | POLLHUP))
			if (l->connecting || l->outlen > l->outoff)
				flush(l);
		if (!l->dead && (pfds[i].revents & (POLLIN | POLLERR |
		    POLLHUP)) && !l->connecting)
			readlink_(l);
	}
}

/*
 * The end: the private muxd is told (its input ends), answers what it
 * holds, signs it, and exits; it is waited for.
 */
void
up_close(void)
{
	struct link *l;

	LIST_FOREACH(l, &links, all)
		link_close(l);
	reap_private();
}
