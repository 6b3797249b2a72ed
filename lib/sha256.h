/*
 * SHA-256 (FIPS 180-4).  Our own small implementation so that tools other
 * than airlock-sign need not link libsodium (STYLE.md: only airlock-sign
 * does).  Tested against the FIPS 180-2 vectors in tests/.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32
#define SHA256_HEXLEN	64

struct sha256 {
	uint32_t	h[8];
	uint64_t	n;		/* bytes hashed so far */
	uint8_t		buf[64];
	size_t		fill;
};

void	sha256_init(struct sha256 *);
void	sha256_update(struct sha256 *, const void *, size_t);
void	sha256_final(struct sha256 *, uint8_t out[SHA256_LEN]);

/* One call: hex digest (SHA256_HEXLEN + 1 bytes, lowercase) of buf. */
void	sha256_hex(const void *buf, size_t len, char *hex);
/* Lowercase hex of a raw digest. */
void	sha256_tohex(const uint8_t d[SHA256_LEN], char *hex);

#endif
