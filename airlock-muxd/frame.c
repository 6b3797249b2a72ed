/*
 * Frames: one per JSON value a client sends, from the moment it is read to
 * the moment its signed token comes back.  Every frame gets exactly one
 * token: the ones muxd refuses itself (bad JSON, oversized, overload, a
 * stage that died under them) become records that muxd hands straight to
 * the signer, the last stage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "muxd.h"
#include "record_json.h"
#include "sha256.h"
#include "trace.h"

#define NBUCKETS	4096

static struct frame	*buckets[NBUCKETS];
static uint64_t		 next_scan;

static unsigned int
idhash(const char *id)
{
	unsigned int h = 0;
	int i;

	/* Run ids are random hex, so their first digits hash well. */
	for (i = 0; i < 8 && id[i] != '\0'; i++)
		h = h * 16 + (unsigned int)(id[i] & 0x1f);
	return h & (NBUCKETS - 1);
}

struct frame *
frame_find(const char *id)
{
	struct frame *f;

	for (f = buckets[idhash(id)]; f != NULL; f = f->hnext)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

struct frame *
frame_new(struct conn *c)
{
	struct frame *f;
	unsigned int h;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	do {
		if (record_newid(f->id) != 0) {
			free(f);
			return NULL;
		}
	} while (frame_find(f->id) != NULL);
	/* A connection that went while its last frame was read gets none. */
	if (c != NULL && c->dead)
		c = NULL;
	f->conn = c;
	f->stage = -1;
	snprintf(f->chan_log, sizeof(f->chan_log), "-");
	snprintf(f->intent_log, sizeof(f->intent_log), "-");
	f->t0 = now_us();
	trace_event(f->id, "muxd.in");
	f->deadline = f->t0 + mx.deadline_us;
	h = idhash(f->id);
	f->hnext = buckets[h];
	buckets[h] = f;
	LIST_INSERT_HEAD(&mx.frames, f, link);
	mx.nframes++;
	mx.frames_in++;
	if (c != NULL)
		c->nframes++;
	return f;
}

void
frame_free(struct frame *f)
{
	struct frame **pp;

	for (pp = &buckets[idhash(f->id)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	if (f->queued)
		TAILQ_REMOVE(&mx.stages[f->stage].queue, f, q);
	if (f->inst != NULL) {
		f->inst->nheld--;
		if (f->inst->cur == f)
			f->inst->cur = NULL;
	}
	LIST_REMOVE(f, link);
	mx.nframes--;
	if (f->inflight)
		mx.nflight--;
	if (f->conn != NULL)
		conn_frame_done(f->conn, f->inflight);
	answer_free(f->ans);
	free(f->chan_json);
	free(f->intent_json);
	free(f->rec);
	free(f);
}

/* Take ownership of line (len bytes, newline included) as f's record. */
void
frame_set_rec(struct frame *f, char *line, size_t len)
{
	free(f->rec);
	f->rec = line;
	f->reclen = len;
}

/* Serialise obj as one record line with its newline; NULL if out of memory. */
static char *
dumpline(json_t *obj, size_t *lenp)
{
	char *s, *t;
	size_t n;

	if ((s = json_dumps(obj, JSON_COMPACT)) == NULL)
		return NULL;
	n = strlen(s);
	if ((t = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*lenp = n + 1;
	return t;
}

/* The verdict muxd gives a frame it refuses, from the verdict table. */
static json_t *
verdict(int status, const char *reason)
{
	struct verdict v;

	verdict_set(&v, status, "%s", reason);
	return verdict_json(&v);
}

/* Hand f's finished record to the signer, or give up on it if we cannot. */
static void
tosigner(struct frame *f, json_t *rec)
{
	char *line;
	size_t len;

	if (rec == NULL || (line = dumpline(rec, &len)) == NULL) {
		json_decref(rec);
		frame_unsigned(f, "airlock-muxd: out of memory");
		return;
	}
	json_decref(rec);
	frame_set_rec(f, line, len);
	pipeline_enqueue(f, mx.nstages - 1, 0);
}

/*
 * A frame muxd refuses itself: bad input, oversized, overload, shutting
 * down.  Its record says what came in (the frame if it parsed, else the
 * size and digest of the bytes) and why it will not run, with the verdict
 * already decided, and goes straight to the signer.  text is NULL when the
 * bytes were not kept (an oversized frame); then only len is known.
 */
void
frame_reject(struct frame *f, const char *text, size_t len, json_t *frame,
    int status, const char *error, const char *reason)
{
	char hex[SHA256_HEXLEN + 1];
	json_t *rec;

	if (text != NULL)
		sha256_hex(text, len, hex);
	if (frame != NULL)
		rec = json_pack("{s:i, s:s, s:O}", "v", RECORD_VERSION,
		    "id", f->id, "frame", frame);
	else
		rec = json_pack("{s:i, s:s, s:{s:I, s:s?}}",
		    "v", RECORD_VERSION, "id", f->id,
		    "input", "bytes", (json_int_t)len,
		    "sha256", text != NULL ? hex : NULL);
	if (rec != NULL && (json_object_set_new(rec, "reject",
	    json_pack("{s:i, s:s, s:s, s:s}", "status", status, "error", error,
	    "reason", reason, "stage", "muxd")) != 0 ||
	    json_object_set_new(rec, "verdict", verdict(status, reason)) != 0)) {
		json_decref(rec);
		rec = NULL;
	}
	log_debug("%s: refused (%d %s): %s", f->id, status, error, reason);
	tosigner(f, rec);
}

/*
 * A frame whose stage died under it, or that no stage answered within the
 * deadline: it gets a 500 SANDBOX_FAILURE token.  Its record is the last
 * one muxd saw for it (what the dead stage was given) with muxd's verdict;
 * a frame that never got past the first stage has only its frame, so it
 * becomes a rejection record as in frame_reject().
 */
void
frame_fail(struct frame *f, const char *error, const char *reason)
{
	struct jsonl_error je;
	json_t *obj = NULL, *rec = NULL;

	if (f->rec != NULL && f->reclen > 0)
		obj = jsonl_parse(f->rec, f->reclen - 1, &je);
	if (obj != NULL && json_object_get(obj, "v") != NULL) {
		rec = obj;
		if (json_object_set_new(rec, "verdict", verdict(500, reason)) !=
		    0) {
			json_decref(rec);
			rec = NULL;
		}
		log_info("%s: %s", f->id, reason);
		tosigner(f, rec);
		return;
	}
	/* The first stage's input is the frame plus the id muxd added. */
	if (obj != NULL)
		json_object_del(obj, "id");
	log_info("%s: %s", f->id, reason);
	frame_reject(f, NULL, 0, obj, 500, error, reason);
	json_decref(obj);
}

/* Log text from a client: printable ASCII only, and not too much of it. */
static void
sanitise(json_t *v, char *out, size_t outlen)
{
	const char *s;
	size_t i, o = 0;

	if (v == NULL) {
		snprintf(out, outlen, "-");
		return;
	}
	if (json_is_integer(v)) {
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
		return;
	}
	if (!json_is_string(v)) {
		snprintf(out, outlen, "?");
		return;
	}
	s = json_string_value(v);
	for (i = 0; i < json_string_length(v) && o + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch > 0x20 && ch < 0x7f && ch != '%')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X",
			    ch);
	}
	if (o == 0)
		out[o++] = '-';
	out[o] = '\0';
}

/* The per-frame log line: id channel status intent microseconds. */
static void
logframe(struct frame *f, int status, const char *how)
{
	log_info("%s %s %d %s %llu %s %llu/%llu", f->id, f->chan_log, status,
	    f->intent_log, (unsigned long long)(now_us() - f->t0), how,
	    (unsigned long long)mx.tokens_out,
	    (unsigned long long)mx.frames_in);
}

/*
 * f is done: its answer, from its record rec, goes to its client, and the
 * frame is logged.  "sent" means the answer was queued on a live
 * connection; "dropped" that the client was gone (a client that closed
 * without a half-close is only seen gone when a write fails, so its first
 * answer can still read "sent").  The frame lives on until its answer is
 * written, and counts against the caps until then: what a client that
 * does not read can make muxd hold is bounded by them.  Takes f.
 */
static void
deliver(struct frame *f, json_t *rec)
{
	struct conn *c = f->conn;
	int status;

	f->ans = answer_new(f, rec, &status);
	metrics_frame(rec, status, f->t0);
	free(f->rec);
	f->rec = NULL;
	f->reclen = 0;
	f->stage = -1;
	if (c == NULL || c->dead || f->ans == NULL) {
		logframe(f, status, "dropped");
		frame_free(f);
		return;
	}
	logframe(f, status, "sent");
	conn_answer(c, f);
}

/* The signer answered: f is done.  Takes f. */
void
frame_signed(struct frame *f, json_t *rec)
{
	mx.tokens_out++;
	deliver(f, rec);
}

/*
 * The signer could not sign f (it died with f's record MUXD_SIGN_TRIES
 * times, or never came back).  The client still gets an answer, a 500
 * without a token, and the log says so loudly.  Takes f.
 */
void
frame_unsigned(struct frame *f, const char *reason)
{
	json_t *rec;

	mx.unsigned_out++;
	rec = json_pack("{s:{s:i, s:s}}", "verdict", "status", 500,
	    "reason", reason);
	log_info("%s: no token: %s", f->id, reason);
	deliver(f, rec);
	json_decref(rec);
}

/*
 * Build the first stage's input: the frame with muxd's run id as a new
 * first key.  A client's own "id" is dropped: run ids are muxd's to give,
 * or a client could make two runs share one.
 */
static char *
wakeline(struct frame *f, json_t *obj, size_t *lenp)
{
	json_t *line, *v;
	const char *k;
	char *s;

	if ((line = json_pack("{s:s}", "id", f->id)) == NULL)
		return NULL;
	json_object_foreach(obj, k, v) {
		if (strcmp(k, "id") != 0)
			json_object_set(line, k, v);
	}
	s = dumpline(line, lenp);
	json_decref(line);
	return s;
}

/* The member name of obj as compact JSON for the answer, and for the log. */
static char *
echo(json_t *obj, const char *name, char *log, size_t loglen)
{
	json_t *v;

	if ((v = json_object_get(obj, name)) == NULL)
		return NULL;
	sanitise(v, log, loglen);
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * One complete frame from a client (text is not NUL-terminated).  It is
 * parsed here fail-closed; what fails, or what arrives over the caps, is
 * refused with a token; the rest goes to the first stage.
 */
void
frame_dispatch(struct conn *c, const char *text, size_t len)
{
	struct jsonl_error je;
	struct frame *f;
	json_t *obj;
	char reason[160], *line;
	size_t linelen;

	if ((f = frame_new(c)) == NULL) {
		log_info("out of memory: frame dropped");
		return;
	}
	if ((obj = jsonl_parse(text, len, &je)) == NULL) {
		frame_reject(f, text, len, NULL, 400, jsonl_errname(je.code),
		    je.text);
		return;
	}
	/*
	 * What muxd keeps of a frame is no larger than -m allows (plus
	 * room for the run id), however jansson writes it again: a short
	 * real number such as 1e-7 comes back as 23 characters.
	 */
	if ((line = wakeline(f, obj, &linelen)) != NULL &&
	    linelen > mx.frame_max + MUXD_LINE_SLACK) {
		free(line);
		snprintf(reason, sizeof(reason), "frame longer than %zu bytes "
		    "as airlock-muxd writes it", mx.frame_max);
		frame_reject(f, text, len, NULL, 400, "too_long", reason);
		json_decref(obj);
		return;
	}
	f->chan_json = echo(obj, "channel_id", f->chan_log,
	    sizeof(f->chan_log));
	f->intent_json = echo(obj, "intent", f->intent_log,
	    sizeof(f->intent_log));
	if (line == NULL)
		frame_reject(f, text, len, obj, 503, "overloaded",
		    "airlock-muxd: out of memory");
	else if (mx.draining)
		frame_reject(f, text, len, obj, 503, "shutting_down",
		    "airlock-muxd is shutting down");
	else if (f->conn != NULL && c->nflight >= mx.conn_flight_max) {
		snprintf(reason, sizeof(reason), "connection has %d frames in "
		    "flight (cap %d)", c->nflight, mx.conn_flight_max);
		frame_reject(f, text, len, obj, 503, "overloaded", reason);
	} else if (mx.nflight >= mx.flight_max) {
		snprintf(reason, sizeof(reason), "%d frames in flight (cap %d)",
		    mx.nflight, mx.flight_max);
		frame_reject(f, text, len, obj, 503, "overloaded", reason);
	} else {
		frame_set_rec(f, line, linelen);
		line = NULL;
		f->inflight = 1;
		mx.nflight++;
		if (f->conn != NULL)
			c->nflight++;
		pipeline_enqueue(f, 0, 0);
	}
	free(line);
	json_decref(obj);
}

/*
 * The deadline: a frame no stage has answered in time gets a 500 token.
 * A frame stuck in the signer means the signer is wedged: kill it, and the
 * restarted signer gets the record again.
 */
void
frame_timers(uint64_t now, uint64_t *next)
{
	struct frame *f, *nf;
	char reason[256];
	int last = mx.nstages - 1;

	if (LIST_EMPTY(&mx.frames))
		return;
	if (now < next_scan) {
		if (next_scan < *next)
			*next = next_scan;
		return;
	}
	next_scan = now + 250000;
	if (next_scan < *next)
		*next = next_scan;
	for (f = LIST_FIRST(&mx.frames); f != NULL; f = nf) {
		nf = LIST_NEXT(f, link);
		/* An answered frame waits for its client (-w), not a stage. */
		if (f->ans != NULL || now < f->deadline)
			continue;
		f->deadline = now + mx.deadline_us;
		if (f->stage == last) {
			if (f->inst != NULL)
				inst_kill(f->inst, "no token within the "
				    "deadline");
			else
				frame_unsigned(f, "no signer within the "
				    "deadline");
			continue;
		}
		snprintf(reason, sizeof(reason), "no answer from %s within "
		    "%llu s", mx.stages[f->stage].name,
		    (unsigned long long)(mx.deadline_us / 1000000));
		if (f->queued) {
			TAILQ_REMOVE(&mx.stages[f->stage].queue, f, q);
			f->queued = 0;
		}
		if (f->inst != NULL) {
			if (f->inst->cur == f) {
				/* It has not even read its input. */
				inst_kill(f->inst, "took no input within the "
				    "deadline");
				continue;
			}
			f->inst->nheld--;
			f->inst = NULL;
		}
		frame_fail(f, "deadline", reason);
	}
}
