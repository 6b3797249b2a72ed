/*
 * Ed25519 keys and signatures in OpenBSD signify's file formats, so that
 * signify-openbsd(1) can use our keys and check our signatures.
 */
#ifndef KEY_H
#define KEY_H

#include <stdint.h>

#include <sodium.h>

#define KEYNUM_LEN	8
#define KEYID_HEXLEN	(2 * KEYNUM_LEN)
#define SIG_LEN		crypto_sign_BYTES

struct seckey {
	uint8_t	keynum[KEYNUM_LEN];
	uint8_t	sk[crypto_sign_SECRETKEYBYTES];	/* seed, then public key */
};

struct pubkey {
	uint8_t	keynum[KEYNUM_LEN];
	uint8_t	pk[crypto_sign_PUBLICKEYBYTES];
};

/*
 * Read a key file strictly; on any fault print a precise message naming
 * the file and exit 111.  Only unencrypted secret keys are accepted.
 */
void	key_readsec(const char *path, struct seckey *);
void	key_readpub(const char *path, struct pubkey *);

/*
 * Generate a key pair and write it to secpath (mode 0600) and pubpath.
 * Each file appears whole or not at all.  Without force an existing file
 * is never replaced.  Returns 0, or -1 with errno set (EEXIST when a file
 * exists) after printing nothing; the caller reports.  *failed names the
 * path that failed.
 */
int	key_generate(const char *secpath, const char *pubpath, int force,
	    const char **failed);

/* The key number as 16 lowercase hex digits plus NUL. */
void	key_idhex(const uint8_t keynum[KEYNUM_LEN], char hex[KEYID_HEXLEN + 1]);

/* Parse 16 lowercase hex digits.  Returns 0, or -1 if s is not that. */
int	key_idparse(const char *s, uint8_t keynum[KEYNUM_LEN]);

/*
 * Write sig as a signify signature file (the form "signify -V -x file"
 * reads) to path, replacing it.  Returns 0, or -1 with errno set.
 */
int	key_writesig(const char *path, const char *comment,
	    const uint8_t keynum[KEYNUM_LEN], const uint8_t sig[SIG_LEN]);

/* Wipe a secret key from memory. */
void	key_wipe(struct seckey *);

#endif
