/*
 * Metrics: what muxd sees, in the Prometheus text exposition format, on an
 * address of its own (-M, loopback only; airlock-muxd(8), METRICS lists
 * the series).  Its HTTP side serves GET /metrics and nothing else, to a
 * few connections at a time, each with a small request and a deadline, so
 * that it cannot become a way to make muxd hold anything without limit.
 * Every label set is bounded: intents by the table's patterns (what a
 * routed record names), and at most INTENTS_MAX of them.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "muxd.h"
#include "record.h"

#define MCONN_MAX	8		/* scrapes at once */
#define MREQ_MAX	4096		/* a request's head */
#define MCONN_US	5000000		/* a scrape's whole time */
#define INTENTS_MAX	64
#define NSTATUS		16		/* the verdict table's, and "other" */

/* Latency buckets, seconds: from a cached run to the frame deadline. */
static const double time_le[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10, 30, 60, 300,
};
#define NTIME	(sizeof(time_le) / sizeof(time_le[0]))
/* Signer batches: one record to the signer's cap of 256. */
static const double batch_le[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
#define NBATCH	(sizeof(batch_le) / sizeof(batch_le[0]))

struct hist {
	uint64_t	 b[NTIME + 1];	/* per bucket, not cumulative */
	uint64_t	 n;
	double		 sum;
};

struct ilabel {
	char		 name[96];
	uint64_t	 frames[NSTATUS];
	uint64_t	 pool_hit, pool_cold;
};

struct mconn {
	int		 fd;
	char		 req[MREQ_MAX];
	size_t		 reqlen;
	char		*out;
	size_t		 outlen, outoff;
	uint64_t	 deadline;
	int		 dead;
	LIST_ENTRY(mconn) link;
};

static struct ilabel	 intents[INTENTS_MAX + 1];	/* last: "other" */
static size_t		 nintents;
static struct hist	 frame_time;
static struct hist	 stage_time[MUXD_MAX_STAGES];
static struct hist	 batch_size, sync_time;
static LIST_HEAD(, mconn) mconns = LIST_HEAD_INITIALIZER(mconns);
static int		 nmconns;


static void
observe(struct hist *h, const double *le, size_t nle, double v)
{
	size_t i;

	for (i = 0; i < nle && v > le[i]; i++)
		;
	h->b[i]++;
	h->n++;
	h->sum += v;
}

/* The label for an intent table pattern; "none" when nothing matched. */
static struct ilabel *
ilabel(const char *pattern)
{
	size_t i;

	if (pattern == NULL || *pattern == '\0' ||
	    strlen(pattern) >= sizeof(intents[0].name))
		pattern = "none";
	for (i = 0; i < nintents; i++)
		if (strcmp(intents[i].name, pattern) == 0)
			return &intents[i];
	if (nintents == INTENTS_MAX) {
		snprintf(intents[INTENTS_MAX].name, sizeof(intents[0].name),
		    "other");
		return &intents[INTENTS_MAX];
	}
	snprintf(intents[nintents].name, sizeof(intents[0].name), "%s",
	    pattern);
	return &intents[nintents++];
}

static int
status_slot(int status)
{
	int i = verdict_index(status);

	return i >= 0 && i < NSTATUS - 1 ? i : NSTATUS - 1;
}

/*
 * A frame answered: rec is its signed record (NULL if unsigned), t0 when
 * the frame was complete.
 */
void
metrics_frame(json_t *rec, int status, uint64_t t0)
{
	struct ilabel *l;
	const char *pool;
	json_t *sign;

	l = ilabel(json_string_value(json_object_get(json_object_get(rec,
	    "route"), "pattern")));
	l->frames[status_slot(status)]++;
	pool = json_string_value(json_object_get(json_object_get(rec, "wake"),
	    "pool"));
	if (pool != NULL && strcmp(pool, "hit") == 0)
		l->pool_hit++;
	else if (pool != NULL && strcmp(pool, "cold") == 0)
		l->pool_cold++;
	observe(&frame_time, time_le, NTIME, (double)(now_us() - t0) / 1e6);
	/*
	 * The signer's word on its batch, once per batch (AIRLOCK_SIGN_STATS),
	 * and on its sync when the batch needed one: under a lease most do
	 * not, and a sync that did not happen has no duration.
	 */
	sign = json_object_get(rec, "sign");
	if (json_is_integer(json_object_get(sign, "batch_index")) &&
	    json_integer_value(json_object_get(sign, "batch_index")) == 0 &&
	    json_is_integer(json_object_get(sign, "batch")) &&
	    json_is_integer(json_object_get(sign, "sync_us"))) {
		observe(&batch_size, batch_le, NBATCH, (double)
		    json_integer_value(json_object_get(sign, "batch")));
		if (!json_is_false(json_object_get(sign, "synced")))
			observe(&sync_time, time_le, NTIME, (double)
			    json_integer_value(json_object_get(sign,
			    "sync_us")) / 1e6);
	}
}

/* A stage gave back a frame it got us after us microseconds. */
void
metrics_stage(int stage, uint64_t us)
{
	if (stage >= 0 && stage < MUXD_MAX_STAGES)
		observe(&stage_time[stage], time_le, NTIME, (double)us / 1e6);
}

/* The text, grown as needed; the whole exposition is a few KiB. */
struct text {
	char	*p;
	size_t	 len, cap;
};

static void	put(struct text *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap ? 2 * t->cap + (size_t)n : 65536;
		if ((t->p = realloc(t->p, t->cap)) == NULL) {
			t->len = t->cap = 0;
			return;
		}
	}
}

/* A label value, escaped as the text format says. */
static const char *
esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else
			buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

static void
head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
histogram(struct text *t, const char *name, const char *labels,
    const struct hist *h, const double *le, size_t nle)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < nle; i++) {
		cum += h->b[i];
		put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		    *labels ? "," : "", le[i], (unsigned long long)cum);
	}
	cum += h->b[nle];
	put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    *labels ? "," : "", (unsigned long long)cum);
	put(t, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", h->sum);
	put(t, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", (unsigned long long)h->n);
}

static void
single(struct text *t, const char *name, const char *type, const char *help,
    uint64_t v)
{
	head(t, name, type, help);
	put(t, "%s %llu\n", name, (unsigned long long)v);
}

static char *
render(size_t *lenp)
{
	struct text t = { NULL, 0, 0 };
	const struct ilabel *l;
	char e[256], lab[320];
	size_t i, s;

	head(&t, "airlock_frames_total", "counter",
	    "Frames answered, by the intent table pattern they matched "
	    "(none: no row) and verdict status.");
	for (i = 0; i <= INTENTS_MAX; i++) {
		if (i == nintents)
			i = INTENTS_MAX;	/* then "other", if used */
		l = &intents[i];
		if (l->name[0] == '\0')
			continue;
		for (s = 0; s < NSTATUS; s++) {
			if (l->frames[s] == 0)
				continue;
			if (s < verdict_count && s < NSTATUS - 1)
				snprintf(lab, sizeof(lab), "%d",
				    verdict_table[s].status);
			else
				snprintf(lab, sizeof(lab), "other");
			put(&t, "airlock_frames_total{intent=\"%s\","
			    "status=\"%s\"} %llu\n", esc(l->name, e, sizeof(e)),
			    lab, (unsigned long long)l->frames[s]);
		}
	}
	head(&t, "airlock_pool_wakes_total", "counter",
	    "Sandboxes woken, by intent pattern: from the warm pool (hit) or "
	    "on demand (cold, a pool miss).");
	for (i = 0; i < nintents; i++) {
		l = &intents[i];
		if (l->pool_hit + l->pool_cold == 0)
			continue;
		put(&t, "airlock_pool_wakes_total{intent=\"%s\",pool=\"hit\"} "
		    "%llu\n", esc(l->name, e, sizeof(e)),
		    (unsigned long long)l->pool_hit);
		put(&t, "airlock_pool_wakes_total{intent=\"%s\",pool=\"cold\"} "
		    "%llu\n", e, (unsigned long long)l->pool_cold);
	}
	head(&t, "airlock_frame_duration_seconds", "histogram",
	    "From a frame's last byte to its answer.");
	histogram(&t, "airlock_frame_duration_seconds", "", &frame_time,
	    time_le, NTIME);
	head(&t, "airlock_stage_duration_seconds", "histogram",
	    "From a frame's record being queued for a stage to that stage's "
	    "record for it.");
	for (i = 0; i < (size_t)mx.nstages; i++) {
		snprintf(lab, sizeof(lab), "stage=\"%zu\",program=\"%s\"", i,
		    esc(mx.stages[i].name, e, sizeof(e)));
		histogram(&t, "airlock_stage_duration_seconds", lab,
		    &stage_time[i], time_le, NTIME);
	}
	head(&t, "airlock_stage_restarts_total", "counter",
	    "Stage processes started again after one died.");
	for (i = 0; i < (size_t)mx.nstages; i++)
		put(&t, "airlock_stage_restarts_total{stage=\"%zu\","
		    "program=\"%s\"} %llu\n", i,
		    esc(mx.stages[i].name, e, sizeof(e)),
		    (unsigned long long)mx.stages[i].restarts);
	head(&t, "airlock_stage_up", "gauge",
	    "1 while the stage has a process taking records.");
	for (i = 0; i < (size_t)mx.nstages; i++)
		put(&t, "airlock_stage_up{stage=\"%zu\",program=\"%s\"} %d\n",
		    i, esc(mx.stages[i].name, e, sizeof(e)),
		    mx.stages[i].cur != NULL);
	head(&t, "airlock_signer_batch_size", "histogram",
	    "Records the signer signed per chain commit (group commit).");
	histogram(&t, "airlock_signer_batch_size", "", &batch_size,
	    batch_le, NBATCH);
	head(&t, "airlock_signer_sync_duration_seconds", "histogram",
	    "The signer's syncs of its chain state (write and fdatasync).");
	histogram(&t, "airlock_signer_sync_duration_seconds", "", &sync_time,
	    time_le, NTIME);
	single(&t, "airlock_tokens_total", "counter",
	    "Signed tokens answered.", mx.tokens_out);
	single(&t, "airlock_frames_unsigned_total", "counter",
	    "Frames answered 500 without a token (the signer could not sign).",
	    mx.unsigned_out);
	single(&t, "airlock_frames_received_total", "counter",
	    "Frames read from clients.", mx.frames_in);
	single(&t, "airlock_frames_in_flight", "gauge",
	    "Frames in the pipeline proper (against -F).",
	    (uint64_t)mx.nflight);
	single(&t, "airlock_frames_held", "gauge",
	    "Frames muxd holds, answered or not, until their answer is "
	    "written.", (uint64_t)mx.nframes);
	single(&t, "airlock_connections_total", "counter",
	    "Client connections accepted and served.", ms.conns);
	single(&t, "airlock_connections_open", "gauge",
	    "Client connections open.", (uint64_t)mx.nconns);
	single(&t, "airlock_connections_refused_total", "counter",
	    "Client connections refused: over the cap (-c), or draining.",
	    mx.refused);
	single(&t, "airlock_client_received_bytes_total", "counter",
	    "Bytes read from clients.", ms.bytes_in);
	single(&t, "airlock_client_sent_bytes_total", "counter",
	    "Bytes of answers written to clients.", ms.bytes_out);
	single(&t, "airlock_metrics_refused_total", "counter",
	    "Metrics connections refused (over their cap) or answered with "
	    "an error.", ms.mrefused);
	single(&t, "airlock_draining", "gauge",
	    "1 once muxd drains (SIGTERM).", (uint64_t)mx.draining);
	if (t.p == NULL)
		return NULL;
	*lenp = t.len;
	return t.p;
}

static void
respond(struct mconn *c, const char *status, const char *ctype,
    const char *body, size_t len)
{
	struct text t = { NULL, 0, 0 };

	put(&t, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, ctype, len);
	if (t.p == NULL) {
		c->dead = 1;
		return;
	}
	if ((t.p = realloc(t.p, t.len + len)) == NULL) {
		c->dead = 1;
		return;
	}
	memcpy(t.p + t.len, body, len);
	c->out = t.p;
	c->outlen = t.len + len;
	c->outoff = 0;
}

static void
refuse_http(struct mconn *c, const char *status)
{
	char body[128];

	ms.mrefused++;
	snprintf(body, sizeof(body), "%s\n", status);
	respond(c, status, "text/plain; charset=utf-8", body, strlen(body));
}

/*
 * A whole request head: only "GET /metrics HTTP/1.x" is served.  Its
 * headers are not needed, and not read.
 */
static void
request(struct mconn *c)
{
	char *sp, *body;
	size_t len;

	c->req[c->reqlen] = '\0';
	if ((sp = strchr(c->req, ' ')) == NULL) {
		refuse_http(c, "400 Bad Request");
		return;
	}
	*sp = '\0';
	if (strcmp(c->req, "GET") != 0) {
		refuse_http(c, "405 Method Not Allowed");
		return;
	}
	if (strncmp(sp + 1, "/metrics ", 9) != 0 ||
	    strncmp(sp + 10, "HTTP/1.", 7) != 0) {
		refuse_http(c, strncmp(sp + 1, "/", 1) == 0 &&
		    strncmp(sp + 1, "/metrics ", 9) != 0 ?
		    "404 Not Found" : "400 Bad Request");
		return;
	}
	if ((body = render(&len)) == NULL) {
		c->dead = 1;
		return;
	}
	respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
	    len);
	free(body);
}

/* The listening socket is readable: take what the cap allows. */
void
metrics_accept(int lfd)
{
	struct mconn *c;
	int fd, i;

	for (i = 0; i < 16; i++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) == -1)
			return;
		if (nmconns >= MCONN_MAX || (c = calloc(1, sizeof(*c))) ==
		    NULL) {
			ms.mrefused++;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline = now_us() + MCONN_US;
		LIST_INSERT_HEAD(&mconns, c, link);
		nmconns++;
	}
}

void
metrics_io(struct mconn *c, short revents)
{
	char *end;
	ssize_t n;

	if (c->dead)
		return;
	if (c->out == NULL && (revents & (POLLIN | POLLERR | POLLHUP))) {
		n = read(c->fd, c->req + c->reqlen, MREQ_MAX - 1 - c->reqlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			c->dead = 1;
			return;
		}
		c->reqlen += (size_t)n;
		c->req[c->reqlen] = '\0';
		if ((end = strstr(c->req, "\r\n\r\n")) != NULL ||
		    (end = strstr(c->req, "\n\n")) != NULL)
			request(c);
		else if (c->reqlen == MREQ_MAX - 1)
			refuse_http(c, "431 Request Header Fields Too Large");
	}
	while (c->out != NULL && c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			c->dead = 1;
			return;
		}
		c->outoff += (size_t)n;
	}
	if (c->out != NULL && c->outoff == c->outlen)
		c->dead = 1;
}

short
metrics_events(const struct mconn *c)
{
	return c->out != NULL ? POLLOUT : POLLIN;
}

int
metrics_fd(const struct mconn *c)
{
	return c->fd;
}

struct mconn *
metrics_first(void)
{
	return LIST_FIRST(&mconns);
}

struct mconn *
metrics_next(struct mconn *c)
{
	return LIST_NEXT(c, link);
}

/* Done or out of time: closed.  Only here is a connection freed. */
void
metrics_timers(uint64_t now, uint64_t *next)
{
	struct mconn *c, *nc;

	for (c = LIST_FIRST(&mconns); c != NULL; c = nc) {
		nc = LIST_NEXT(c, link);
		if (!c->dead && now < c->deadline) {
			if (c->deadline < *next)
				*next = c->deadline;
			continue;
		}
		LIST_REMOVE(c, link);
		nmconns--;
		close(c->fd);
		free(c->out);
		free(c);
	}
}
