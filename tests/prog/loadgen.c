/*
 * loadgen: drive airlock-muxd from loopback, for tests and benchmarks.
 *
 *   loadgen [-a addr:port] [-c conns] [-d depth] [-g ms] [-i intent]
 *           [-k kind] [-n frames] [-p payload] [-t seconds]
 *	N connections (-c) for T seconds (-t) or until n frames (-n), each
 *	either an original airlock client (-k single: connect, send one frame
 *	without newline, read the answer to EOF, again) or a JSON-lines
 *	client (-k lines: one connection, up to depth frames in flight, each
 *	answer matched by channel_id).  -g: a single client waits ms after
 *	each answer before it connects again (frames that arrive alone, to an
 *	idle server).  Prints one JSON object: frames,
 *	answers, statuses, frames per second, latency p50/p90/p99/max in µs.
 *
 *   loadgen -S [-a addr:port] [-b bytes] [-T seconds] [-w usec] [-x]
 *	Send standard input to muxd in segments and print what comes back
 *	until EOF.  Segments end at each ASCII RS (0x1e, not sent) and every
 *	-b bytes; -w pauses between segments; -x half-closes after the last.
 *	Exits 0 at EOF, 1 if -T seconds pass first, 2 if the connection is
 *	reset.
 *
 * Loopback only, at most 1000 connections and 600 seconds.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAXCONNS	1000
#define MAXSECONDS	600
#define MAXDEPTH	256

struct client {
	int		 fd;
	int		 connecting;
	char		*out;		/* bytes still to send */
	size_t		 outlen, outoff;
	char		*in;
	size_t		 inlen, incap;
	uint64_t	 t0;		/* single: connect time */
	uint64_t	 next;		/* single with -g: when to connect */
	uint32_t	 chan[MAXDEPTH];	/* lines: in flight */
	uint64_t	 sent[MAXDEPTH];
	int		 nflight;
	uint32_t	 seq;
};

static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;
static const char		*intent = "code:execute";
static char			*payload_json;
static int			 lines_mode;
static int			 depth = 1;
static uint64_t			 gap_us;
static uint32_t			*lat;
static size_t			 nlat, latcap;
static uint64_t			 nsent, nanswers, nerrors, maxframes;
static uint64_t			 statuses[600];

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: loadgen [-a addr:port] [-c conns] [-d depth] "
	    "[-g ms] [-i intent]\n"
	    "               [-k kind] [-n frames] [-p payload] [-t seconds]\n"
	    "       loadgen -S [-a addr:port] [-b bytes] [-T seconds] "
	    "[-w usec] [-x]\n");
	exit(100);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static long long
number(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		errx(100, "not a number from %lld to %lld: %s", min, max, s);
	return v;
}

/* Resolve addr:port or [addr]:port, and refuse anything not loopback. */
static void
resolve(const char *spec)
{
	struct addrinfo hints, *res;
	char host[256], *port;
	int e;

	snprintf(host, sizeof(host), "%s", spec);
	if (host[0] == '[') {
		if ((port = strstr(host, "]:")) == NULL)
			usage();
		*port = '\0';
		port += 2;
		memmove(host, host + 1, strlen(host));
	} else {
		if ((port = strrchr(host, ':')) == NULL)
			usage();
		*port++ = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0)
		errx(100, "%s: %s", spec, gai_strerror(e));
	memcpy(&addr, res->ai_addr, res->ai_addrlen);
	addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (addr.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&addr;

		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			errx(100, "%s: loopback only", spec);
	} else if (addr.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr;

		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			errx(100, "%s: loopback only", spec);
	} else
		errx(100, "%s: not an IP address", spec);
}

static int
dial(void)
{
	int fd, one = 1;

	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		err(111, "socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1 &&
	    errno != EINPROGRESS)
		err(111, "connect");
	return fd;
}

static void
add(char **p, size_t *len, size_t *cap, const void *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		while (*len + n + 1 > *cap)
			*cap = *cap ? *cap * 2 : 4096;
		if ((*p = realloc(*p, *cap)) == NULL)
			err(111, "realloc");
	}
	memcpy(*p + *len, data, n);
	*len += n;
	(*p)[*len] = '\0';
}

static void
latency(uint64_t us)
{
	if (nlat == latcap) {
		latcap = latcap ? latcap * 2 : 65536;
		if ((lat = reallocarray(lat, latcap, sizeof(*lat))) == NULL)
			err(111, "reallocarray");
	}
	lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void
frame(struct client *c, uint32_t chan)
{
	char *s;
	int n;

	n = asprintf(&s, "{\"channel_id\": %u, \"intent\": \"%s\", "
	    "\"from_aint\": \"loadgen.aint\", \"payload\": %s}%s", chan, intent,
	    payload_json, lines_mode ? "\n" : "");
	if (n < 0)
		err(111, "asprintf");
	if (c->outoff == c->outlen)
		c->outlen = c->outoff = 0;
	if ((c->out = realloc(c->out, c->outlen + (size_t)n)) == NULL)
		err(111, "realloc");
	memcpy(c->out + c->outlen, s, (size_t)n);
	c->outlen += (size_t)n;
	free(s);
	nsent++;
}

/* One answer: count its status; in lines mode, find its frame. */
static void
answer(struct client *c, const char *text, size_t len, uint64_t now)
{
	json_error_t je;
	json_t *a;
	json_int_t st = 0, ch = -1;
	int i;

	if ((a = json_loadb(text, len, 0, &je)) == NULL) {
		nerrors++;
		return;
	}
	if (json_is_integer(json_object_get(a, "status")))
		st = json_integer_value(json_object_get(a, "status"));
	if (json_is_integer(json_object_get(a, "channel_id")))
		ch = json_integer_value(json_object_get(a, "channel_id"));
	json_decref(a);
	nanswers++;
	if (st >= 0 && st < 600)
		statuses[st]++;
	if (!lines_mode) {
		latency(now - c->t0);
		return;
	}
	for (i = 0; i < c->nflight; i++)
		if (c->chan[i] == (uint32_t)ch) {
			latency(now - c->sent[i]);
			c->chan[i] = c->chan[c->nflight - 1];
			c->sent[i] = c->sent[c->nflight - 1];
			c->nflight--;
			return;
		}
	nerrors++;
}

static void
restart(struct client *c, int idx, uint64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = dial();
	c->connecting = 1;
	c->inlen = 0;
	c->outlen = c->outoff = 0;
	c->t0 = now;
	c->nflight = 0;
	if (!lines_mode)
		frame(c, (uint32_t)idx * 4000000u + (c->seq++ % 4000000u));
}

static int
cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t
pct(double p)
{
	size_t i;

	if (nlat == 0)
		return 0;
	i = (size_t)(p * (double)(nlat - 1) + 0.5);
	return lat[i];
}

static int
load(int nconns, int seconds)
{
	struct client *cl;
	struct pollfd *pfd;
	uint64_t start, end, now;
	json_t *out, *st;
	char *nl, key[16];
	ssize_t n;
	int i, s, stopping = 0, active, timeout;

	if ((cl = calloc((size_t)nconns, sizeof(*cl))) == NULL ||
	    (pfd = calloc((size_t)nconns, sizeof(*pfd))) == NULL)
		err(111, "calloc");
	start = now_us();
	end = start + (uint64_t)seconds * 1000000;
	for (i = 0; i < nconns; i++) {
		cl[i].fd = -1;
		restart(&cl[i], i, start);
	}
	for (;;) {
		now = now_us();
		if (now >= end || (maxframes && nsent >= maxframes))
			stopping = 1;
		active = 0;
		timeout = 100;
		for (i = 0; i < nconns; i++) {
			struct client *c = &cl[i];

			/* -g: an idle single client's next frame, when due. */
			if (c->fd < 0 && c->next != 0 && !stopping) {
				if (now >= c->next) {
					c->next = 0;
					restart(c, i, now);
				} else if ((c->next - now) / 1000 <
				    (uint64_t)timeout)
					timeout = (int)((c->next - now) /
					    1000);
				if (c->fd < 0)
					active++;
			}

			if (lines_mode && !stopping && !c->connecting)
				while (c->nflight < depth &&
				    (!maxframes || nsent < maxframes)) {
					uint32_t ch = (uint32_t)i * 4000000u +
					    (c->seq++ % 4000000u);

					c->chan[c->nflight] = ch;
					c->sent[c->nflight++] = now;
					frame(c, ch);
				}
			/* Stopping: a lines client goes once it is answered. */
			if (lines_mode && stopping && c->fd >= 0 &&
			    c->nflight == 0) {
				close(c->fd);
				c->fd = -1;
			}
			pfd[i].fd = c->fd;
			pfd[i].events = POLLIN;
			if (c->connecting || c->outoff < c->outlen)
				pfd[i].events |= POLLOUT;
			if (c->fd >= 0)
				active++;
		}
		if (stopping && active == 0)
			break;
		if (stopping && now >= end + 10000000)
			break;		/* answers owed for too long */
		if (poll(pfd, (nfds_t)nconns, timeout) == -1) {
			if (errno == EINTR)
				continue;
			err(111, "poll");
		}
		now = now_us();
		for (i = 0; i < nconns; i++) {
			struct client *c = &cl[i];
			char buf[65536];

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (c->connecting && (pfd[i].revents & (POLLOUT |
			    POLLERR | POLLHUP))) {
				socklen_t sl = sizeof(s);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &s,
				    &sl);
				if (s != 0) {
					nerrors++;
					if (stopping) {
						close(c->fd);
						c->fd = -1;
					} else
						restart(c, i, now);
					continue;
				}
				c->connecting = 0;
			}
			if ((pfd[i].revents & POLLOUT) && c->outoff < c->outlen) {
				n = send(c->fd, c->out + c->outoff,
				    c->outlen - c->outoff, MSG_NOSIGNAL);
				if (n > 0)
					c->outoff += (size_t)n;
			}
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(c->fd, buf, sizeof(buf));
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n <= 0) {
				/* Single: EOF ends the answer. */
				if (!lines_mode && n == 0 && c->inlen > 0)
					answer(c, c->in, c->inlen, now);
				else
					nerrors++;
				if (stopping) {
					close(c->fd);
					c->fd = -1;
				} else if (gap_us > 0 && !lines_mode) {
					close(c->fd);
					c->fd = -1;
					c->next = now + gap_us;
				} else
					restart(c, i, now);
				continue;
			}
			add(&c->in, &c->inlen, &c->incap, buf, (size_t)n);
			while (lines_mode &&
			    (nl = memchr(c->in, '\n', c->inlen)) != NULL) {
				answer(c, c->in, (size_t)(nl - c->in), now);
				c->inlen -= (size_t)(nl - c->in) + 1;
				memmove(c->in, nl + 1, c->inlen);
			}
		}
	}
	now = now_us();
	qsort(lat, nlat, sizeof(*lat), cmp);
	st = json_object();
	for (s = 0; s < 600; s++)
		if (statuses[s] > 0) {
			snprintf(key, sizeof(key), "%d", s);
			json_object_set_new(st, key,
			    json_integer((json_int_t)statuses[s]));
		}
	out = json_pack("{s:s, s:i, s:i, s:f, s:I, s:I, s:I, s:o, s:f, "
	    "s:{s:I, s:I, s:I, s:I}}",
	    "kind", lines_mode ? "lines" : "single",
	    "connections", nconns,
	    "depth", lines_mode ? depth : 1,
	    "seconds", (double)(now - start) / 1e6,
	    "frames", (json_int_t)nsent,
	    "answers", (json_int_t)nanswers,
	    "errors", (json_int_t)nerrors,
	    "status", st,
	    "fps", (double)nanswers / ((double)(now - start) / 1e6),
	    "latency_us", "p50", (json_int_t)pct(0.50),
	    "p90", (json_int_t)pct(0.90), "p99", (json_int_t)pct(0.99),
	    "max", (json_int_t)(nlat ? lat[nlat - 1] : 0));
	if (out == NULL)
		errx(111, "json_pack");
	json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	putchar('\n');
	json_decref(out);
	for (i = 0; i < nconns; i++) {
		if (cl[i].fd >= 0)
			close(cl[i].fd);
		free(cl[i].out);
		free(cl[i].in);
	}
	free(cl);
	free(pfd);
	free(lat);
	return 0;
}

/* -S: send stdin in segments, print the answer bytes until EOF. */
static int
sendmode(size_t chunk, uint64_t pause, int halfclose, int seconds)
{
	struct pollfd p;
	char *data = NULL, buf[65536];
	size_t len = 0, cap = 0, off = 0, seg;
	uint64_t end, next = 0;
	ssize_t n;
	int fd, fl, sent_all = 0;

	while ((n = read(0, buf, sizeof(buf))) > 0)
		add(&data, &len, &cap, buf, (size_t)n);
	fd = dial();
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 5000) != 1)
		errx(111, "connect: timed out");
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	end = now_us() + (uint64_t)seconds * 1000000;
	for (;;) {
		uint64_t now = now_us();
		int timeout;

		if (now >= end)
			return 1;
		if (!sent_all && now >= next) {
			if (off < len && data[off] == 0x1e)
				off++;
			seg = len - off;
			if (chunk > 0 && seg > chunk)
				seg = chunk;
			{
				char *rs = memchr(data + off, 0x1e, seg);

				if (rs != NULL)
					seg = (size_t)(rs - (data + off));
			}
			if (seg > 0 && send(fd, data + off, seg,
			    MSG_NOSIGNAL) != (ssize_t)seg) {
				warn("send");
				return 2;
			}
			off += seg;
			if (off < len && data[off] == 0x1e)
				off++;
			if (off >= len) {
				sent_all = 1;
				if (halfclose)
					shutdown(fd, SHUT_WR);
			}
			next = now + pause;
		}
		timeout = sent_all ? (int)((end - now) / 1000) + 1 :
		    (int)(next > now ? (next - now) / 1000 : 0);
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, timeout) == 1) {
			n = read(fd, buf, sizeof(buf));
			if (n < 0) {
				warn("read");
				return 2;
			}
			if (n == 0)
				break;
			fwrite(buf, 1, (size_t)n, stdout);
			fflush(stdout);
		}
	}
	close(fd);
	free(data);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *payload = "print('hello world')";
	size_t chunk = 0;
	uint64_t pause = 0;
	int ch, conns = 1, seconds = 5, sendflag = 0, halfclose = 0,
	    timeout = 10;
	json_t *p;

	resolve("127.0.0.1:4430");
	while ((ch = getopt(argc, argv, "a:b:c:d:g:i:k:n:p:ST:t:w:x")) != -1) {
		switch (ch) {
		case 'a':
			resolve(optarg);
			break;
		case 'b':
			chunk = (size_t)number(optarg, 1, 1 << 30);
			break;
		case 'c':
			conns = (int)number(optarg, 1, MAXCONNS);
			break;
		case 'd':
			depth = (int)number(optarg, 1, MAXDEPTH);
			break;
		case 'g':
			gap_us = (uint64_t)number(optarg, 0, 60000) * 1000;
			break;
		case 'i':
			intent = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "lines") == 0)
				lines_mode = 1;
			else if (strcmp(optarg, "single") != 0)
				usage();
			break;
		case 'n':
			maxframes = (uint64_t)number(optarg, 1, 1000000000);
			break;
		case 'p':
			payload = optarg;
			break;
		case 'S':
			sendflag = 1;
			break;
		case 'T':
			timeout = (int)number(optarg, 1, MAXSECONDS);
			break;
		case 't':
			seconds = (int)number(optarg, 1, MAXSECONDS);
			break;
		case 'w':
			pause = (uint64_t)number(optarg, 0, 10000000);
			break;
		case 'x':
			halfclose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (sendflag)
		return sendmode(chunk, pause, halfclose, timeout);
	if (strpbrk(intent, "\"\\") != NULL)
		errx(100, "intent must not need escaping");
	if ((p = json_string(payload)) == NULL ||
	    (payload_json = json_dumps(p, JSON_ENCODE_ANY)) == NULL)
		errx(100, "payload must be UTF-8");
	json_decref(p);
	return load(conns, seconds);
}
