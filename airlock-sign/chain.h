/*
 * The signer's chain state: which key, the last token known to have been
 * issued (its seq and content_hash) and the lease, the highest seq that
 * may have been issued.  It survives restarts, is written atomically
 * (chain.c says how), and is locked for as long as a signer runs.
 */
#ifndef CHAIN_H
#define CHAIN_H

#include <stdint.h>

#include "key.h"

/* "sha256:" and 64 hex digits. */
#define HASH_STRLEN	(7 + 64)

/* The parent of seq 1: "sha256:" and 64 zeros. */
extern const char chain_genesis[HASH_STRLEN + 1];

/* The sequence numbers one sync reserves, unless -l says otherwise. */
#define CHAIN_LEASE_DEFAULT	1000
#define CHAIN_LEASE_MAX		1000000000

struct chain {
	char		*path;		/* the state file */
	char		*tmppath;	/* its replacement while written */
	int		 lockfd;	/* flock(2)ed for our lifetime */
	int		 dirfd;		/* its directory, for fsync */
	int		 fd;		/* the state file, written in place */
	char		 keyid[KEYID_HEXLEN + 1];
	uint64_t	 reserve;	/* seqs a sync reserves; 0: sync per batch */

	/* In memory: the last token signed (or, before a restart, skipped). */
	uint64_t	 seq;
	char		 last[HASH_STRLEN + 1];	/* its content_hash */

	/* As last saved. */
	uint64_t	 saved;		/* a token known to have been issued */
	char		 savedhash[HASH_STRLEN + 1];
	uint64_t	 lease;		/* no token above it was issued */

	/*
	 * The state said lease > saved: its signer stopped without saying
	 * which seqs after saved it issued, so the next token is a restart
	 * token at lease + 1 (airlock-token(5), Restarts).
	 */
	int		 restart;
};

/*
 * Lock and load the state at path for the key keyid, or start a new chain
 * if the file does not exist.  With wait, block until another signer lets
 * go; without, fail at once.  reserve is the lease (0 for a sync per
 * batch).  Exits 111 with a precise message on failure.
 */
void	chain_open(struct chain *, const char *path, const char *keyid,
	    uint64_t reserve, int wait);

/*
 * Make sure the state file exists and is open for writing in place, so
 * that from now on the calls below need nothing but pwrite(2) and
 * fdatasync(2) on it (airlock-sign narrows itself to those).  A new chain
 * gets a state of seq 0.  Exits 111 on failure.
 */
void	chain_ready(struct chain *);

/*
 * Record in memory that seq with content hash hash was signed.  Nothing
 * signed under it may be written out before chain_commit() returns.
 */
void	chain_stage(struct chain *, uint64_t seq, const char *hash);

/*
 * Before the tokens staged so far are written out: make durable a state
 * under which none of their seqs can be issued again.  Syncing every
 * batch, that is the state of the last one staged; with a lease, a new
 * lease when the last one staged is beyond the old one, else nothing.
 * Returns 1 if it synced, 0 if the lease already covered them.  Exits 111
 * on failure, since a token without durable state could reuse its seq.
 */
int	chain_commit(struct chain *);

/*
 * After the tokens staged so far were written out, with a lease: note the
 * last one as issued, in place and without a sync, so that a restart after
 * a crash of this process (not of the machine) knows it.
 */
void	chain_issued(struct chain *);

/*
 * At a clean end, everything staged written out: save the exact state
 * (lease = seq), so that the next signer continues without a restart.
 */
void	chain_close(struct chain *);

/* Whether s is "sha256:" and 64 lowercase hex digits. */
int	chain_ishash(const char *s);

#endif
