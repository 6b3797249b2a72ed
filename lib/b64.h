/* Base64 (RFC 4648, standard alphabet, padded). */
#ifndef B64_H
#define B64_H

#include <stddef.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define B64_ENCLEN(n)	((((n) + 2) / 3) * 4 + 1)

/* Encode; out must hold B64_ENCLEN(len).  Returns the length written. */
size_t	b64_encode(const void *in, size_t len, char *out);

/*
 * Decode strictly (padding required, no whitespace).  out must hold
 * len / 4 * 3 bytes.  Returns the decoded length, or -1 if in is not
 * valid base64.
 */
long	b64_decode(const char *in, size_t len, void *out);

#endif
