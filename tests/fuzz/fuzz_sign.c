/*
 * fuzz_sign: what airlock-sign signs, airlock-sign -V must verify.  The
 * input is a log of records, one per line, as they reach the signer;
 * each record that parses is signed with the committed test key
 * (token_sign(), airlock-sign/token.c), the tokens are chained from seq 1
 * (or, for an input of odd length, from a restart token after seq 0 that
 * skips a lease of 3), and the whole chain goes through verify_main()
 * rooted.  Anything but a
 * clean verification is a failure: a token that cannot be checked is
 * worth nothing to an auditor.  Lines that do not parse are fuzz_jsonl's
 * business and are skipped here.
 *
 * The keys are tests/data/test.sec and test.pub, held here so that the
 * harness runs from any directory; they sign nothing but tests.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "chain.h"
#include "jsonl.h"
#include "token.h"
#include "verify.h"
#include "fuzz.h"

/* A chain of a few tokens is enough to exercise the links. */
#define TOKENS_MAX	8

static const char testsec[] =
    "untrusted comment: airlock-sign secret key\n"
    "RWRCSwAAAAB3OdqEliEHMfOOgR71neROkjZGbx3ljxRRYP9/ilSQ7Nvge8xsBgnyNN5T"
    "g46VNTBh09BGkcHHdJhS96eEene9zcXnNW/t1Io7eejw7SSoMhZ37JbWgxzRiN5YvAq"
    "BztI=\n";
static const char testpub[] =
    "untrusted comment: airlock-sign public key\n"
    "RWRRYP9/ilSQ7M3F5zVv7dSKO3no8O0kqDIWd+yW1oMc0YjeWLwKgc7S\n";

static struct signer	 signer;
static int		 logfd = -1;
static char		 secpath[64], pubpath[64], logpath[64];

static int
makefd(const char *name, char *path, size_t len, const char *text)
{
	size_t n = text ? strlen(text) : 0;
	int fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1 ||
	    write(fd, text ? text : "", n) != (ssize_t)n) {
		perror(name);
		exit(1);
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* token_sign() explains every refused record on stderr. */
	log_level = 0;
	makefd("test.sec", secpath, sizeof(secpath), testsec);
	makefd("test.pub", pubpath, sizeof(pubpath), testpub);
	logfd = makefd("tokens", logpath, sizeof(logpath), NULL);
	key_readsec(secpath, &signer.key);
	key_idhex(signer.key.keynum, signer.keyid);
	signer.host = "fuzz";
	signer.fixedtime = "2026-01-01T00:00:00Z";
	return 0;
}

/* Sign rec as the next token and append it to the log. */
static void
signone(json_t *rec, uint64_t seq, off_t *off)
{
	json_t *tok;
	char *text;
	size_t len;

	CHECK((tok = token_sign(&signer, rec, NULL)) != NULL);
	CHECK(json_integer_value(json_object_get(tok, "seq")) ==
	    (json_int_t)seq);
	CHECK(signer.chain.seq == seq);
	CHECK(chain_ishash(json_string_value(json_object_get(tok,
	    "content_hash"))));
	CHECK((text = json_dumps(tok, JSON_COMPACT)) != NULL);
	len = strlen(text);
	CHECK(pwrite(logfd, text, len, *off) == (ssize_t)len);
	CHECK(pwrite(logfd, "\n", 1, *off + len) == 1);
	*off += len + 1;
	free(text);
	json_decref(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonl_error je;
	const char *line = (const char *)data, *end, *nl;
	char *files[1] = { logpath }, *keys[1] = { pubpath };
	json_t *rec;
	uint64_t seq, first;
	off_t off = 0;

	/* Every input starts a chain of its own, half of them restarted. */
	signer.chain.restart = size % 2;
	signer.chain.saved = 0;
	memcpy(signer.chain.savedhash, chain_genesis,
	    sizeof(signer.chain.savedhash));
	signer.chain.lease = signer.chain.seq = first = size % 2 ? 3 : 0;
	memcpy(signer.chain.last, chain_genesis, sizeof(signer.chain.last));
	seq = first;
	CHECK(ftruncate(logfd, 0) == 0);
	for (end = line + size; line < end && seq - first < TOKENS_MAX;
	    line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		rec = jsonl_parse(line, (size_t)(nl - line), &je);
		if (rec == NULL)
			continue;
		if (jsonl_check_version(rec, &je) == 0)
			signone(rec, ++seq, &off);
		json_decref(rec);
	}
	if (seq > first)
		CHECK(verify_main(keys, 1, files, 1, 1, NULL, 0, 0) == 0);
	return 0;
}
