/*
 * signify's key and signature files.  Each is one line of comment,
 * "untrusted comment: ...", then one line of base64:
 *
 *   secret key  "Ed" "BK" kdfrounds[4] salt[16] checksum[8] keynum[8]
 *               seckey[64]                                  (104 bytes)
 *   public key  "Ed" keynum[8] pubkey[32]                   (42 bytes)
 *   signature   "Ed" keynum[8] sig[64]                      (74 bytes)
 *
 * kdfrounds is big-endian; 0 means no passphrase, the only kind we use.
 * checksum is the first 8 bytes of SHA-512 of seckey.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "airlock.h"
#include "b64.h"
#include "key.h"

#define COMMENTHDR	"untrusted comment: "
#define COMMENTMAX	1024		/* signify's cap on a comment */
#define PKALG		"Ed"
#define KDFALG		"BK"

#define SECKEY_LEN	(2 + 2 + 4 + 16 + 8 + KEYNUM_LEN + \
			    crypto_sign_SECRETKEYBYTES)
#define PUBKEY_LEN	(2 + KEYNUM_LEN + crypto_sign_PUBLICKEYBYTES)
#define SIGFILE_LEN	(2 + KEYNUM_LEN + SIG_LEN)

/* Offsets in the secret key. */
#define SK_KDFALG	2
#define SK_ROUNDS	4
#define SK_SALT		8
#define SK_CHECKSUM	24
#define SK_KEYNUM	32
#define SK_KEY		40

/* Largest file we read as a key: a full comment plus the key. */
#define KEYFILE_MAX	(sizeof(COMMENTHDR) + COMMENTMAX + 256)

void
key_wipe(struct seckey *k)
{
	sodium_memzero(k, sizeof(*k));
}

void
key_idhex(const uint8_t keynum[KEYNUM_LEN], char hex[KEYID_HEXLEN + 1])
{
	hexencode(keynum, KEYNUM_LEN, hex);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
key_idparse(const char *s, uint8_t keynum[KEYNUM_LEN])
{
	size_t i;
	int hi, lo;

	if (strlen(s) != KEYID_HEXLEN)
		return -1;
	for (i = 0; i < KEYNUM_LEN; i++) {
		if ((hi = hexval(s[2 * i])) < 0 ||
		    (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		keynum[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Read a whole key file into buf (KEYFILE_MAX bytes) and decode its
 * base64 line into out, which must be exactly want bytes.  Exits 111
 * with a precise message on any fault.
 */
static void
readkeyfile(const char *path, const char *what, uint8_t *out, size_t want)
{
	char buf[KEYFILE_MAX + 1];
	uint8_t raw[KEYFILE_MAX];
	const char *nl, *b64, *end;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	long got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		err(EXIT_SYSTEM, "open %s", path);
	if (fstat(fd, &st) == -1)
		err(EXIT_SYSTEM, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		errx(EXIT_SYSTEM, "%s: not a regular file", path);
	/* Read one byte past the cap to tell a full file from a long one. */
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(EXIT_SYSTEM, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > KEYFILE_MAX)
		errx(EXIT_SYSTEM, "%s: too large to be a %s", path, what);
	end = buf + len;
	if (len < sizeof(COMMENTHDR) - 1 ||
	    memcmp(buf, COMMENTHDR, sizeof(COMMENTHDR) - 1) != 0)
		errx(EXIT_SYSTEM, "%s: does not start with \"%s\"", path,
		    COMMENTHDR);
	if ((nl = memchr(buf, '\n', len)) == NULL)
		errx(EXIT_SYSTEM, "%s: no newline after the comment", path);
	if ((size_t)(nl - buf) - (sizeof(COMMENTHDR) - 1) > COMMENTMAX)
		errx(EXIT_SYSTEM, "%s: comment longer than %d bytes", path,
		    COMMENTMAX);
	b64 = nl + 1;
	if ((nl = memchr(b64, '\n', (size_t)(end - b64))) == NULL)
		errx(EXIT_SYSTEM, "%s: no newline after the %s", path, what);
	if (nl + 1 != end)
		errx(EXIT_SYSTEM, "%s: data after the %s", path, what);
	/* Decode only what can fit; anything longer has the wrong size. */
	if ((size_t)(nl - b64) / 4 * 3 > sizeof(raw))
		errx(EXIT_SYSTEM, "%s: wrong size for a %s", path, what);
	if ((got = b64_decode(b64, (size_t)(nl - b64), raw)) < 0) {
		sodium_memzero(buf, sizeof(buf));
		errx(EXIT_SYSTEM, "%s: invalid base64", path);
	}
	if ((size_t)got != want) {
		sodium_memzero(buf, sizeof(buf));
		sodium_memzero(raw, sizeof(raw));
		errx(EXIT_SYSTEM, "%s: wrong size for a %s: %ld bytes, "
		    "expected %zu", path, what, got, want);
	}
	memcpy(out, raw, want);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(raw, sizeof(raw));
}

void
key_readsec(const char *path, struct seckey *k)
{
	uint8_t raw[SECKEY_LEN], digest[crypto_hash_sha512_BYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint32_t rounds;
	const char *fault = NULL;

	readkeyfile(path, "secret key", raw, sizeof(raw));
	rounds = (uint32_t)raw[SK_ROUNDS] << 24 |
	    (uint32_t)raw[SK_ROUNDS + 1] << 16 |
	    (uint32_t)raw[SK_ROUNDS + 2] << 8 | raw[SK_ROUNDS + 3];
	if (memcmp(raw, PKALG, 2) != 0)
		fault = "not an Ed25519 key";
	else if (memcmp(raw + SK_KDFALG, KDFALG, 2) != 0)
		fault = "unknown key derivation (not bcrypt_pbkdf)";
	else if (rounds != 0)
		fault = "encrypted with a passphrase; airlock-sign needs an "
		    "unencrypted key (signify -G -n)";
	if (fault == NULL) {
		crypto_hash_sha512(digest, raw + SK_KEY,
		    crypto_sign_SECRETKEYBYTES);
		if (sodium_memcmp(digest, raw + SK_CHECKSUM, 8) != 0)
			fault = "checksum mismatch: corrupt secret key";
	}
	if (fault == NULL) {
		/*
		 * The key's second half is its public key; recompute it from
		 * the seed so a damaged half cannot make bad signatures.
		 */
		crypto_sign_seed_keypair(pk, sk, raw + SK_KEY);
		if (sodium_memcmp(sk, raw + SK_KEY, sizeof(sk)) != 0)
			fault = "public half does not match: corrupt secret "
			    "key";
	}
	if (fault == NULL) {
		memcpy(k->keynum, raw + SK_KEYNUM, KEYNUM_LEN);
		memcpy(k->sk, raw + SK_KEY, sizeof(k->sk));
	}
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(digest, sizeof(digest));
	sodium_memzero(sk, sizeof(sk));
	if (fault != NULL)
		errx(EXIT_SYSTEM, "%s: %s", path, fault);
}

void
key_readpub(const char *path, struct pubkey *k)
{
	uint8_t raw[PUBKEY_LEN];

	readkeyfile(path, "public key", raw, sizeof(raw));
	if (memcmp(raw, PKALG, 2) != 0)
		errx(EXIT_SYSTEM, "%s: not an Ed25519 key", path);
	memcpy(k->keynum, raw + 2, KEYNUM_LEN);
	memcpy(k->pk, raw + 2 + KEYNUM_LEN, sizeof(k->pk));
}

/* fsync the directory holding path, so a rename or link in it is durable. */
static int
syncdir(const char *path)
{
	char *copy;
	int fd, rc, saved;

	if ((copy = strdup(path)) == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd == -1)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static int
writeall(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Write "comment line, base64 line" to path so that it appears whole or
 * not at all: a temporary file, then link(2), which fails with EEXIST
 * rather than replace, or with force rename(2), which replaces.
 */
static int
writekeyfile(const char *path, const char *comment, const uint8_t *raw,
    size_t len, mode_t mode, int force)
{
	char b64[B64_ENCLEN(SECKEY_LEN)], *tmp;
	int fd, saved;

	if (asprintf(&tmp, "%s.XXXXXX", path) == -1)
		return -1;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		goto free_tmp;
	b64_encode(raw, len, b64);
	if (fchmod(fd, mode) == -1 ||
	    writeall(fd, COMMENTHDR, sizeof(COMMENTHDR) - 1) == -1 ||
	    writeall(fd, comment, strlen(comment)) == -1 ||
	    writeall(fd, "\n", 1) == -1 ||
	    writeall(fd, b64, strlen(b64)) == -1 ||
	    writeall(fd, "\n", 1) == -1 ||
	    fsync(fd) == -1)
		goto wipe_b64;
	sodium_memzero(b64, sizeof(b64));
	if (close(fd) == -1) {
		fd = -1;
		goto unlink_tmp;
	}
	fd = -1;
	if (force ? rename(tmp, path) == -1 : link(tmp, path) == -1)
		goto unlink_tmp;
	if (!force)
		unlink(tmp);
	free(tmp);
	return syncdir(path);

wipe_b64:
	sodium_memzero(b64, sizeof(b64));
unlink_tmp:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
free_tmp:
	saved = errno;
	free(tmp);
	errno = saved;
	return -1;
}

/* Whether path exists (or cannot be checked); sets errno and *failed. */
static int
exists(const char *path, const char **failed)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		errno = EEXIST;
	else if (errno == ENOENT)
		return 0;
	*failed = path;
	return 1;
}

int
key_generate(const char *secpath, const char *pubpath, int force,
    const char **failed)
{
	uint8_t sec[SECKEY_LEN], pub[PUBKEY_LEN];
	uint8_t digest[crypto_hash_sha512_BYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	int rc = -1, saved;

	/* Refuse before writing anything, so no half pair is left. */
	if (!force && (exists(secpath, failed) || exists(pubpath, failed)))
		return -1;
	memcpy(sec, PKALG, 2);
	memcpy(sec + SK_KDFALG, KDFALG, 2);
	memset(sec + SK_ROUNDS, 0, 4);
	randombytes_buf(sec + SK_SALT, 16);
	randombytes_buf(sec + SK_KEYNUM, KEYNUM_LEN);
	crypto_sign_keypair(pk, sec + SK_KEY);
	crypto_hash_sha512(digest, sec + SK_KEY, crypto_sign_SECRETKEYBYTES);
	memcpy(sec + SK_CHECKSUM, digest, 8);
	memcpy(pub, PKALG, 2);
	memcpy(pub + 2, sec + SK_KEYNUM, KEYNUM_LEN);
	memcpy(pub + 2 + KEYNUM_LEN, pk, sizeof(pk));

	if (writekeyfile(secpath, "airlock-sign secret key", sec, sizeof(sec),
	    0600, force) == -1) {
		*failed = secpath;
		goto wipe;
	}
	if (writekeyfile(pubpath, "airlock-sign public key", pub, sizeof(pub),
	    0644, force) == -1) {
		/* Leave no secret key without its public half. */
		saved = errno;
		unlink(secpath);
		errno = saved;
		*failed = pubpath;
		goto wipe;
	}
	rc = 0;
wipe:
	saved = errno;
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(digest, sizeof(digest));
	errno = saved;
	return rc;
}

int
key_writesig(const char *path, const char *comment,
    const uint8_t keynum[KEYNUM_LEN], const uint8_t sig[SIG_LEN])
{
	uint8_t raw[SIGFILE_LEN];
	char b64[B64_ENCLEN(SIGFILE_LEN)];
	FILE *fp;

	memcpy(raw, PKALG, 2);
	memcpy(raw + 2, keynum, KEYNUM_LEN);
	memcpy(raw + 2 + KEYNUM_LEN, sig, SIG_LEN);
	b64_encode(raw, sizeof(raw), b64);
	if ((fp = fopen(path, "we")) == NULL)
		return -1;
	fprintf(fp, "%s%s\n%s\n", COMMENTHDR, comment, b64);
	if (fclose(fp) == EOF)
		return -1;
	return 0;
}
