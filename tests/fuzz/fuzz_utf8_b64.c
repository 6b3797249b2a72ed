/*
 * fuzz_utf8_b64: lib/utf8.c against an independent reading of RFC 3629,
 * and lib/b64.c against the rule that strict base64 is a bijection.
 *
 * The input is used three ways: as bytes to decode as UTF-8, as bytes to
 * encode and decode again, and as text to decode as base64.  Any
 * disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "utf8.h"
#include "fuzz.h"

/*
 * RFC 3629 section 4, the table of well-formed byte sequences, read
 * literally.  Returns the length of the sequence at s (and its code point
 * in *cp), or 0 if none starts there.
 */
static size_t
refdecode(const uint8_t *s, size_t len, long *cp)
{
	static const struct {
		uint8_t	lo[4], hi[4];
		size_t	n;
	} rows[] = {
		{ { 0x00 }, { 0x7f }, 1 },
		{ { 0xc2, 0x80 }, { 0xdf, 0xbf }, 2 },
		{ { 0xe0, 0xa0, 0x80 }, { 0xe0, 0xbf, 0xbf }, 3 },
		{ { 0xe1, 0x80, 0x80 }, { 0xec, 0xbf, 0xbf }, 3 },
		{ { 0xed, 0x80, 0x80 }, { 0xed, 0x9f, 0xbf }, 3 },
		{ { 0xee, 0x80, 0x80 }, { 0xef, 0xbf, 0xbf }, 3 },
		{ { 0xf0, 0x90, 0x80, 0x80 }, { 0xf0, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf1, 0x80, 0x80, 0x80 }, { 0xf3, 0xbf, 0xbf, 0xbf }, 4 },
		{ { 0xf4, 0x80, 0x80, 0x80 }, { 0xf4, 0x8f, 0xbf, 0xbf }, 4 },
	};
	static const uint8_t lead[] = { 0, 0, 0x1f, 0x0f, 0x07 };
	size_t r, k;

	for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		if (rows[r].n > len)
			continue;
		for (k = 0; k < rows[r].n; k++)
			if (s[k] < rows[r].lo[k] || s[k] > rows[r].hi[k])
				break;
		if (k < rows[r].n)
			continue;
		if (rows[r].n == 1) {
			*cp = s[0];
			return 1;
		}
		*cp = s[0] & lead[rows[r].n];
		for (k = 1; k < rows[r].n; k++)
			*cp = *cp << 6 | (s[k] & 0x3f);
		return rows[r].n;
	}
	return 0;
}

static void
checkutf8(const uint8_t *data, size_t size)
{
	size_t i = 0, j, n;
	long c, want;

	/* Walk the input; at a bad byte both sides skip one byte. */
	while (i < size) {
		j = i;
		c = utf8_decode(data, size, &j);
		n = refdecode(data + i, size - i, &want);
		if (n == 0) {
			CHECK(c == -1);
			CHECK(j == i);
			i++;
		} else {
			CHECK(c == want);
			CHECK(j == i + n);
			i = j;
		}
	}
	/* At or past the end there is nothing to decode. */
	j = size;
	CHECK(utf8_decode(data, size, &j) == -1 && j == size);
}

static int
b64char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int
b64val(uint8_t c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/";

	return (int)(strchr(a, c) - a);
}

/*
 * Strict RFC 4648: groups of four alphabet characters, the last group
 * optionally "xx==" or "xxx=", with the bits the padding drops all zero.
 */
static int
refb64valid(const uint8_t *s, size_t len)
{
	size_t i, pad = 0;

	if (len % 4 != 0)
		return 0;
	if (len >= 1 && s[len - 1] == '=')
		pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!b64char(s[i]))
			return 0;
	if (pad == 2)
		return (b64val(s[len - 3]) & 15) == 0;
	if (pad == 1)
		return (b64val(s[len - 2]) & 3) == 0;
	return 1;
}

static void
checkb64(const uint8_t *data, size_t size)
{
	char *enc;
	uint8_t *dec;
	size_t n;
	long m;

	/* Encode, decode: the same bytes.  Buffers are exact, for ASan. */
	if ((enc = malloc(B64_ENCLEN(size))) == NULL)
		abort();
	n = b64_encode(data, size, enc);
	CHECK(n == B64_ENCLEN(size) - 1 && strlen(enc) == n);
	CHECK(refb64valid((const uint8_t *)enc, n));
	if ((dec = malloc(n / 4 * 3)) == NULL && n > 0)
		abort();
	m = b64_decode(enc, n, dec);
	CHECK(m >= 0 && (size_t)m == size);
	CHECK(size == 0 || memcmp(dec, data, size) == 0);
	free(dec);
	free(enc);

	/*
	 * The input as base64 text: accepted exactly when strictly valid,
	 * and then encoding the result gives back the very same text.
	 */
	if ((dec = malloc(size / 4 * 3)) == NULL && size >= 4)
		abort();
	m = b64_decode((const char *)data, size, dec);
	CHECK((m >= 0) == refb64valid(data, size));
	if (m >= 0) {
		CHECK((size_t)m <= size / 4 * 3);
		if ((enc = malloc(B64_ENCLEN((size_t)m))) == NULL)
			abort();
		n = b64_encode(dec, (size_t)m, enc);
		CHECK(n == size && memcmp(enc, data, size) == 0);
		free(enc);
	}
	free(dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	checkutf8(data, size);
	checkb64(data, size);
	return 0;
}
