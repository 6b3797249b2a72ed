/*
 * TIBET tokens (DESIGN.md section 5, airlock-token(5)): built from a
 * record, chained, hashed and signed.
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <jansson.h>

#include "chain.h"
#include "jcs.h"
#include "key.h"
#include "record.h"

#define TBZ_VERSION	"airlock-tibet/1"

struct signer {
	struct seckey	 key;
	char		 keyid[KEYID_HEXLEN + 1];
	struct chain	 chain;
	const char	*host;		/* eromheen.host */
	const char	*fixedtime;	/* AIRLOCK_SIGN_TIME, for tests */
	struct jcsbuf	 buf;
};

/*
 * Build the token for rec, give it the next seq, hash it, sign it and
 * stage it in the chain (the caller makes the state durable).  v, if not NULL, replaces the record's
 * verdict.  Never fails for a bad record: a record that cannot be
 * signed as it is gets a token saying why.  Exits 111 if the chain state
 * cannot be written.  Returns a new reference.
 */
json_t	*token_sign(struct signer *, json_t *rec, const struct verdict *v);

/*
 * Canonical bytes of tok without "signature" (and without "content_hash"
 * too if hashonly) into buf.  Returns 0, or -1 with err filled in.
 */
int	 token_canon(json_t *tok, int hashonly, struct jcsbuf *buf,
	    char *err, size_t errlen);

/*
 * The parent of a restart token: "sha256:" and the hex SHA-256 of the
 * canonical form of its restart member, into out (buf is scratch).
 * Returns 0, or -1 with err filled in.
 */
int	 token_restart_parent(json_t *restart, struct jcsbuf *buf,
	    char out[HASH_STRLEN + 1], char *err, size_t errlen);

#endif
