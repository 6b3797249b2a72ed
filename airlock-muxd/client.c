/*
 * Client connections: reading frames, telling the two kinds of client
 * apart, writing answers.  Everything a client sends is untrusted; the
 * only things done with its bytes here are finding where a frame ends
 * (a scanner that tracks strings and escapes, nothing more) and handing the
 * frame to frame_dispatch(), which parses it fail-closed.
 *
 * The rule (airlock-muxd(8), CLIENTS): if the first JSON value on a
 * connection is followed by a newline, the connection speaks JSON lines;
 * if nothing follows it by the time its answer is ready (or the client
 * half-closes, or sends anything else), it is an original airlock client
 * and gets one pretty-printed answer, then EOF.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "muxd.h"
#include "trace.h"

#define READ_CHUNK	(256 * 1024)
/* The most one step of writing an answer puts past the cap (-o). */
#define OUT_PIECE_MAX	256

static int
isblank_json(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int
has_data(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isblank_json(p[i]))
			return 1;
	return 0;
}

struct conn *
conn_new(int rfd, int wfd, int issock, const char *peer)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->rfd = rfd;
	c->wfd = wfd;
	c->issock = issock;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->last_io = now_us();
	TAILQ_INIT(&c->answers);
	/* A frame and one read; the cap and one piece of an answer. */
	c->in.max = mx.frame_max + READ_CHUNK + 1;
	c->out.max = mx.out_max + OUT_PIECE_MAX;
	LIST_INSERT_HEAD(&mx.conns, c, link);
	mx.nconns++;
	log_debug("%s: connected (%d open)", c->peer, mx.nconns);
	return c;
}

/*
 * The client is gone, or we are done with it.  Its frames still run and
 * still get their tokens; only their answers have nowhere to go, and the
 * answers not yet written are dropped.  The struct itself is freed by
 * conn_free() at the end of the loop iteration, so no caller is left
 * holding a dangling pointer.
 */
static void
conn_gone(struct conn *c)
{
	struct frame *f;

	if (c->dead)
		return;
	c->dead = 1;
	LIST_FOREACH(f, &mx.frames, link)
		if (f->conn == c)
			f->conn = NULL;
	while ((f = TAILQ_FIRST(&c->answers)) != NULL) {
		TAILQ_REMOVE(&c->answers, f, aq);
		frame_free(f);
	}
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	c->rfd = c->wfd = -1;
	log_debug("%s: closed", c->peer);
}

/* A reset or hangup seen while not reading: nobody left to answer. */
void
conn_hangup(struct conn *c)
{
	log_debug("%s: hung up", c->peer);
	conn_gone(c);
}

void
conn_free(struct conn *c)
{
	conn_gone(c);
	LIST_REMOVE(c, link);
	mx.nconns--;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/*
 * Draining, a connection ends once it is quiet: no frame half read and
 * nothing received that muxd has not read yet (whatever reached muxd
 * before it ends the connection is a frame it answers).
 */
static int
quiet(const struct conn *c)
{
	int n;

	if (c->frame_t0 != 0 || c->discarding || has_data(c->in.p, c->in.len))
		return 0;
	return ioctl(c->rfd, FIONREAD, &n) != 0 || n == 0;
}

/*
 * Close once everything is answered.  The write side is shut first and the
 * read side drained until the client's EOF: closing a socket with unread
 * input makes the kernel send a reset, which can destroy the answer before
 * the client has read it.
 */
static void
maybe_close(struct conn *c)
{
	int done;

	if (c->dead || c->closing || c->outoff < c->out.len ||
	    c->nframes > 0 || !TAILQ_EMPTY(&c->answers))
		return;
	done = c->rdeof || c->stopread ||
	    (c->mode == MODE_SINGLE && c->first_done) ||
	    (mx.draining && quiet(c));
	if (!done)
		return;
	if (c->rdeof) {
		conn_gone(c);
		return;
	}
	if (c->issock)
		shutdown(c->wfd, SHUT_WR);
	else if (c->wfd != c->rfd) {
		close(c->wfd);
		c->wfd = -1;
	}
	c->closing = 1;
	c->stopread = 1;
	c->linger_until = now_us() + MUXD_LINGER_US;
}

static size_t
unsent(const struct conn *c)
{
	return c->out.len - c->outoff;
}

/*
 * Answer text into the output buffer while it holds less than the cap
 * (-o): the rest of an answer waits as the answer (its record's parts),
 * which is smaller than its text.  A frame is done, and freed, once all of
 * its answer is in the buffer.
 */
static void
fill(struct conn *c)
{
	struct frame *f;
	int done;

	if (c->mode == MODE_UNKNOWN)
		return;		/* the format is not known yet */
	while (!c->dead && (f = TAILQ_FIRST(&c->answers)) != NULL &&
	    unsent(c) < mx.out_max) {
		if (c->outoff > 0) {
			buf_consume(&c->out, c->outoff);
			c->outoff = 0;
		}
		if (c->out.len == 0)
			c->last_write = now_us();	/* the clock starts */
		done = answer_write(f->ans, c->mode == MODE_SINGLE, &c->out,
		    mx.out_max - unsent(c));
		if (done) {
			trace_event(f->id, "muxd.out");
			TAILQ_REMOVE(&c->answers, f, aq);
			frame_free(f);
		}
	}
}

void
conn_write(struct conn *c)
{
	ssize_t n;

	for (;;) {
		fill(c);
		if (c->dead || unsent(c) == 0)
			break;
		if (c->issock)
			n = send(c->wfd, c->out.p + c->outoff, unsent(c),
			    MSG_NOSIGNAL);
		else
			n = write(c->wfd, c->out.p + c->outoff, unsent(c));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_debug("%s: write: %s", c->peer, strerror(errno));
			conn_gone(c);
			return;
		}
		c->outoff += (size_t)n;
		ms.bytes_out += (uint64_t)n;
		c->last_io = c->last_write = now_us();
	}
	if (c->dead)
		return;
	c->out.len = c->outoff = 0;
	if (c->out.cap > 64 * 1024)
		buf_free(&c->out);
	maybe_close(c);
}

static void
setmode(struct conn *c, enum conn_mode m)
{
	c->mode = m;
	if (m == MODE_SINGLE)
		c->stopread = 1;
	log_debug("%s: %s client", c->peer, m == MODE_SINGLE ?
	    "single-frame" : "JSON-lines");
	conn_write(c);		/* an answer held for the mode */
}

/*
 * The answer to one of c's frames (f->ans): it waits to be written, and f
 * is freed once it is.  While the mode is undecided this can only be the
 * first frame's: if nothing followed that frame, the client is an original
 * one, unless its frame dribbled in over several reads, in which case its
 * newline gets a short grace to arrive.
 */
void
conn_answer(struct conn *c, struct frame *f)
{
	TAILQ_INSERT_TAIL(&c->answers, f, aq);
	if (c->mode == MODE_UNKNOWN) {
		if (c->dribbled && !c->rdeof &&
		    now_us() < c->first_at + MUXD_MODE_GRACE_US)
			return;
		setmode(c, MODE_SINGLE);
		return;
	}
	conn_write(c);
}

void
conn_frame_done(struct conn *c, int inflight)
{
	c->nframes--;
	if (inflight)
		c->nflight--;
	if (!c->dead)
		maybe_close(c);
}

/* A frame muxd refuses before it has a parse: too long or incomplete. */
static void
refuse(struct conn *c, const char *text, size_t len, const char *error,
    const char *reason)
{
	struct frame *f;

	if ((f = frame_new(c)) == NULL)
		return;
	frame_reject(f, text, len, NULL, 400, error, reason);
}

static void
toolong(struct conn *c, size_t len)
{
	char reason[128];

	snprintf(reason, sizeof(reason), "frame longer than %zu bytes",
	    mx.frame_max);
	refuse(c, NULL, len, "too_long", reason);
}

/*
 * Whether muxd takes another frame from c now: not while the client has
 * the cap (-o) of answer text unread, four times -f frames unanswered, or
 * all clients four times -F.  Frames over the in-flight caps are answered
 * 503 at once; this bounds what clients can make muxd hold meanwhile
 * (airlock-muxd(8), MEMORY).  A frame that stays unread waits in the
 * client's buffer, and muxd reads no more from it until it is taken.
 */
static int
can_take(const struct conn *c)
{
	return unsent(c) < mx.out_max &&
	    c->nframes < 4 * mx.conn_flight_max &&
	    mx.nframes < 4 * mx.flight_max;
}

/*
 * The first frame.  One that opens with { or [ ends where its brackets
 * balance, whatever follows, so an original client that sends no newline
 * is served at once.  Anything else cannot be a frame; it runs to the end
 * of its line and is refused with the parser's precise error.  Returns 1
 * when a frame was consumed.
 */
static int
first_frame(struct conn *c)
{
	char *p = c->in.p, *nl;
	size_t i, end = 0, len;

	if (!can_take(c))
		return 0;
	if (!c->started) {
		for (i = 0; i < c->in.len && isblank_json(p[i]); i++)
			;
		buf_consume(&c->in, i);
		c->scan = 0;
		if (c->in.len == 0)
			return 0;
		c->started = 1;
		c->reads = 1;
		c->frame_t0 = now_us();
		c->isvalue = p[0] == '{' || p[0] == '[';
	}
	if (!c->isvalue) {
		if ((nl = memchr(p + c->scan, '\n', c->in.len - c->scan)) ==
		    NULL) {
			c->scan = c->in.len;
			goto partial;
		}
		len = (size_t)(nl - p);
		c->first_done = 1;
		c->first_at = now_us();
		c->frame_t0 = 0;
		setmode(c, MODE_LINES);
		frame_dispatch(c, p, len > 0 && p[len - 1] == '\r' ? len - 1 :
		    len);
		buf_consume(&c->in, len + 1);
		c->scan = 0;
		return 1;
	}
	for (i = c->scan; i < c->in.len && end == 0; i++) {
		if (c->instr) {
			if (c->esc)
				c->esc = 0;
			else if (p[i] == '\\')
				c->esc = 1;
			else if (p[i] == '"')
				c->instr = 0;
		} else if (p[i] == '"')
			c->instr = 1;
		else if (p[i] == '{' || p[i] == '[')
			c->depth++;
		else if ((p[i] == '}' || p[i] == ']') && --c->depth == 0)
			end = i + 1;
	}
	c->scan = i;
	if (end == 0)
		goto partial;
	c->first_done = 1;
	c->first_at = now_us();
	c->dribbled = c->reads > 1;
	c->frame_t0 = 0;
	if (end > mx.frame_max) {
		toolong(c, end);
		setmode(c, MODE_SINGLE);
	} else
		frame_dispatch(c, p, end);
	buf_consume(&c->in, end);
	c->scan = 0;
	return 1;
partial:
	if (c->in.len > mx.frame_max) {
		/* No resynchronising inside an endless value: one answer. */
		c->first_done = 1;
		c->frame_t0 = 0;
		toolong(c, c->in.len);
		setmode(c, MODE_SINGLE);
	}
	return 0;
}

/*
 * After the first frame: a newline means JSON lines; anything else not.
 * The blanks before it carry nothing and are not kept, or a client could
 * fill muxd with them while its first frame runs.
 */
static int
classify(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->in.len; i++) {
		switch (c->in.p[i]) {
		case ' ':
		case '\t':
		case '\r':
			continue;
		case '\n':
			buf_consume(&c->in, i + 1);
			setmode(c, MODE_LINES);
			return 1;
		default:
			buf_consume(&c->in, i);
			log_debug("%s: bytes after the first frame, no newline",
			    c->peer);
			setmode(c, MODE_SINGLE);
			return 1;
		}
	}
	c->in.len = 0;
	return 0;
}

/* JSON-lines mode: each line is a frame; blank lines carry nothing. */
static void
lines(struct conn *c)
{
	char *p, *nl;
	size_t len, l;

	while (!c->dead) {
		p = c->in.p;
		if (c->discarding) {
			if ((nl = memchr(p, '\n', c->in.len)) == NULL) {
				c->in.len = 0;
				return;
			}
			buf_consume(&c->in, (size_t)(nl - p) + 1);
			c->discarding = 0;
			c->frame_t0 = 0;
			c->scan = 0;
			continue;
		}
		if ((nl = memchr(p + c->scan, '\n', c->in.len - c->scan)) ==
		    NULL) {
			c->scan = c->in.len;
			if (c->in.len > mx.frame_max) {
				if (!can_take(c))
					return;
				toolong(c, c->in.len);
				/*
				 * The rest of the line is skipped, but it is
				 * held to the read timeout like a frame, or a
				 * line that never ends would hold the
				 * connection forever.
				 */
				c->discarding = 1;
				c->frame_t0 = now_us();
				c->in.len = c->scan = 0;
			} else if (c->frame_t0 == 0 && has_data(p, c->in.len))
				c->frame_t0 = now_us();
			return;
		}
		len = (size_t)(nl - p);
		l = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
		if ((l > mx.frame_max || has_data(p, l)) && !can_take(c)) {
			c->scan = len;		/* it waits, found */
			return;
		}
		if (l > mx.frame_max)
			toolong(c, l);
		else if (has_data(p, l))
			frame_dispatch(c, p, l);
		buf_consume(&c->in, len + 1);
		c->scan = 0;
		c->frame_t0 = 0;
	}
}

static void
parse(struct conn *c)
{
	while (!c->dead) {
		if (c->stopread) {
			c->in.len = c->scan = 0;
			c->frame_t0 = 0;
			return;
		}
		if (!c->first_done) {
			if (!first_frame(c))
				return;
		} else if (c->mode == MODE_UNKNOWN) {
			if (!classify(c))
				return;
		} else {
			lines(c);
			return;
		}
	}
}

/* The client half-closed (or closed): what it left unfinished. */
static void
eof(struct conn *c)
{
	char reason[160];

	c->rdeof = 1;
	if (c->closing) {
		conn_gone(c);
		return;
	}
	if (!c->stopread && !c->first_done && c->started) {
		c->first_done = 1;
		if (c->isvalue) {
			snprintf(reason, sizeof(reason), "incomplete frame: "
			    "the client closed after %zu bytes", c->in.len);
			refuse(c, c->in.p, c->in.len, "incomplete_frame",
			    reason);
		} else
			frame_dispatch(c, c->in.p, c->in.len);
		setmode(c, MODE_SINGLE);
	} else if (!c->stopread && c->first_done && c->mode == MODE_UNKNOWN)
		setmode(c, MODE_SINGLE);
	else if (!c->stopread && c->mode == MODE_LINES && !c->discarding &&
	    has_data(c->in.p, c->in.len)) {
		/* A last line without its newline is still a line. */
		if (c->in.len > mx.frame_max)
			toolong(c, c->in.len);
		else
			frame_dispatch(c, c->in.p, c->in.len);
	}
	c->in.len = c->scan = 0;
	c->frame_t0 = 0;
	c->stopread = 1;
	maybe_close(c);
}

void
conn_read(struct conn *c)
{
	/* One buffer for every read; a connection keeps only what it needs. */
	static char rbuf[READ_CHUNK];
	ssize_t n;

	if (c->dead)
		return;
	do
		n = read(c->rfd, rbuf, sizeof(rbuf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		log_debug("%s: read: %s", c->peer, strerror(errno));
		conn_gone(c);
		return;
	}
	if (n == 0) {
		eof(c);
		return;
	}
	ms.bytes_in += (uint64_t)n;
	if (c->closing || c->stopread)
		return;		/* draining towards EOF, or ignoring */
	/*
	 * Only bytes of a frame are activity for the idle timeout: blanks
	 * start no frame, so a client that sends one now and then would
	 * otherwise hold its connection forever.
	 */
	if (has_data(rbuf, (size_t)n))
		c->last_io = now_us();
	buf_add(&c->in, rbuf, (size_t)n);
	if (c->started && !c->first_done)
		c->reads++;
	parse(c);
	/* Keep the buffer small once the frames in it are consumed. */
	if (c->in.len == 0 && c->in.cap > 64 * 1024)
		buf_free(&c->in);
	if (mx.draining)
		maybe_close(c);
}

/* Backpressure: see can_take(). */
int
conn_wants_read(const struct conn *c)
{
	if (c->dead || c->rdeof)
		return 0;
	if (c->closing || c->stopread)
		return 1;	/* to see EOF */
	return can_take(c);
}

/* Frames left in c's buffer over the caps, once muxd can take them. */
void
conn_resume(struct conn *c)
{
	if (c->dead || c->closing || c->stopread || c->in.len == 0 ||
	    !can_take(c))
		return;
	parse(c);
	if (mx.draining)
		maybe_close(c);
}

int
conn_wants_write(const struct conn *c)
{
	return !c->dead && c->wfd >= 0 && unsent(c) > 0;
}

/*
 * SIGTERM: the connection is still read, and every frame read from now on
 * gets a 503 (frame_dispatch); it ends once all is answered and it is
 * quiet.
 */
void
conn_drain(struct conn *c)
{
	maybe_close(c);
}

void
conn_timers(struct conn *c, uint64_t now, uint64_t *next)
{
	char reason[160];
	uint64_t t;

	if (c->dead)
		return;
	if (c->closing) {
		if (now >= c->linger_until)
			conn_gone(c);
		else if (c->linger_until < *next)
			*next = c->linger_until;
		return;
	}
	if (c->mode == MODE_UNKNOWN && !TAILQ_EMPTY(&c->answers)) {
		t = c->first_at + MUXD_MODE_GRACE_US;
		if (now >= t)
			setmode(c, MODE_SINGLE);
		else if (t < *next)
			*next = t;
		if (c->dead)
			return;
	}
	if (unsent(c) > 0) {
		/*
		 * A client that takes none of its answer for this long is
		 * closed: nothing is lost from the audit, its frames' tokens
		 * are in the chain and logged already.
		 */
		t = c->last_write + mx.write_us;
		if (now >= t) {
			log_info("%s: write timeout: nothing written for "
			    "%llu s; closed with %zu bytes unsent", c->peer,
			    (unsigned long long)(mx.write_us / 1000000),
			    unsent(c));
			conn_gone(c);
			return;
		}
		if (t < *next)
			*next = t;
	}
	if (c->frame_t0 != 0 && !c->stopread) {
		/* The read clock stops while muxd itself is not reading. */
		if (!conn_wants_read(c))
			c->frame_t0 = now;
		t = c->frame_t0 + mx.read_us;
		if (now >= t) {
			snprintf(reason, sizeof(reason), "incomplete frame: "
			    "%zu bytes and no end within %llu s", c->in.len,
			    (unsigned long long)(mx.read_us / 1000000));
			if (c->discarding)
				/* Its frame was refused as too long already. */
				log_debug("%s: an over-long line did not end "
				    "in time", c->peer);
			else if (!c->first_done && !c->isvalue)
				frame_dispatch(c, c->in.p, c->in.len);
			else
				refuse(c, c->in.p, c->in.len,
				    "incomplete_frame", reason);
			if (!c->first_done) {
				c->first_done = 1;
				setmode(c, MODE_SINGLE);
			}
			c->stopread = 1;
			c->in.len = c->scan = 0;
			c->frame_t0 = 0;
			maybe_close(c);
			if (c->dead)
				return;
		} else if (t < *next)
			*next = t;
	}
	if (c->nframes == 0 && unsent(c) == 0 && c->frame_t0 == 0) {
		t = c->last_io + mx.idle_us;
		if (now >= t) {
			log_debug("%s: idle", c->peer);
			conn_gone(c);
		} else if (t < *next)
			*next = t;
	}
}
