/*
 * Verification.  Each token is checked on its own (form, key, signature,
 * content hash), then against the chain: seq must rise by one and parent
 * must be the previous token's content_hash, or, for a restart token, it
 * must continue from the token it names and skip only what it says it
 * skips.  Every problem is one line on stderr naming the seq, so that an
 * auditor can find it in the log; so is every restart, which is no problem.
 */
#include <sys/stat.h>

#include <dirent.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "airlock.h"
#include "b64.h"
#include "chain.h"
#include "jcs.h"
#include "jsonl.h"
#include "key.h"
#include "sha256.h"
#include "token.h"
#include "verify.h"

/* Problems of every chain, and of tokens of no chain given. */
static size_t	nproblems;
static int	quietall;

/* Where a seq was first seen: to tell a duplicate from a fork. */
struct seen {
	uint64_t	 seq;		/* 0: free slot */
	char		 hash[HASH_STRLEN + 1];
	const char	*file;
	size_t		 line;
};

struct verifier {
	struct pubkey	 pk;
	char		 keyid[KEYID_HEXLEN + 1];
	char		 prefix[KEYID_HEXLEN + 8];	/* "key K: ", several keys */
	char		*sigcomment;	/* for exported signature files */
	char		*exportdir;
	int		 rooted;
	size_t		 problems;	/* of this chain */
	size_t		 tokens;
	struct jcsbuf	 buf;

	/* The chain so far. */
	int		 started;
	uint64_t	 first;
	uint64_t	 top;		/* highest seq seen */
	char		 tophash[HASH_STRLEN + 1];
	struct seen	*seen;		/* open addressing, keyed by seq */
	size_t		 nseen;
	size_t		 capseen;
	size_t		 restarts;
	uint64_t	 skipped;	/* seqs the restarts skipped */
};

/* A restart token's statement (airlock-token(5), Restarts). */
struct restart {
	uint64_t	 after;		/* after_seq */
	const char	*afterhash;	/* after_hash */
	uint64_t	 lease;		/* the seq before the restart token */
};

static void	problem(struct verifier *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	notice(struct verifier *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
problem(struct verifier *v, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	nproblems++;
	if (v != NULL)
		v->problems++;
	if (quietall)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	warnx("%s%s", v != NULL ? v->prefix : "", text);
}

/* What happened that is no problem: a restart. */
static void
notice(struct verifier *v, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (quietall)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	warnx("%s%s", v->prefix, text);
}

static size_t
slot(const struct seen *tab, size_t cap, uint64_t seq)
{
	size_t i = (size_t)(seq * 0x9e3779b97f4a7c15ULL) & (cap - 1);

	while (tab[i].seq != 0 && tab[i].seq != seq)
		i = (i + 1) & (cap - 1);
	return i;
}

static struct seen *
lookup(struct verifier *v, uint64_t seq)
{
	size_t i;

	if (v->capseen == 0)
		return NULL;
	i = slot(v->seen, v->capseen, seq);
	return v->seen[i].seq == seq ? &v->seen[i] : NULL;
}

static void
remember(struct verifier *v, uint64_t seq, const char *hash,
    const char *file, size_t line)
{
	struct seen *tab, *e;
	size_t cap, i;

	if (2 * (v->nseen + 1) > v->capseen) {
		cap = v->capseen ? 2 * v->capseen : 1024;
		if ((tab = calloc(cap, sizeof(*tab))) == NULL)
			err(EXIT_SYSTEM, "calloc");
		for (i = 0; i < v->capseen; i++)
			if (v->seen[i].seq != 0)
				tab[slot(tab, cap, v->seen[i].seq)] =
				    v->seen[i];
		free(v->seen);
		v->seen = tab;
		v->capseen = cap;
	}
	e = &v->seen[slot(v->seen, v->capseen, seq)];
	e->seq = seq;
	memcpy(e->hash, hash, sizeof(e->hash));
	e->file = file;
	e->line = line;
	v->nseen++;
}

/*
 * A restart token at seq n skips from from to its lease: the seqs its
 * signer may have issued before it stopped that this log does not hold.
 */
static void
skipped(struct verifier *v, unsigned long long n, uint64_t from,
    const struct restart *rs)
{
	v->restarts++;
	if (from > rs->lease) {
		notice(v, "seq %llu: restart after an unclean stop: nothing "
		    "skipped", n);
		return;
	}
	v->skipped += rs->lease - from + 1;
	if (from == rs->lease)
		notice(v, "seq %llu: restart after an unclean stop: seq %llu "
		    "skipped (lost, or never issued)", n,
		    (unsigned long long)from);
	else
		notice(v, "seq %llu: restart after an unclean stop: seq %llu "
		    "to %llu skipped (lost, or never issued)", n,
		    (unsigned long long)from, (unsigned long long)rs->lease);
}

/*
 * A restart token after the highest seq so far: it must continue from the
 * token it names, which must be in the log if the log reaches it; what
 * lies between that token and the restart may be there or not.
 */
static void
checkrestart(struct verifier *v, unsigned long long n,
    const struct restart *rs)
{
	struct seen *e;

	/* Seq 0 is no token: nothing to compare with the genesis hash. */
	if (rs->after > 0 && (e = lookup(v, rs->after)) != NULL &&
	    strcmp(e->hash, rs->afterhash) != 0)
		problem(v, "seq %llu: restart: after_hash is not the content "
		    "hash of seq %llu at %s:%zu", n,
		    (unsigned long long)rs->after, e->file, e->line);
	if (v->top < rs->after) {
		problem(v, "seq %llu: gap: expected seq %llu (restart after "
		    "seq %llu)", n, (unsigned long long)v->top + 1,
		    (unsigned long long)rs->after);
		skipped(v, n, rs->after + 1, rs);
	} else
		skipped(v, n, v->top + 1, rs);
}

/* The chain rules of airlock-token(5). */
static void
checkchain(struct verifier *v, uint64_t seq, const char *hash,
    const char *parent, const struct restart *rs, const char *file,
    size_t line)
{
	struct seen *e;
	unsigned long long n = seq;

	if (seq == 1 && strcmp(parent, chain_genesis) != 0)
		problem(v, "seq 1: parent is not the genesis hash");
	if (!v->started) {
		v->started = 1;
		v->first = seq;
		/* A restart after seq 0 is a root too: it skipped from 1. */
		if (v->rooted && seq != 1 && (rs == NULL || rs->after != 0))
			problem(v, "seq %llu: chain does not start at seq 1",
			    n);
		if (rs != NULL)
			skipped(v, n, rs->after + 1, rs);
		remember(v, seq, hash, file, line);
		v->top = seq;
		memcpy(v->tophash, hash, sizeof(v->tophash));
		return;
	}
	if ((e = lookup(v, seq)) != NULL) {
		if (strcmp(e->hash, hash) == 0)
			problem(v, "seq %llu: duplicate of the token at "
			    "%s:%zu", n, e->file, e->line);
		else
			problem(v, "seq %llu: fork: differs from the token "
			    "with this seq at %s:%zu", n, e->file, e->line);
		return;
	}
	remember(v, seq, hash, file, line);
	if (seq < v->top) {
		problem(v, "seq %llu: out of order: after seq %llu", n,
		    (unsigned long long)v->top);
		return;
	}
	if (rs != NULL)
		checkrestart(v, n, rs);
	else if (seq == v->top + 1) {
		if (strcmp(parent, v->tophash) != 0)
			problem(v, "seq %llu: parent mismatch: does not link "
			    "to seq %llu", n, (unsigned long long)v->top);
	} else
		problem(v, "seq %llu: gap: expected seq %llu%s", n,
		    (unsigned long long)v->top + 1,
		    strcmp(parent, v->tophash) != 0 ?
		    " (parent mismatch)" : "");
	v->top = seq;
	memcpy(v->tophash, hash, sizeof(v->tophash));
}

static void
exporttoken(struct verifier *v, uint64_t seq,
    const uint8_t keynum[KEYNUM_LEN], const uint8_t sig[SIG_LEN])
{
	char *path;
	FILE *fp;

	if (asprintf(&path, "%s/%llu.json", v->exportdir,
	    (unsigned long long)seq) == -1)
		err(EXIT_SYSTEM, "asprintf");
	if ((fp = fopen(path, "we")) == NULL)
		err(EXIT_SYSTEM, "open %s", path);
	if (fwrite(v->buf.data, 1, v->buf.len, fp) != v->buf.len ||
	    fclose(fp) == EOF)
		err(EXIT_SYSTEM, "write %s", path);
	free(path);
	if (asprintf(&path, "%s/%llu.json.sig", v->exportdir,
	    (unsigned long long)seq) == -1)
		err(EXIT_SYSTEM, "asprintf");
	if (key_writesig(path, v->sigcomment, keynum, sig) == -1)
		err(EXIT_SYSTEM, "write %s", path);
	free(path);
}

/*
 * The restart member of the token with seq n into rs, if it has one.
 * Returns 0, or -1 if it is not exactly {after_seq, after_hash, lease}
 * with lease n - 1, after_seq below it, and the genesis hash after seq 0.
 */
static int
restartform(json_t *jr, uint64_t n, struct restart *rs)
{
	json_t *a = json_object_get(jr, "after_seq");
	json_t *l = json_object_get(jr, "lease");

	rs->afterhash = jsonl_get_string(jr, "after_hash");
	if (!json_is_object(jr) || json_object_size(jr) != 3 ||
	    !json_is_integer(a) || !json_is_integer(l) ||
	    rs->afterhash == NULL || !chain_ishash(rs->afterhash) ||
	    json_integer_value(a) < 0 ||
	    json_integer_value(l) != (json_int_t)n - 1 ||
	    json_integer_value(a) >= json_integer_value(l))
		return -1;
	rs->after = (uint64_t)json_integer_value(a);
	rs->lease = (uint64_t)json_integer_value(l);
	if (rs->after == 0 && strcmp(rs->afterhash, chain_genesis) != 0)
		return -1;
	return 0;
}

static void
checktoken(struct verifier *v, json_t *tok, const char *file, size_t line)
{
	json_t *jseq, *sigobj, *jr;
	const char *alg, *kid, *sigb64, *hash, *parent, *tbz;
	uint8_t keynum[KEYNUM_LEN], sig[SIG_LEN + 3];
	char err[256], computed[HASH_STRLEN + 1];
	struct restart rs;
	unsigned long long n;
	size_t fault = v->problems;

	v->tokens++;
	jseq = json_object_get(tok, "seq");
	if (!json_is_integer(jseq) || json_integer_value(jseq) < 1 ||
	    json_integer_value(jseq) > JCS_INT_MAX) {
		problem(v, "%s:%zu: token without a valid seq", file, line);
		return;
	}
	n = (unsigned long long)json_integer_value(jseq);

	tbz = jsonl_get_string(tok, "tbz_version");
	if (tbz == NULL || strcmp(tbz, TBZ_VERSION) != 0)
		problem(v, "seq %llu: unknown tbz_version", n);
	sigobj = json_object_get(tok, "signature");
	alg = jsonl_get_string(sigobj, "alg");
	kid = jsonl_get_string(sigobj, "key_id");
	sigb64 = jsonl_get_string(sigobj, "sig");
	if (!json_is_object(sigobj))
		problem(v, "seq %llu: no signature", n);
	else if (alg == NULL || strcmp(alg, "Ed25519") != 0)
		problem(v, "seq %llu: signature alg is not Ed25519", n);
	else if (kid == NULL || key_idparse(kid, keynum) != 0)
		problem(v, "seq %llu: malformed signature key_id", n);
	else if (sigb64 == NULL || strlen(sigb64) != B64_ENCLEN(SIG_LEN) - 1 ||
	    b64_decode(sigb64, strlen(sigb64), sig) != SIG_LEN)
		problem(v, "seq %llu: malformed signature", n);
	hash = jsonl_get_string(tok, "content_hash");
	if (hash == NULL || !chain_ishash(hash))
		problem(v, "seq %llu: malformed content_hash", n);
	parent = jsonl_get_string(tok, "parent");
	if (parent == NULL || !chain_ishash(parent))
		problem(v, "seq %llu: malformed parent", n);
	if ((jr = json_object_get(tok, "restart")) != NULL &&
	    restartform(jr, n, &rs) != 0)
		problem(v, "seq %llu: malformed restart", n);
	if (v->problems != fault)
		return;

	if (token_canon(tok, 0, &v->buf, err, sizeof(err)) != 0) {
		problem(v, "seq %llu: no canonical form: %s", n, err);
		return;
	}
	if (v->exportdir != NULL)
		exporttoken(v, n, keynum, sig);
	if (memcmp(keynum, v->pk.keynum, KEYNUM_LEN) != 0) {
		/* Another key's token belongs to another chain. */
		problem(v, "seq %llu: key change: signed by key %s, not by "
		    "key %s", n, kid, v->keyid);
		return;
	}
	if (crypto_sign_verify_detached(sig, (const uint8_t *)v->buf.data,
	    v->buf.len, v->pk.pk) != 0)
		problem(v, "seq %llu: bad signature", n);
	if (token_canon(tok, 1, &v->buf, err, sizeof(err)) != 0) {
		problem(v, "seq %llu: no canonical form: %s", n, err);
		return;
	}
	sha256_hex(v->buf.data, v->buf.len, computed + 7);
	memcpy(computed, "sha256:", 7);
	if (strcmp(computed, hash) != 0)
		problem(v, "seq %llu: content_hash does not match the token",
		    n);
	if (jr != NULL) {
		if (token_restart_parent(jr, &v->buf, computed, err,
		    sizeof(err)) != 0)
			problem(v, "seq %llu: restart: %s", n, err);
		else if (strcmp(computed, parent) != 0)
			problem(v, "seq %llu: parent is not the hash of its "
			    "restart", n);
	}
	checkchain(v, n, hash, parent, jr != NULL ? &rs : NULL, file, line);
}

/*
 * The chain of the key that signed tok: with one key, that key's (a token
 * of another is a key change in it); with several, the one whose key id
 * the token names, or NULL, reported, if none.
 */
static struct verifier *
chainof(struct verifier *vs, size_t nv, json_t *tok, const char *file,
    size_t line)
{
	uint8_t keynum[KEYNUM_LEN];
	const char *kid;
	json_t *jseq;
	size_t i;

	if (nv == 1)
		return &vs[0];
	jseq = json_object_get(tok, "seq");
	if (!json_is_integer(jseq) || json_integer_value(jseq) < 1 ||
	    json_integer_value(jseq) > JCS_INT_MAX) {
		problem(NULL, "%s:%zu: token without a valid seq", file, line);
		return NULL;
	}
	kid = jsonl_get_string(json_object_get(tok, "signature"), "key_id");
	if (kid == NULL || key_idparse(kid, keynum) != 0) {
		problem(NULL, "%s:%zu: seq %lld: no signature key_id of any "
		    "chain", file, line, (long long)json_integer_value(jseq));
		return NULL;
	}
	for (i = 0; i < nv; i++)
		if (memcmp(keynum, vs[i].pk.keynum, KEYNUM_LEN) == 0)
			return &vs[i];
	problem(NULL, "%s:%zu: seq %lld: signed by key %s, none of the keys "
	    "given", file, line, (long long)json_integer_value(jseq), kid);
	return NULL;
}

static void
verifyfd(struct verifier *vs, size_t nv, int fd, const char *file)
{
	struct jsonl_reader *r;
	struct jsonl_error je;
	struct verifier *v;
	const char *line;
	json_t *rec, *tok;
	size_t len, lineno = 0;
	int rc;

	if ((r = jsonl_reader_new(fd, 0)) == NULL)
		err(EXIT_SYSTEM, "jsonl_reader_new");
	/*
	 * jsonl_next skips empty lines, so line numbers count non-empty
	 * lines: the same thing in a log that airlock-sign wrote.
	 */
	while ((rc = jsonl_next(r, &line, &len)) == 1) {
		lineno++;
		/* A line that is no token belongs to no chain. */
		v = nv == 1 ? &vs[0] : NULL;
		if (line == NULL) {
			problem(v, "%s:%zu: line too long (%zu bytes)", file,
			    lineno, len);
			continue;
		}
		if ((rec = jsonl_parse(line, len, &je)) == NULL) {
			problem(v, "%s:%zu: %s", file, lineno, je.text);
			continue;
		}
		/* A record carries its token; a log may hold bare tokens. */
		tok = json_object_get(rec, "token");
		if (!json_is_object(tok)) {
			if (json_object_get(rec, "signature") == NULL &&
			    json_object_get(rec, "tbz_version") == NULL) {
				problem(v, "%s:%zu: no token", file, lineno);
				json_decref(rec);
				continue;
			}
			tok = rec;
		}
		if ((v = chainof(vs, nv, tok, file, lineno)) != NULL)
			checktoken(v, tok, file, lineno);
		json_decref(rec);
	}
	if (rc == -1)
		err(EXIT_SYSTEM, "read %s", file);
	jsonl_reader_free(r);
}

/* Add the key at path to vs, unless a key with its number is there. */
static void
addkey(struct verifier **vs, size_t *nv, size_t *cap, const char *path)
{
	struct verifier *v;
	struct pubkey pk;
	char *copy;
	size_t i;

	key_readpub(path, &pk);
	for (i = 0; i < *nv; i++)
		if (memcmp((*vs)[i].pk.keynum, pk.keynum, KEYNUM_LEN) == 0)
			return;
	if (*nv == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		if ((*vs = reallocarray(*vs, *cap, sizeof(**vs))) == NULL)
			err(EXIT_SYSTEM, "reallocarray");
	}
	v = &(*vs)[(*nv)++];
	memset(v, 0, sizeof(*v));
	v->pk = pk;
	key_idhex(v->pk.keynum, v->keyid);
	if ((copy = strdup(path)) == NULL ||
	    asprintf(&v->sigcomment, "verify with %s", basename(copy)) == -1)
		err(EXIT_SYSTEM, "strdup");
	free(copy);
}

/* A -p argument: a public key file, or a directory of *.pub files. */
static void
addkeys(struct verifier **vs, size_t *nv, size_t *cap, const char *path)
{
	struct dirent **names;
	struct stat st;
	char *file;
	size_t len;
	int i, n;

	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		addkey(vs, nv, cap, path);
		return;
	}
	/* In name order, so that the chains are reported in one order. */
	if ((n = scandir(path, &names, NULL, alphasort)) == -1)
		err(EXIT_SYSTEM, "%s", path);
	for (i = 0; i < n; i++) {
		len = strlen(names[i]->d_name);
		if (len > 4 && strcmp(names[i]->d_name + len - 4, ".pub") == 0) {
			if (asprintf(&file, "%s/%s", path,
			    names[i]->d_name) == -1)
				err(EXIT_SYSTEM, "asprintf");
			addkey(vs, nv, cap, file);
			free(file);
		}
		free(names[i]);
	}
	free(names);
}

int
verify_main(char **pubpaths, size_t npub, char **files, size_t nfiles,
    int rooted, const char *exportdir, int quiet, int verbose)
{
	struct verifier *vs = NULL, *v;
	size_t i, nv = 0, cap = 0, tokens = 0;
	int fd;

	quietall = quiet;
	for (i = 0; i < npub; i++)
		addkeys(&vs, &nv, &cap, pubpaths[i]);
	if (nv == 0)
		errx(EXIT_SYSTEM, "%s: no public key (*.pub) there",
		    pubpaths[0]);
	if (exportdir != NULL && mkdir(exportdir, 0755) == -1 &&
	    errno != EEXIST)
		err(EXIT_SYSTEM, "mkdir %s", exportdir);
	for (i = 0; i < nv; i++) {
		v = &vs[i];
		v->rooted = rooted;
		/* Several chains: each names its key, and exports apart. */
		if (nv > 1)
			snprintf(v->prefix, sizeof(v->prefix), "key %s: ",
			    v->keyid);
		if (exportdir != NULL && nv == 1 &&
		    (v->exportdir = strdup(exportdir)) == NULL)
			err(EXIT_SYSTEM, "strdup");
		if (exportdir != NULL && nv > 1) {
			if (asprintf(&v->exportdir, "%s/%s", exportdir,
			    v->keyid) == -1)
				err(EXIT_SYSTEM, "asprintf");
			if (mkdir(v->exportdir, 0755) == -1 && errno != EEXIST)
				err(EXIT_SYSTEM, "mkdir %s", v->exportdir);
		}
	}

	if (nfiles == 0)
		verifyfd(vs, nv, STDIN_FILENO, "stdin");
	for (i = 0; i < nfiles; i++) {
		if ((fd = open(files[i], O_RDONLY | O_CLOEXEC)) == -1)
			err(EXIT_SYSTEM, "open %s", files[i]);
		verifyfd(vs, nv, fd, files[i]);
		close(fd);
	}
	for (i = 0; i < nv; i++)
		tokens += vs[i].tokens;
	if (tokens == 0)
		problem(nv == 1 ? &vs[0] : NULL, "no tokens");
	for (i = 0; verbose && i < nv; i++) {
		v = &vs[i];
		if (v->started && v->restarts > 0)
			warnx("%zu tokens, seq %llu to %llu, key %s, last %s: "
			    "%s (%zu restart%s, %llu seq%s skipped)", v->tokens,
			    (unsigned long long)v->first,
			    (unsigned long long)v->top, v->keyid, v->tophash,
			    v->problems ? "FAILED" : "verified", v->restarts,
			    v->restarts == 1 ? "" : "s",
			    (unsigned long long)v->skipped,
			    v->skipped == 1 ? "" : "s");
		else if (v->started)
			warnx("%zu tokens, seq %llu to %llu, key %s, last %s: "
			    "%s", v->tokens, (unsigned long long)v->first,
			    (unsigned long long)v->top, v->keyid, v->tophash,
			    v->problems ? "FAILED" : "verified");
		else if (nv == 1 || v->tokens > 0)
			warnx("%zu tokens, key %s: FAILED", v->tokens, v->keyid);
		else
			warnx("0 tokens, key %s: none in this log", v->keyid);
	}
	if (verbose && nv > 1)
		warnx("%zu chains, %zu tokens: %s", nv, tokens,
		    nproblems ? "FAILED" : "verified");
	for (i = 0; i < nv; i++) {
		free(vs[i].seen);
		free(vs[i].sigcomment);
		free(vs[i].exportdir);
		jcsbuf_free(&vs[i].buf);
	}
	free(vs);
	return nproblems ? EXIT_NEGATIVE : EXIT_OK;
}
