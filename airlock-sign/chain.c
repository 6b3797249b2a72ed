/*
 * Chain state.  The file holds one JSON object:
 *
 *   {"v":1,"key_id":"<16 hex>","seq":<last seq issued>,
 *    "last_hash":"sha256:<hex of that token's content hash>"}
 *
 * (seq 0 and the genesis hash for a chain that has issued nothing yet),
 * or, while a lease is out,
 *
 *   {"v":2,"key_id":"<16 hex>","seq":<a seq known issued>,
 *    "last_hash":"sha256:<its content hash>","lease":<highest seq that
 *    may have been issued>}
 *
 * padded with spaces to STATE_LEN bytes and a newline.  Version 2 is a
 * version of its own so that a signer that knows no leases refuses it
 * rather than issue a leased seq again.  "<state>.lock" is flock(2)ed by
 * the one signer allowed to extend the chain.
 *
 * The rule that keeps a seq from being issued twice: no token leaves the
 * signer before a durable state's lease (seq, in version 1) covers it.
 * Syncing every batch, the state is that of the batch's last token, saved
 * before the batch is written: a crash can lose that batch (a gap that
 * airlock-sign -V reports) but never issue a seq twice or fork the chain.
 * With a lease, a sync reserves the next `reserve` seqs at once, and the
 * batches under it are written without one; after each, its last token is
 * noted as issued, in place but not synced.  A signer that finds lease >
 * seq cannot know which of the seqs between were issued, so it skips them
 * all: its first token is a restart token at lease + 1 (token.c).  A
 * clean end saves the exact state, and the next signer goes on from it.
 *
 * Durability is the signer's whole latency, so the state is made once in a
 * new file (write, fsync, rename, fsync the directory) and from then on
 * overwritten in place and fdatasync(2)ed: on this project's machine
 * 0.15 ms a batch instead of 1 ms (12 ms at the 90th percentile).  That
 * relies on what PostgreSQL's pg_control relies on: a write of one disk
 * sector (512 bytes) is atomic, so after a crash the file holds an older
 * state or the newer one, whole.  STATE_LEN keeps it inside one sector.
 * Any state that may be found after a crash has a lease no lower than the
 * last synced one: unsynced writes only ever move seq forward.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "chain.h"
#include "jcs.h"

#define STATE_MAX	4096
#define STATE_LEN	256	/* written in place: within one sector */

const char chain_genesis[HASH_STRLEN + 1] =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

int
chain_ishash(const char *s)
{
	size_t i;

	if (strlen(s) != HASH_STRLEN || strncmp(s, "sha256:", 7) != 0)
		return 0;
	for (i = 7; i < HASH_STRLEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void
corrupt(const char *path, const char *why)
{
	errx(EXIT_SYSTEM, "%s: corrupt chain state: %s", path, why);
}

/* Load an existing state file; returns 0 if there is none. */
static int
load(struct chain *c)
{
	char buf[STATE_MAX + 1];
	uint8_t keynum[KEYNUM_LEN];
	json_error_t je;
	json_t *st, *v;
	const char *s;
	json_int_t version;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return 0;
		err(EXIT_SYSTEM, "open %s", c->path);
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(EXIT_SYSTEM, "read %s", c->path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > STATE_MAX)
		corrupt(c->path, "too large");
	st = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (st == NULL)
		corrupt(c->path, je.text);
	v = json_object_get(st, "v");
	version = json_is_integer(v) ? json_integer_value(v) : 0;
	if (version != 1 && version != 2)
		corrupt(c->path, "\"v\" is not 1 or 2");
	s = json_string_value(json_object_get(st, "key_id"));
	if (s == NULL || key_idparse(s, keynum) != 0)
		corrupt(c->path, "no valid \"key_id\"");
	if (strcmp(s, c->keyid) != 0)
		errx(EXIT_SYSTEM, "%s: chain state belongs to key %s, not to "
		    "key %s", c->path, s, c->keyid);
	v = json_object_get(st, "seq");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) >= JCS_INT_MAX)
		corrupt(c->path, "no valid \"seq\"");
	c->saved = (uint64_t)json_integer_value(v);
	s = json_string_value(json_object_get(st, "last_hash"));
	if (s == NULL || !chain_ishash(s))
		corrupt(c->path, "no valid \"last_hash\"");
	/* Seq 0: a chain made ready (chain_ready) with nothing signed yet. */
	if (c->saved == 0 && strcmp(s, chain_genesis) != 0)
		corrupt(c->path, "seq 0 after the genesis hash");
	memcpy(c->savedhash, s, sizeof(c->savedhash));
	c->lease = c->saved;
	if (version == 2) {
		v = json_object_get(st, "lease");
		if (!json_is_integer(v) || json_integer_value(v) <
		    (json_int_t)c->saved || json_integer_value(v) > JCS_INT_MAX)
			corrupt(c->path, "no valid \"lease\"");
		c->lease = (uint64_t)json_integer_value(v);
	}
	json_decref(st);
	return 1;
}

/*
 * Keep the state file open for writing in place, if it has the padded
 * size (an older, unpadded one is replaced once, by the rename path).
 */
static void
inplace(struct chain *c)
{
	struct stat st;
	int fd;

	if ((fd = open(c->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY)) == -1)
		err(EXIT_SYSTEM, "open %s", c->path);
	if (fstat(fd, &st) == -1)
		err(EXIT_SYSTEM, "fstat %s", c->path);
	if (!S_ISREG(st.st_mode) || st.st_size != STATE_LEN) {
		close(fd);
		return;
	}
	c->fd = fd;
}

void
chain_open(struct chain *c, const char *path, const char *keyid,
    uint64_t reserve, int wait)
{
	char *lockpath, *copy;

	memset(c, 0, sizeof(*c));
	if ((c->path = strdup(path)) == NULL ||
	    asprintf(&c->tmppath, "%s.tmp", path) == -1 ||
	    asprintf(&lockpath, "%s.lock", path) == -1 ||
	    (copy = strdup(path)) == NULL)
		err(EXIT_SYSTEM, "chain state");
	memcpy(c->keyid, keyid, sizeof(c->keyid));
	c->reserve = reserve;

	/*
	 * One signer per chain: a second one would read the same state and
	 * issue the same seq with a different token, forking the chain.  The
	 * lock lives on its own file because the state file is replaced by
	 * rename(2) and a lock on it would stay with the old inode.
	 */
	c->lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (c->lockfd == -1)
		err(EXIT_SYSTEM, "open %s", lockpath);
	while (flock(c->lockfd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			errx(EXIT_SYSTEM, "%s: chain in use by another signer",
			    path);
		err(EXIT_SYSTEM, "flock %s", lockpath);
	}
	free(lockpath);
	if ((c->dirfd = open(dirname(copy), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		err(EXIT_SYSTEM, "open %s", copy);
	free(copy);

	c->fd = -1;
	if (!load(c)) {
		c->saved = c->lease = 0;
		memcpy(c->savedhash, chain_genesis, sizeof(c->savedhash));
	} else
		inplace(c);
	/*
	 * Seqs saved + 1 to lease may have been issued, under hashes nobody
	 * kept: the next token is seq lease + 1, a restart token.
	 */
	c->restart = c->lease > c->saved;
	c->seq = c->lease;
	memcpy(c->last, c->savedhash, sizeof(c->last));
}

/*
 * Write the saved state (saved, savedhash, lease): in place, synced if
 * sync, or for a chain's first state as a new file, synced and renamed
 * into place.
 */
static void
save(struct chain *c, int sync)
{
	char buf[STATE_LEN];
	int fd, n;
	ssize_t w;

	if (c->lease == c->saved)
		n = snprintf(buf, sizeof(buf), "{\"v\":1,\"key_id\":\"%s\","
		    "\"seq\":%llu,\"last_hash\":\"%s\"}", c->keyid,
		    (unsigned long long)c->saved, c->savedhash);
	else
		n = snprintf(buf, sizeof(buf), "{\"v\":2,\"key_id\":\"%s\","
		    "\"seq\":%llu,\"last_hash\":\"%s\",\"lease\":%llu}",
		    c->keyid, (unsigned long long)c->saved, c->savedhash,
		    (unsigned long long)c->lease);
	if (n < 0 || (size_t)n >= sizeof(buf))
		errx(EXIT_SYSTEM, "%s: state too long", c->path);
	/* Spaces up to a fixed size, then a newline: still one JSON text. */
	memset(buf + n, ' ', sizeof(buf) - (size_t)n - 1);
	buf[sizeof(buf) - 1] = '\n';

	if (c->fd != -1) {
		/* The common case: one sector rewritten, data synced. */
		do
			w = pwrite(c->fd, buf, sizeof(buf), 0);
		while (w == -1 && errno == EINTR);
		if (w == -1)
			err(EXIT_SYSTEM, "write %s", c->path);
		if (w != (ssize_t)sizeof(buf))
			errx(EXIT_SYSTEM, "write %s: short write", c->path);
		if (sync && fdatasync(c->fd) == -1)
			err(EXIT_SYSTEM, "fdatasync %s", c->path);
		return;
	}

	/* The first state of a chain: a new file, renamed into place. */
	fd = open(c->tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		err(EXIT_SYSTEM, "open %s", c->tmppath);
	do
		w = write(fd, buf, sizeof(buf));
	while (w == -1 && errno == EINTR);
	if (w == -1)
		err(EXIT_SYSTEM, "write %s", c->tmppath);
	if (w != (ssize_t)sizeof(buf))
		errx(EXIT_SYSTEM, "write %s: short write", c->tmppath);
	if (fsync(fd) == -1)
		err(EXIT_SYSTEM, "fsync %s", c->tmppath);
	if (close(fd) == -1)
		err(EXIT_SYSTEM, "close %s", c->tmppath);
	if (rename(c->tmppath, c->path) == -1)
		err(EXIT_SYSTEM, "rename %s to %s", c->tmppath, c->path);
	if (fsync(c->dirfd) == -1)
		err(EXIT_SYSTEM, "fsync the directory of %s", c->path);
	inplace(c);
}

void
chain_ready(struct chain *c)
{
	if (c->fd == -1)
		save(c, 1);
}

void
chain_stage(struct chain *c, uint64_t seq, const char *hash)
{
	c->seq = seq;
	memcpy(c->last, hash, sizeof(c->last));
	c->restart = 0;
}

int
chain_commit(struct chain *c)
{
	if (c->reserve == 0) {
		/* A sync per batch: the exact state, before the batch. */
		c->saved = c->lease = c->seq;
		memcpy(c->savedhash, c->last, sizeof(c->savedhash));
		save(c, 1);
		return 1;
	}
	if (c->seq <= c->lease)
		return 0;
	/*
	 * A new lease, from the last token known issued: the batch about to
	 * be written is not, yet.
	 */
	c->lease = c->seq + c->reserve;
	if (c->lease > (uint64_t)JCS_INT_MAX)
		c->lease = (uint64_t)JCS_INT_MAX;
	save(c, 1);
	return 1;
}

void
chain_issued(struct chain *c)
{
	if (c->reserve == 0 || c->restart || c->saved == c->seq)
		return;
	c->saved = c->seq;
	memcpy(c->savedhash, c->last, sizeof(c->savedhash));
	save(c, 0);
}

void
chain_close(struct chain *c)
{
	/*
	 * A restart still owed (nothing signed since the state was found
	 * with a lease out) keeps the state as it is: the seqs it skips may
	 * have been issued.
	 */
	if (c->restart || (c->saved == c->seq && c->lease == c->seq))
		return;
	c->saved = c->lease = c->seq;
	memcpy(c->savedhash, c->last, sizeof(c->savedhash));
	save(c, 1);
}
