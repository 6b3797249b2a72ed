/* Strict UTF-8 (RFC 3629), one place for every tool. */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

/*
 * Decode the sequence at s[*i] (s holds len bytes): no overlong forms, no
 * surrogates, nothing above U+10FFFF, no sequence cut short by len.
 * Returns the code point and advances *i past it, or returns -1 and leaves
 * *i alone.  NUL decodes as 0; callers that refuse it check for that.
 */
long	utf8_decode(const unsigned char *s, size_t len, size_t *i);

#endif
