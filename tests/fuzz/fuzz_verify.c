/*
 * fuzz_verify: the token verifier, airlock-sign -V (airlock-sign/verify.c
 * through verify_main(), which main() only calls).  The input is a token
 * log, one record or bare token per line, as an auditor would feed it;
 * the seeds are tokens really signed with tests/data/test.sec, so that
 * mutations reach the signature, the content hash and the chain rules
 * rather than stopping at the first malformed member.
 *
 * The public key is tests/data/test.pub, held here so that the harness
 * runs from any directory.  Its length decides whether the chain must be
 * rooted (-r), so both rules get exercised.  The verifier must come back
 * with 0 or 1 and never exit, crash or leak.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "verify.h"
#include "fuzz.h"

/* tests/data/test.pub, the committed test-only key. */
static const char testpub[] =
    "untrusted comment: airlock-sign public key\n"
    "RWRRYP9/ilSQ7M3F5zVv7dSKO3no8O0kqDIWd+yW1oMc0YjeWLwKgc7S\n";

static int	keyfd = -1, logfd = -1;
static char	keypath[64], logpath[64];

static int
makefd(const char *name, char *path, size_t len)
{
	int fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1) {
		perror("memfd_create");
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
	keyfd = makefd("test.pub", keypath, sizeof(keypath));
	if (write(keyfd, testpub, sizeof(testpub) - 1) !=
	    (ssize_t)sizeof(testpub) - 1) {
		perror("write");
		exit(1);
	}
	logfd = makefd("tokens", logpath, sizeof(logpath));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *files[1] = { logpath }, *keys[1] = { keypath };
	int rc;

	CHECK(ftruncate(logfd, 0) == 0);
	CHECK(pwrite(logfd, data, size, 0) == (ssize_t)size);
	rc = verify_main(keys, 1, files, 1, (int)(size & 1), NULL, 1, 0);
	CHECK(rc == 0 || rc == 1);
	return 0;
}
