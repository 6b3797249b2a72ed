/*
 * RFC 8785 JSON Canonicalization Scheme (JCS), restricted to integers:
 * the canonical bytes that airlock-sign hashes and signs.
 */
#ifndef JCS_H
#define JCS_H

#include <stddef.h>

#include <jansson.h>

/*
 * The largest magnitude an integer may have: 2^53 - 1.  Beyond it an
 * ECMAScript number, and so RFC 8785, cannot hold every integer exactly,
 * and an independent verifier would canonicalize it differently.
 */
#define JCS_INT_MAX	9007199254740991LL

/* A growing byte buffer; zero-initialise before first use. */
struct jcsbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/*
 * Append the canonical form of v to buf.  Returns 0, or -1 with err
 * (errlen bytes) set to a sentence saying what could not be encoded and
 * where, for example "real number at erin.payload_bytes"; real numbers,
 * integers beyond JCS_INT_MAX and invalid UTF-8 are refused.  On failure
 * buf holds a partial encoding; reset it before reuse.
 */
int	jcs_encode(json_t *v, struct jcsbuf *buf, char *err, size_t errlen);

void	jcsbuf_reset(struct jcsbuf *);
void	jcsbuf_free(struct jcsbuf *);

#endif
