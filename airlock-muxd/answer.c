/*
 * Answers: what a client gets for a frame, built from the frame's signed
 * record and written out a piece at a time as the client reads.  A run's
 * output is up to six times larger as JSON text than as bytes (a control
 * byte becomes \u00XX), so its text is never made whole: the answer keeps
 * the record's base64, and a window of it is decoded, checked as UTF-8 and
 * escaped only while the client's unsent bytes are under the cap (-o).
 * Nothing else is made whole either: the writer walks the answer's JSON
 * and can stop after any piece.  The text is what json_dumps(3) writes for
 * the same answer, pretty (JSON_INDENT(2)) or compact.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "b64.h"
#include "muxd.h"
#include "utf8.h"

#define OUT_WINDOW	(16 * 1024)	/* base64 decoded at a time */

/* How a value of the answer is written, if not from its json_t. */
enum special_kind {
	SP_RAW,			/* JSON text kept by the frame, as is */
	SP_OUTPUT,		/* a run's output, from its base64 */
};

struct special {
	json_t			*ph;	/* its placeholder in the tree */
	enum special_kind	 kind;
	const char		*raw;	/* SP_RAW */
	json_t			*b64;	/* SP_OUTPUT */
};

/* An object or array being written. */
struct level {
	json_t		*v;
	void		*iter;		/* object: the next member */
	size_t		 i;		/* array: the next element */
	int		 n;		/* values written so far */
};

/* A run's output being written: its base64, decoded a window at a time. */
struct outdec {
	const char	*b64;
	size_t		 len, off;
	unsigned char	 buf[OUT_WINDOW / 4 * 3 + 4];
	size_t		 n, i;		/* decoded, and written of those */
};

enum str_kind { STR_NONE, STR_JSON, STR_RAW, STR_OUTPUT };

struct answer {
	json_t		*tree;		/* the answer, specials as placeholders */
	struct special	 sp[4];
	int		 nsp;
	/* Writing it. */
	int		 started, pretty;
	struct level	*lv;
	int		 depth, lvcap;
	enum str_kind	 str;		/* a string under way */
	const char	*s;
	size_t		 slen, soff;
	struct outdec	*dec;		/* STR_OUTPUT */
};

/*
 * The length of the strict UTF-8 sequence at s, or 0 if there is none; NUL
 * is excluded since it ends C strings in too many clients.
 */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || s[0] == 0 || utf8_decode(s, len, &i) < 0)
		return 0;
	return i;
}

/*
 * The output's next UTF-8 sequence (return 1), or one byte that starts
 * none (return 0), at *p, *len bytes long; -1 at the end, -2 if the base64
 * is bad.  Whether bytes form a sequence depends on at most four of them,
 * so a window is topped up before fewer than four are left: the verdict
 * is the same as over the whole output at once.
 */
static int
outdec_next(struct outdec *d, const unsigned char **p, size_t *len)
{
	size_t want, k;
	long r;

	if (d->n - d->i < 4 && d->off < d->len) {
		memmove(d->buf, d->buf + d->i, d->n - d->i);
		d->n -= d->i;
		d->i = 0;
		want = d->len - d->off;
		if (want > OUT_WINDOW)
			want = OUT_WINDOW;
		if ((r = b64_decode(d->b64 + d->off, want, d->buf + d->n)) < 0)
			return -2;
		d->n += (size_t)r;
		d->off += want;
	}
	if (d->i == d->n)
		return -1;
	*p = d->buf + d->i;
	if ((k = utf8_seq(d->buf + d->i, d->n - d->i)) == 0) {
		*len = 1;
		d->i++;
		return 0;
	}
	*len = k;
	d->i += k;
	return 1;
}

static void
outdec_init(struct outdec *d, json_t *b64)
{
	d->b64 = json_string_value(b64);
	d->len = json_string_length(b64);
	d->off = d->n = d->i = 0;
}

/* 1 if the output decodes; *lossy then says whether a byte is not UTF-8. */
static int
output_scan(json_t *b64, int *lossy)
{
	struct outdec d;
	const unsigned char *p;
	size_t n;
	int r;

	*lossy = 0;
	outdec_init(&d, b64);
	while ((r = outdec_next(&d, &p, &n)) >= 0)
		if (r == 0)
			*lossy = 1;
	return r == -1;
}

static json_t *
special(struct answer *a, enum special_kind kind, const char *raw,
    json_t *b64)
{
	struct special *sp = &a->sp[a->nsp];

	if (a->nsp == (int)(sizeof(a->sp) / sizeof(a->sp[0])) ||
	    (sp->ph = json_object()) == NULL)
		return NULL;
	sp->kind = kind;
	sp->raw = raw;
	sp->b64 = json_incref(b64);
	a->nsp++;
	return sp->ph;
}

/*
 * A run's output for the answer.  Clients read "stdout" as text, so it is
 * always a string; bytes that are not UTF-8 (or are NUL) become U+FFFD and
 * then "stdout_b64" carries the exact bytes.
 */
static void
put_output(struct answer *a, json_t *result, json_t *exec, const char *name)
{
	json_t *sec, *b64v, *ph;
	char key[32];
	int lossy;

	sec = json_object_get(exec, name);
	b64v = json_object_get(sec, "b64");
	snprintf(key, sizeof(key), "%s_truncated", name);
	json_object_set_new(result, key,
	    json_boolean(json_is_true(json_object_get(sec, "truncated"))));
	if (!json_is_string(b64v) || !output_scan(b64v, &lossy) ||
	    (ph = special(a, SP_OUTPUT, NULL, b64v)) == NULL) {
		json_object_set_new(result, name, json_null());
		return;
	}
	json_object_set(result, name, ph);
	if (lossy) {
		snprintf(key, sizeof(key), "%s_b64", name);
		json_object_set(result, key, b64v);
	}
}

/*
 * The files a run left in /output, by name: each one's bytes, sha256 and
 * content in base64 (the record's string, shared, never decoded here).
 * Null when the record has none to give (a kvm run, or nothing claimed).
 */
static void
put_files(json_t *result, json_t *exec)
{
	json_t *list, *files, *f, *name, *b64;
	size_t i;

	list = json_object_get(exec, "output_files");
	if (!json_is_array(list) || (files = json_object()) == NULL) {
		json_object_set_new(result, "files", json_null());
		return;
	}
	json_array_foreach(list, i, f) {
		name = json_object_get(f, "name");
		b64 = json_object_get(f, "b64");
		if (!json_is_string(name) || !json_is_string(b64))
			continue;
		json_object_set_new(files, json_string_value(name),
		    json_pack("{s:O?, s:O?, s:O}",
		    "bytes", json_object_get(f, "bytes"),
		    "sha256", json_object_get(f, "sha256"), "b64", b64));
	}
	json_object_set_new(result, "files", files);
	if (json_is_array(json_object_get(exec, "output_refused")))
		json_object_set(result, "files_refused",
		    json_object_get(exec, "output_refused"));
}

static json_t *
intcopy(json_t *v)
{
	return json_is_integer(v) ? json_integer(json_integer_value(v)) :
	    json_null();
}

/* What the frame sent, as it sent it, or null. */
static json_t *
echo(struct answer *a, const char *raw)
{
	json_t *ph;

	if (raw == NULL || (ph = special(a, SP_RAW, raw, NULL)) == NULL)
		return json_null();
	return json_incref(ph);
}

/*
 * The answer to f, from its signed record rec (which it keeps only the
 * parts of that it shows); NULL if out of memory.
 */
struct answer *
answer_new(const struct frame *f, json_t *rec, int *statusp)
{
	struct answer *a;
	json_t *verd, *exec, *result, *token, *reason;
	int status = 500;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	verd = json_object_get(rec, "verdict");
	if (json_is_integer(json_object_get(verd, "status")))
		status = (int)json_integer_value(json_object_get(verd,
		    "status"));
	reason = json_object_get(verd, "reason");
	token = rec != NULL ? json_object_get(rec, "token") : NULL;
	exec = json_object_get(rec, "exec");
	if (json_is_object(exec)) {
		result = json_object();
		json_object_set_new(result, "exit_code",
		    intcopy(json_object_get(exec, "exit_code")));
		json_object_set_new(result, "signal",
		    intcopy(json_object_get(exec, "signal")));
		put_output(a, result, exec, "stdout");
		put_output(a, result, exec, "stderr");
		put_files(result, exec);
		if (json_is_object(json_object_get(verd, "report")))
			json_object_set(result, "report",
			    json_object_get(verd, "report"));
	} else
		result = json_null();
	a->tree = json_pack("{s:o, s:i, s:o, s:s, s:O?, s:o, s:O?}",
	    "channel_id", echo(a, f->chan_json),
	    "status", status,
	    "intent", echo(a, f->intent_json),
	    "id", f->id,
	    "reason", json_is_string(reason) ? reason : NULL,
	    "result", result,
	    "tibet_provenance", token);
	*statusp = status;
	if (a->tree == NULL) {
		answer_free(a);
		return NULL;
	}
	return a;
}

void
answer_free(struct answer *a)
{
	int i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nsp; i++) {
		json_decref(a->sp[i].ph);
		json_decref(a->sp[i].b64);
	}
	json_decref(a->tree);
	free(a->lv);
	free(a->dec);
	free(a);
}

/*
 * Escape up to n bytes of p as json_dumps(3) does (the quote, the
 * backslash and control bytes; everything else as is), until out has grown
 * by room.  Returns the bytes of p done.
 */
static size_t
escape(struct buf *out, const unsigned char *p, size_t n, size_t room)
{
	/* json_dumps(3)'s two-character escapes; other controls are \u00XX. */
	static const char *const esc[0x20] = { ['\b'] = "\\b",
	    ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t" };
	size_t i = 0, j, start = out->len;
	char e[8];

	while (i < n && out->len - start < room) {
		for (j = i; j < n && j - i < room - (out->len - start) &&
		    p[j] >= 0x20 && p[j] != '"' && p[j] != '\\'; j++)
			;
		if (j > i) {
			buf_add(out, p + i, j - i);
			i = j;
			continue;
		}
		if (p[i] == '"' || p[i] == '\\') {
			e[0] = '\\';
			e[1] = (char)p[i];
			buf_add(out, e, 2);
		} else if (esc[p[i]] != NULL)
			buf_add(out, esc[p[i]], 2);
		else {
			snprintf(e, sizeof(e), "\\u%04X", p[i]);
			buf_add(out, e, 6);
		}
		i++;
	}
	return i;
}

static void
newline(struct answer *a, struct buf *out, int depth)
{
	static const char spaces[] = "                ";
	int n = depth * 2, k;

	if (!a->pretty)
		return;
	buf_add(out, "\n", 1);
	for (; n > 0; n -= k) {
		k = n < (int)sizeof(spaces) - 1 ? n : (int)sizeof(spaces) - 1;
		buf_add(out, spaces, (size_t)k);
	}
}

/* Begin writing v: scalars whole, strings and containers piece by piece. */
static void
value(struct answer *a, struct buf *out, json_t *v)
{
	struct level *l;
	char num[32];
	char *s;
	int i;

	for (i = 0; i < a->nsp; i++) {
		if (a->sp[i].ph != v)
			continue;
		if (a->sp[i].kind == SP_RAW) {
			a->str = STR_RAW;
			a->s = a->sp[i].raw;
			a->slen = strlen(a->s);
			a->soff = 0;
			return;
		}
		if (a->dec == NULL &&
		    (a->dec = malloc(sizeof(*a->dec))) == NULL) {
			buf_add(out, "null", 4);
			return;
		}
		outdec_init(a->dec, a->sp[i].b64);
		a->str = STR_OUTPUT;
		buf_add(out, "\"", 1);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (json_is_object(v) ? json_object_size(v) == 0 :
		    json_array_size(v) == 0) {
			buf_add(out, json_is_object(v) ? "{}" : "[]", 2);
			return;
		}
		if (a->depth == a->lvcap) {
			a->lvcap = a->lvcap ? a->lvcap * 2 : 8;
			if ((a->lv = reallocarray(a->lv, (size_t)a->lvcap,
			    sizeof(*a->lv))) == NULL)
				err(EXIT_SYSTEM, "reallocarray");
		}
		l = &a->lv[a->depth++];
		l->v = v;
		l->iter = json_is_object(v) ? json_object_iter(v) : NULL;
		l->i = 0;
		l->n = 0;
		buf_add(out, json_is_object(v) ? "{" : "[", 1);
		return;
	case JSON_STRING:
		a->str = STR_JSON;
		a->s = json_string_value(v);
		a->slen = json_string_length(v);
		a->soff = 0;
		buf_add(out, "\"", 1);
		return;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		buf_add(out, num, strlen(num));
		return;
	case JSON_REAL:
		if ((s = json_dumps(v, JSON_ENCODE_ANY)) == NULL) {
			buf_add(out, "null", 4);
			return;
		}
		buf_add(out, s, strlen(s));
		free(s);
		return;
	case JSON_TRUE:
		buf_add(out, "true", 4);
		return;
	case JSON_FALSE:
		buf_add(out, "false", 5);
		return;
	case JSON_NULL:
		buf_add(out, "null", 4);
		return;
	}
}

/* More of the string under way, until out has grown by room. */
static void
string_some(struct answer *a, struct buf *out, size_t room)
{
	static const char fffd[] = "\xef\xbf\xbd";	/* U+FFFD */
	const unsigned char *p;
	size_t start = out->len, n;
	int r;

	switch (a->str) {
	case STR_JSON:
		a->soff += escape(out, (const unsigned char *)a->s + a->soff,
		    a->slen - a->soff, room);
		if (a->soff < a->slen)
			return;
		buf_add(out, "\"", 1);
		break;
	case STR_RAW:
		n = a->slen - a->soff < room ? a->slen - a->soff : room;
		buf_add(out, a->s + a->soff, n);
		if ((a->soff += n) < a->slen)
			return;
		break;
	case STR_OUTPUT:
		while (out->len - start < room) {
			if ((r = outdec_next(a->dec, &p, &n)) < 0) {
				/* The end (bad base64 was refused before). */
				buf_add(out, "\"", 1);
				a->str = STR_NONE;
				return;
			}
			if (r == 0)
				buf_add(out, fffd, 3);
			else
				escape(out, p, n, SIZE_MAX);
		}
		return;
	case STR_NONE:
		break;
	}
	a->str = STR_NONE;
}

/*
 * Write more of a (pretty or compact, as on the first call) to out, until
 * out has grown by room or the answer is done, newline included.  Returns
 * 1 when it is.
 */
int
answer_write(struct answer *a, int pretty, struct buf *out, size_t room)
{
	struct level *l;
	const char *key;
	size_t start = out->len;
	json_t *v;
	int object;

	if (!a->started) {
		a->started = 1;
		a->pretty = pretty;
		value(a, out, a->tree);
	}
	while (out->len - start < room) {
		if (a->str != STR_NONE) {
			string_some(a, out, room - (out->len - start));
			continue;
		}
		if (a->depth == 0) {
			buf_add(out, "\n", 1);
			return 1;
		}
		l = &a->lv[a->depth - 1];
		object = json_is_object(l->v);
		if (object ? l->iter == NULL :
		    l->i == json_array_size(l->v)) {
			newline(a, out, a->depth - 1);
			buf_add(out, object ? "}" : "]", 1);
			a->depth--;
			continue;
		}
		if (l->n++ > 0)
			buf_add(out, ",", 1);
		newline(a, out, a->depth);
		if (object) {
			key = json_object_iter_key(l->iter);
			buf_add(out, "\"", 1);
			escape(out, (const unsigned char *)key, strlen(key),
			    SIZE_MAX);
			buf_add(out, a->pretty ? "\": " : "\":",
			    a->pretty ? 3 : 2);
			v = json_object_iter_value(l->iter);
			l->iter = json_object_iter_next(l->v, l->iter);
		} else
			v = json_array_get(l->v, l->i++);
		value(a, out, v);
	}
	return 0;
}
