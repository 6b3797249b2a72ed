/*
 * Strict UTF-8 decoding (RFC 3629 section 3), shared by the JSON-lines
 * reader, the canonical JSON encoder and airlock-muxd.
 */
#include "utf8.h"

long
utf8_decode(const unsigned char *s, size_t len, size_t *i)
{
	unsigned long c, min;
	size_t n, k;

	if (*i >= len)
		return -1;
	c = s[*i];
	if (c < 0x80) {
		(*i)++;
		return (long)c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		min = 0x80;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		min = 0x800;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		min = 0x10000;
		c &= 0x07;
	} else
		return -1;
	for (k = 1; k <= n; k++) {
		if (*i + k >= len || (s[*i + k] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[*i + k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*i += n + 1;
	return (long)c;
}
