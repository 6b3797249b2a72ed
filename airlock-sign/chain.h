/*
 * The signer's chain state: which key, the last sequence number issued
 * and the content hash of that token.  It survives restarts, is written
 * atomically (chain.c says how), and is locked for as long as a signer
 * runs.
 */
#ifndef CHAIN_H
#define CHAIN_H

#include <stdint.h>

#include "key.h"

/* "sha256:" and 64 hex digits. */
#define HASH_STRLEN	(7 + 64)

/* The parent of seq 1: "sha256:" and 64 zeros. */
extern const char chain_genesis[HASH_STRLEN + 1];

struct chain {
	char		*path;		/* the state file */
	char		*tmppath;	/* its replacement while written */
	int		 lockfd;	/* flock(2)ed for our lifetime */
	int		 dirfd;		/* its directory, for fsync */
	int		 fd;		/* the state file, written in place */
	char		 keyid[KEYID_HEXLEN + 1];
	uint64_t	 seq;		/* last seq issued, 0 before any */
	char		 last[HASH_STRLEN + 1];	/* its content_hash */
};

/*
 * Lock and load the state at path for the key keyid, or start a new chain
 * if the file does not exist.  With wait, block until another signer lets
 * go; without, fail at once.  Exits 111 with a precise message on failure.
 */
void	chain_open(struct chain *, const char *path, const char *keyid,
	    int wait);

/*
 * Make sure the state file exists and is open for writing in place, so
 * that from now on chain_commit() needs nothing but pwrite(2) and
 * fdatasync(2) on it (airlock-sign narrows itself to those).  A new chain
 * gets a state of seq 0.  Exits 111 on failure.
 */
void	chain_ready(struct chain *);

/*
 * Record in memory that seq with content hash hash was issued.  Nothing
 * signed under it may be written out before chain_commit() returns.
 */
void	chain_stage(struct chain *, uint64_t seq, const char *hash);

/*
 * Make the staged state durable: overwrite the state file in place and
 * fdatasync it, or for a chain's first state write a new file, fsync it,
 * rename it into place and fsync the directory.  Only then may the tokens
 * staged so far be written out.  Exits 111 on failure, since a token
 * without durable state could reuse its seq.
 */
void	chain_commit(struct chain *);

/* Whether s is "sha256:" and 64 lowercase hex digits. */
int	chain_ishash(const char *s);

#endif
