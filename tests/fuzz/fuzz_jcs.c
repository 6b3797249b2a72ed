/*
 * fuzz_jcs: the canonical JSON encoder that airlock-sign hashes and signs
 * with (airlock-sign/jcs.c, RFC 8785 for integers).
 *
 * The first byte picks the mode.  Most inputs are JSON texts parsed by
 * jansson, as airlock-sign parses records.  With the first byte 'R' the
 * rest is read as a small program that builds values jansson's parser
 * never makes: strings and member names of arbitrary bytes, integers of
 * any size.  Either way the encoder must:
 *
 *   refuse every real number, every integer beyond 2^53-1 and every
 *   string or name that is not strict UTF-8, and accept everything else;
 *   when it accepts, produce strict UTF-8 JSON that parses back to an
 *   equal value, and canonicalise that value again to the same bytes;
 *   when it refuses, say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jcs.h"
#include "utf8.h"
#include "fuzz.h"

static int
isutf8(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len)
		if (utf8_decode((const unsigned char *)s, len, &i) < 0)
			return 0;
	return 1;
}

/* Whether v has a canonical form: what the encoder must accept. */
static int
encodable(json_t *v)
{
	const char *k;
	json_t *m;
	size_t i, klen;
	json_int_t n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_keylen_foreach(v, k, klen, m)
			if (!isutf8(k, klen) || !encodable(m))
				return 0;
		return 1;
	case JSON_ARRAY:
		json_array_foreach(v, i, m)
			if (!encodable(m))
				return 0;
		return 1;
	case JSON_STRING:
		return isutf8(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		n = json_integer_value(v);
		return n <= JCS_INT_MAX && n >= -JCS_INT_MAX;
	case JSON_REAL:
		return 0;
	default:
		return 1;
	}
}

/*
 * Build a value from bytes: each step reads an opcode byte and its
 * operands.  Containers nest up to a small depth so that values stay
 * small.  Strings and names are taken raw, unchecked, which is how a
 * record built by code (not parsed) could reach the encoder.
 */
struct prog {
	const uint8_t	*p;
	size_t		 n;
};

static int
take(struct prog *g, size_t want, const uint8_t **out)
{
	if (g->n < want)
		return 0;
	*out = g->p;
	g->p += want;
	g->n -= want;
	return 1;
}

static json_t *
build(struct prog *g, int depth)
{
	const uint8_t *b, *s;
	json_t *v, *m;
	json_int_t iv;
	size_t len, i, count;
	char name[64];

	if (!take(g, 1, &b))
		return json_null();
	switch (b[0] % 8) {
	case 0:		/* a string of raw bytes, length first */
	case 1:
		if (!take(g, 1, &s))
			return json_string("");
		len = s[0] % 32;
		if (!take(g, len, &s))
			return json_string("");
		return json_stringn_nocheck((const char *)s, len);
	case 2:		/* an integer of any size, 8 bytes */
		if (!take(g, 8, &s))
			return json_integer(0);
		for (iv = 0, i = 0; i < 8; i++)
			iv = (json_int_t)((uint64_t)iv << 8 | s[i]);
		return json_integer(iv);
	case 3:
		return json_real(b[0] / 8);
	case 4:		/* an array of up to 4 members */
		v = json_array();
		count = depth < 6 ? b[0] / 8 % 5 : 0;
		for (i = 0; i < count; i++)
			json_array_append_new(v, build(g, depth + 1));
		return v;
	case 5:		/* an object of up to 4 members, raw names */
		v = json_object();
		count = depth < 6 ? b[0] / 8 % 5 : 0;
		for (i = 0; i < count; i++) {
			if (!take(g, 1, &s))
				break;
			len = s[0] % sizeof(name);
			if (!take(g, len, &s))
				break;
			memcpy(name, s, len);
			m = build(g, depth + 1);
			json_object_setn_new_nocheck(v, name, len, m);
		}
		return v;
	case 6:
		return json_boolean(b[0] & 8);
	default:
		return json_null();
	}
}

/*
 * RFC 8785 section 3.2.3: members in ascending order of their names'
 * UTF-16 code units.  jansson keeps the order it parsed, so the order of
 * the canonical text can be read back from the parsed value.
 */
static int
u16cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	size_t i = 0, j = 0;
	long c, d;
	unsigned u, w;

	while (i < alen && j < blen) {
		c = utf8_decode(x, alen, &i);
		d = utf8_decode(y, blen, &j);
		CHECK(c >= 0 && d >= 0);
		/* The first (or only) code unit of each decides, or ties. */
		u = c >= 0x10000 ? 0xd800 | ((c - 0x10000) >> 10) : (unsigned)c;
		w = d >= 0x10000 ? 0xd800 | ((d - 0x10000) >> 10) : (unsigned)d;
		if (u != w)
			return u < w ? -1 : 1;
		u = c >= 0x10000 ? 0xdc00 | ((c - 0x10000) & 0x3ff) : 0;
		w = d >= 0x10000 ? 0xdc00 | ((d - 0x10000) & 0x3ff) : 0;
		if (u != w)
			return u < w ? -1 : 1;
	}
	return (i < alen) - (j < blen);
}

static void
checkorder(json_t *v)
{
	const char *k, *prev = NULL;
	size_t klen, prevlen = 0, i;
	json_t *m;

	if (json_is_object(v)) {
		json_object_keylen_foreach(v, k, klen, m) {
			if (prev != NULL)
				CHECK(u16cmp(prev, prevlen, k, klen) < 0);
			prev = k;
			prevlen = klen;
			checkorder(m);
		}
	} else if (json_is_array(v))
		json_array_foreach(v, i, m)
			checkorder(m);
}

static void
check(json_t *v)
{
	struct jcsbuf a = { 0 }, b = { 0 };
	json_error_t je;
	json_t *back;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = jcs_encode(v, &a, err, sizeof(err));
	CHECK((rc == 0) == encodable(v));
	if (rc != 0) {
		CHECK(rc == -1 && err[0] != '\0');
		goto free_a;
	}
	/* Strict UTF-8, parses back, means the same, and is a fixed point. */
	CHECK(isutf8(a.data, a.len));
	CHECK(memchr(a.data, '\n', a.len) == NULL);
	back = json_loadb(a.data, a.len, JSON_DECODE_ANY | JSON_ALLOW_NUL |
	    JSON_REJECT_DUPLICATES, &je);
	if (back == NULL) {
		/* jansson reads no NUL in a name, though it can hold one. */
		CHECK(json_error_code(&je) == json_error_null_byte_in_key);
		goto free_a;
	}
	CHECK(json_equal(back, v));
	checkorder(back);
	CHECK(jcs_encode(back, &b, err, sizeof(err)) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	/* A reused buffer gives the same bytes as a fresh one. */
	jcsbuf_reset(&b);
	CHECK(jcs_encode(v, &b, err, sizeof(err)) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	json_decref(back);
	jcsbuf_free(&b);
free_a:
	jcsbuf_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prog g;
	json_error_t je;
	json_t *v;

	if (size > 0 && data[0] == 'R') {
		g.p = data + 1;
		g.n = size - 1;
		v = build(&g, 0);
	} else
		v = json_loadb((const char *)data, size, JSON_DECODE_ANY |
		    JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (v == NULL)
		return 0;
	check(v);
	json_decref(v);
	return 0;
}
