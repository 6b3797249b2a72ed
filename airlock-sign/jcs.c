/*
 * RFC 8785 canonical JSON, for integers only.  Objects have their members
 * sorted by the UTF-16 code units of their names (not by UTF-8 bytes,
 * which order differently above U+FFFF), strings are escaped as
 * ECMAScript's JSON.stringify escapes them, integers are plain decimal,
 * and there is no whitespace.  Real numbers are refused: their ECMAScript
 * form is hard to reproduce exactly, and airlock signs none.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jcs.h"
#include "utf8.h"

struct enc {
	struct jcsbuf	*buf;
	char		 path[256];	/* where we are, for error messages */
	size_t		 pathlen;
	char		*err;
	size_t		 errlen;
};

struct member {
	const char	*name;
	size_t		 namelen;
	uint16_t	*u16;		/* the name in UTF-16, for sorting */
	size_t		 n16;
	json_t		*value;
};

static int	encode(struct enc *, json_t *);

void
jcsbuf_reset(struct jcsbuf *b)
{
	b->len = 0;
}

void
jcsbuf_free(struct jcsbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int
put(struct jcsbuf *b, const void *p, size_t n)
{
	size_t cap;
	char *nd;

	if (n > b->cap - b->len) {
		cap = b->cap ? b->cap : 1024;
		while (n > cap - b->len) {
			if (cap > SIZE_MAX / 2) {
				errno = ENOMEM;
				return -1;
			}
			cap *= 2;
		}
		if ((nd = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int
fail(struct enc *e, const char *what)
{
	snprintf(e->err, e->errlen, "%s at %s", what,
	    e->pathlen ? e->path : "the top level");
	return -1;
}

static int
nomem(struct enc *e)
{
	snprintf(e->err, e->errlen, "out of memory");
	return -1;
}

/*
 * Extend the path by ".name" (or "name" at the top); bytes that would
 * make a message unreadable are shown as '?'.  Returns the old length.
 */
static size_t
pushkey(struct enc *e, const char *name, size_t len)
{
	size_t old = e->pathlen, i;

	if (e->pathlen > 0 && e->pathlen < sizeof(e->path) - 1)
		e->path[e->pathlen++] = '.';
	for (i = 0; i < len && e->pathlen < sizeof(e->path) - 1; i++) {
		unsigned char c = (unsigned char)name[i];

		e->path[e->pathlen++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	e->path[e->pathlen] = '\0';
	return old;
}

static size_t
pushindex(struct enc *e, size_t i)
{
	size_t old = e->pathlen;
	int n;

	n = snprintf(e->path + e->pathlen, sizeof(e->path) - e->pathlen,
	    "[%zu]", i);
	if (n > 0 && (size_t)n < sizeof(e->path) - e->pathlen)
		e->pathlen += (size_t)n;
	else
		e->path[e->pathlen] = '\0';
	return old;
}

static void
pop(struct enc *e, size_t old)
{
	e->pathlen = old;
	e->path[old] = '\0';
}


/* RFC 8785 section 3.2.2.2: only '"', '\\' and controls are escaped. */
static int
putstring(struct enc *e, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run;
	char esc[6];
	unsigned char c;

	if (put(e->buf, "\"", 1) != 0)
		return nomem(e);
	while (i < len) {
		/* Copy a run of bytes that need no escape in one go. */
		run = i;
		while (i < len && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') {
			if (s[i] < 0x80)
				i++;
			else if (utf8_decode(s, len, &i) < 0)
				return fail(e, "invalid UTF-8 in a string");
		}
		if (i > run && put(e->buf, s + run, i - run) != 0)
			return nomem(e);
		if (i == len)
			break;
		c = s[i++];
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			if (put(e->buf, esc, 6) != 0)
				return nomem(e);
			continue;
		}
		if (put(e->buf, esc, 2) != 0)
			return nomem(e);
	}
	if (put(e->buf, "\"", 1) != 0)
		return nomem(e);
	return 0;
}

/* The name in UTF-16 code units, which RFC 8785 section 3.2.3 sorts by. */
static int
toutf16(struct enc *e, struct member *m)
{
	const unsigned char *s = (const unsigned char *)m->name;
	size_t i = 0;
	long c;

	/* A name never needs more code units than it has bytes. */
	if ((m->u16 = calloc(m->namelen + 1, sizeof(*m->u16))) == NULL)
		return nomem(e);
	m->n16 = 0;
	while (i < m->namelen) {
		if ((c = utf8_decode(s, m->namelen, &i)) < 0) {
			pushkey(e, m->name, m->namelen);
			return fail(e, "invalid UTF-8 in a member name");
		}
		if (c >= 0x10000) {
			c -= 0x10000;
			m->u16[m->n16++] = (uint16_t)(0xd800 | (c >> 10));
			m->u16[m->n16++] = (uint16_t)(0xdc00 | (c & 0x3ff));
		} else
			m->u16[m->n16++] = (uint16_t)c;
	}
	return 0;
}

static int
membercmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t i, n = x->n16 < y->n16 ? x->n16 : y->n16;

	for (i = 0; i < n; i++)
		if (x->u16[i] != y->u16[i])
			return x->u16[i] < y->u16[i] ? -1 : 1;
	return (x->n16 > y->n16) - (x->n16 < y->n16);
}

static int
encodeobject(struct enc *e, json_t *obj)
{
	struct member *m;
	size_t n, i, old;
	void *it;
	int rc = -1;

	n = json_object_size(obj);
	if ((m = calloc(n ? n : 1, sizeof(*m))) == NULL)
		return nomem(e);
	i = 0;
	for (it = json_object_iter(obj); it != NULL && i < n;
	    it = json_object_iter_next(obj, it), i++) {
		m[i].name = json_object_iter_key(it);
		m[i].namelen = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
		if (toutf16(e, &m[i]) != 0)
			goto free_members;
	}
	qsort(m, n, sizeof(*m), membercmp);
	if (put(e->buf, "{", 1) != 0) {
		nomem(e);
		goto free_members;
	}
	for (i = 0; i < n; i++) {
		if (i > 0 && put(e->buf, ",", 1) != 0) {
			nomem(e);
			goto free_members;
		}
		old = pushkey(e, m[i].name, m[i].namelen);
		if (putstring(e, m[i].name, m[i].namelen) != 0 ||
		    put(e->buf, ":", 1) != 0 || encode(e, m[i].value) != 0)
			goto free_members;
		pop(e, old);
	}
	if (put(e->buf, "}", 1) != 0) {
		nomem(e);
		goto free_members;
	}
	rc = 0;
free_members:
	for (i = 0; i < n; i++)
		free(m[i].u16);
	free(m);
	return rc;
}

static int
encode(struct enc *e, json_t *v)
{
	char num[32];
	json_int_t iv;
	size_t i, old;
	int n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return encodeobject(e, v);
	case JSON_ARRAY:
		if (put(e->buf, "[", 1) != 0)
			return nomem(e);
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0 && put(e->buf, ",", 1) != 0)
				return nomem(e);
			old = pushindex(e, i);
			if (encode(e, json_array_get(v, i)) != 0)
				return -1;
			pop(e, old);
		}
		if (put(e->buf, "]", 1) != 0)
			return nomem(e);
		return 0;
	case JSON_STRING:
		return putstring(e, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		iv = json_integer_value(v);
		if (iv > JCS_INT_MAX || iv < -JCS_INT_MAX)
			return fail(e, "integer beyond 2^53-1");
		n = snprintf(num, sizeof(num), "%lld", (long long)iv);
		if (put(e->buf, num, (size_t)n) != 0)
			return nomem(e);
		return 0;
	case JSON_REAL:
		return fail(e, "real number");
	case JSON_TRUE:
		return put(e->buf, "true", 4) != 0 ? nomem(e) : 0;
	case JSON_FALSE:
		return put(e->buf, "false", 5) != 0 ? nomem(e) : 0;
	case JSON_NULL:
		return put(e->buf, "null", 4) != 0 ? nomem(e) : 0;
	}
	return fail(e, "unknown JSON type");
}

int
jcs_encode(json_t *v, struct jcsbuf *buf, char *err, size_t errlen)
{
	struct enc e;

	memset(&e, 0, sizeof(e));
	e.buf = buf;
	e.err = err;
	e.errlen = errlen;
	if (v == NULL)
		return nomem(&e);
	return encode(&e, v);
}
