/*
 * JSON lines, failing closed (DESIGN.md section 2): a line over the cap is
 * refused whole, never truncated or split; NUL bytes, invalid UTF-8,
 * duplicate keys and anything that is not one object are refused with a
 * precise reason.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "sha256.h"
#include "utf8.h"

struct jsonl_reader {
	int	 fd;
	size_t	 max;		/* cap on a line, newline excluded */
	char	*buf;
	size_t	 cap;		/* allocated size of buf */
	size_t	 start;		/* first byte not yet returned */
	size_t	 end;		/* end of valid data */
	size_t	 scan;		/* bytes after start known to hold no newline */
	size_t	 skipped;	/* bytes dropped of an overlong line */
	int	 discarding;	/* inside an overlong line */
	int	 eof;
};

const char *
jsonl_errname(enum jsonl_errcode code)
{
	switch (code) {
	case JSONL_OK:
		return "ok";
	case JSONL_TOO_LONG:
		return "too_long";
	case JSONL_NUL:
		return "nul_byte";
	case JSONL_UTF8:
		return "invalid_utf8";
	case JSONL_SYNTAX:
		return "bad_json";
	case JSONL_DUPKEY:
		return "duplicate_key";
	case JSONL_NOT_OBJECT:
		return "not_object";
	case JSONL_VERSION:
		return "unknown_version";
	case JSONL_TYPE:
		return "wrong_type";
	}
	return "unknown_error";
}

struct jsonl_reader *
jsonl_reader_new(int fd, size_t maxline)
{
	struct jsonl_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->fd = fd;
	r->max = maxline ? maxline : JSONL_MAX_DEFAULT;
	r->cap = 64 * 1024;
	if ((r->buf = malloc(r->cap)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
jsonl_reader_free(struct jsonl_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* Make room for at least one more byte.  Returns 0 or -1. */
static int
grow(struct jsonl_reader *r)
{
	size_t want;
	char *nb;

	want = r->cap * 2;
	/* Never hold more than the cap plus one read's worth. */
	if (want > r->max + 65536 + 1)
		want = r->max + 65536 + 1;
	if (want <= r->cap)
		want = r->cap + 65536;
	if ((nb = realloc(r->buf, want)) == NULL)
		return -1;
	r->buf = nb;
	r->cap = want;
	return 0;
}

/*
 * Read more input into r->buf.  Returns bytes read, 0 at EOF, -1 on error
 * (including EINTR and, on a non-blocking descriptor, EAGAIN).
 */
static ssize_t
fill(struct jsonl_reader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap && grow(r) < 0)
		return -1;
	n = read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n > 0)
		r->end += (size_t)n;
	return n;
}

int
jsonl_next(struct jsonl_reader *r, const char **line, size_t *len)
{
	char *nl;
	ssize_t n;
	size_t l;

	for (;;) {
		nl = memchr(r->buf + r->start + r->scan, '\n',
		    r->end - r->start - r->scan);
		if (nl != NULL) {
			l = (size_t)(nl - (r->buf + r->start));
			r->scan = 0;
			if (r->discarding || l > r->max) {
				*line = NULL;
				*len = r->skipped + l;
				r->start += l + 1;
				r->discarding = 0;
				r->skipped = 0;
				return 1;
			}
			*nl = '\0';
			*line = r->buf + r->start;
			*len = l;
			r->start += l + 1;
			if (l == 0 || (l == 1 && (*line)[0] == '\r'))
				continue;	/* empty lines carry nothing */
			return 1;
		}
		r->scan = r->end - r->start;
		if (r->scan > r->max) {
			/* Too long: drop what we hold and keep counting. */
			r->discarding = 1;
			r->skipped += r->scan;
			r->start = r->end;
			r->scan = 0;
		}
		if (r->eof)
			n = 0;
		else if ((n = fill(r)) < 0)
			return -1;	/* EINTR and EAGAIN: call again */
		if (n > 0)
			continue;
		r->eof = 1;
		if (r->end == r->start && !r->discarding)
			return 0;
		/* A last line without its newline is still a line. */
		r->scan = 0;
		if (r->discarding) {
			*line = NULL;
			*len = r->skipped + (r->end - r->start);
			r->start = r->end;
			r->discarding = 0;
			r->skipped = 0;
			return 1;
		}
		if (r->end == r->cap && grow(r) < 0)
			return -1;
		r->buf[r->end] = '\0';
		*line = r->buf + r->start;
		*len = r->end - r->start;
		r->start = r->end;
		if (*len == 1 && (*line)[0] == '\r')
			return 0;	/* as empty as "\r\n" */
		return 1;
	}
}

int
jsonl_next_record(struct jsonl_reader *r, const char *stage, int flags,
    json_t **rec, struct jsonl_error *je)
{
	const char *line;
	size_t len;
	int n;

	*rec = NULL;
	memset(je, 0, sizeof(*je));
	if ((n = jsonl_next(r, &line, &len)) != 1)
		return n;
	if (line == NULL) {
		je->code = JSONL_TOO_LONG;
		snprintf(je->text, sizeof(je->text), "line of %zu bytes is over "
		    "the cap of %zu bytes", len, r->max);
	} else if ((*rec = jsonl_parse(line, len, je)) != NULL) {
		if (!(flags & JSONL_CHECK_VERSION) ||
		    jsonl_check_version(*rec, je) == 0)
			return 1;
		json_decref(*rec);
	}
	*rec = jsonl_reject_line(line, len, je, stage);
	return 1;
}

int
jsonl_pending(const struct jsonl_reader *r)
{
	return r->end > r->start || r->discarding;
}

/* The offset of the first byte that is not strict UTF-8, or (size_t)-1. */
static size_t
utf8_invalid_at(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len)
		if (utf8_decode(s, len, &i) < 0)
			return i;
	return (size_t)-1;
}

static void
seterr(struct jsonl_error *err, enum jsonl_errcode code, size_t off,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
seterr(struct jsonl_error *err, enum jsonl_errcode code, size_t off,
    const char *fmt, ...)
{
	va_list ap;

	size_t i, j, len;

	if (err == NULL)
		return;
	err->code = code;
	err->offset = off;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	/*
	 * The text may quote the input (jansson's "near '...'" stops in the
	 * middle of a character), and it goes into a JSON record: keep it
	 * valid UTF-8, with '?' for any byte that is not.
	 */
	len = strlen(err->text);
	for (i = 0; i < len; i = j) {
		j = i;
		if (utf8_decode((unsigned char *)err->text, len, &j) < 0) {
			err->text[i] = '?';
			j = i + 1;
		}
	}
}

json_t *
jsonl_parse(const char *line, size_t len, struct jsonl_error *err)
{
	json_error_t je;
	json_t *v;
	const char *nul;
	size_t bad;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if ((nul = memchr(line, '\0', len)) != NULL) {
		seterr(err, JSONL_NUL, (size_t)(nul - line),
		    "NUL byte at offset %zu", (size_t)(nul - line));
		return NULL;
	}
	if ((bad = utf8_invalid_at((const unsigned char *)line, len)) !=
	    (size_t)-1) {
		seterr(err, JSONL_UTF8, bad,
		    "invalid UTF-8 at offset %zu (byte 0x%02x)", bad,
		    (unsigned char)line[bad]);
		return NULL;
	}
	/*
	 * JSON_DECODE_ANY so that a scalar or array is reported as "not an
	 * object" rather than as a syntax error; \u0000 stays refused because
	 * JSON_ALLOW_NUL is not given.
	 */
	v = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (v == NULL) {
		if (strstr(je.text, "duplicate object key") != NULL)
			seterr(err, JSONL_DUPKEY, (size_t)je.position,
			    "%s", je.text);
		else if (strstr(je.text, "\\u0000") != NULL)
			seterr(err, JSONL_NUL, (size_t)je.position,
			    "escaped NUL (\\u0000) near offset %d", je.position);
		else
			seterr(err, JSONL_SYNTAX, (size_t)je.position,
			    "not JSON: %s at offset %d", je.text, je.position);
		return NULL;
	}
	if (!json_is_object(v)) {
		seterr(err, JSONL_NOT_OBJECT, 0, "a line must be a JSON object, "
		    "not %s", json_is_array(v) ? "an array" :
		    json_is_string(v) ? "a string" :
		    json_is_null(v) ? "null" :
		    json_is_boolean(v) ? "a boolean" : "a number");
		json_decref(v);
		return NULL;
	}
	return v;
}

int
jsonl_check_version(json_t *rec, struct jsonl_error *err)
{
	json_t *v = json_object_get(rec, "v");

	if (v == NULL) {
		seterr(err, JSONL_VERSION, 0, "record has no \"v\" (schema "
		    "version)");
		return -1;
	}
	if (!json_is_integer(v)) {
		seterr(err, JSONL_VERSION, 0, "\"v\" must be an integer");
		return -1;
	}
	if (json_integer_value(v) != RECORD_VERSION) {
		seterr(err, JSONL_VERSION, 0, "unknown record version %lld "
		    "(this airlock reads version %d)",
		    (long long)json_integer_value(v), RECORD_VERSION);
		return -1;
	}
	return 0;
}

int
jsonl_write(FILE *fp, json_t *rec)
{
	/* Compact, one line; insertion order is kept, so output is stable. */
	if (json_dumpf(rec, fp, JSON_COMPACT) != 0)
		return -1;
	if (fputc('\n', fp) == EOF || fflush(fp) == EOF)
		return -1;
	return 0;
}

json_t *
jsonl_reject_line(const char *line, size_t len,
    const struct jsonl_error *err, const char *stage)
{
	char id[RECORD_ID_LEN + 1], hex[SHA256_HEXLEN + 1];

	if (record_newid(id) != 0)
		return NULL;
	/* A line over the cap is not held, so it has no digest. */
	if (line != NULL)
		sha256_hex(line, len, hex);
	return json_pack("{s:i, s:s, s:{s:I, s:s?}, s:{s:i, s:s, s:s, s:s}}",
	    "v", RECORD_VERSION,
	    "id", id,
	    "input", "bytes", (json_int_t)len, "sha256", line ? hex : NULL,
	    "reject", "status", 400, "error", jsonl_errname(err->code),
	    "reason", err->text, "stage", stage);
}

const char *
jsonl_get_string(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int
jsonl_get_int(json_t *obj, const char *key, long long *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return -1;
	*out = (long long)json_integer_value(v);
	return 0;
}
