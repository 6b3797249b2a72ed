/*
 * Base64, RFC 4648 section 4: standard alphabet, padding required.
 */
#include <stdint.h>

#include "b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int
value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
b64_decode(const char *in, size_t len, void *out)
{
	uint8_t *o = out;
	size_t i, n = 0;
	int a, b, c, d;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		a = value(in[i]);
		b = value(in[i + 1]);
		if (a < 0 || b < 0)
			return -1;
		o[n++] = (uint8_t)(a << 2 | b >> 4);
		if (in[i + 2] == '=') {
			/* "xx==" only at the very end, with no stray bits. */
			if (i + 4 != len || in[i + 3] != '=' || (b & 15) != 0)
				return -1;
			break;
		}
		c = value(in[i + 2]);
		if (c < 0)
			return -1;
		o[n++] = (uint8_t)((b & 15) << 4 | c >> 2);
		if (in[i + 3] == '=') {
			if (i + 4 != len || (c & 3) != 0)
				return -1;
			break;
		}
		d = value(in[i + 3]);
		if (d < 0)
			return -1;
		o[n++] = (uint8_t)((c & 3) << 6 | d);
	}
	return (long)n;
}
