/*
 * fuzz_intents: the intent table parser (lib/intents.c), the policy file
 * whose mistakes would widen what a payload may do.
 *
 * The input is the table.  It is written to a memfd and loaded through
 * /proc/self/fd/N, as intents_load() opens any path.  Then:
 *
 *   a refused table has a message that names the file;
 *   a loaded table has at least one row, every row a pattern, image and
 *   snapshot, limits within their ranges, a policy digest, and no
 *   always-dangerous system call in its allowed set;
 *   intents_match() agrees with a plain reading of its rule (an exact
 *   pattern wins, else the longest '*' prefix) on names made from the
 *   table's own patterns, and intents_find() finds every pattern.
 *
 * The first 24 bytes are also read as a system call number and two
 * arguments, as the monitor reads them from a tracee, and the family
 * lookups must answer consistently for any value.
 */
#include <sys/mman.h>

#include <linux/sched.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intents.h"
#include "fuzz.h"

static int	memfd = -1;
static char	path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((memfd = memfd_create("fuzz_intents", MFD_CLOEXEC)) == -1) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

/* The rule of intents.h, read plainly, for comparison. */
static const struct intent *
refmatch(const struct intent_table *t, const char *name)
{
	const struct intent *best = NULL;
	size_t i, plen, bestlen = 0;
	const char *p;

	for (i = 0; i < t->nrows; i++) {
		p = t->rows[i].pattern;
		plen = strlen(p);
		if (p[plen - 1] != '*') {
			if (strcmp(p, name) == 0)
				return &t->rows[i];
		} else if (strncmp(p, name, plen - 1) == 0 &&
		    (best == NULL || plen - 1 > bestlen)) {
			best = &t->rows[i];
			bestlen = plen - 1;
		}
	}
	return best;
}

static void
checkmatch(const struct intent_table *t, const char *name)
{
	CHECK(intents_match(t, name) == refmatch(t, name));
}

static int
ishex(const char *s, size_t n)
{
	for (; n > 0; n--, s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return *s == '\0';
}

static void
checkrow(const struct intent_table *t, const struct intent *in)
{
	const struct limits *l = &in->limits;
	char name[256];
	size_t plen;
	int nr;

	CHECK(in->pattern != NULL && in->pattern[0] != '\0');
	CHECK(in->image != NULL && in->snapshot != NULL);
	CHECK(in->backend != NULL && in->allow_text != NULL);
	CHECK(strcmp(in->backend, "auto") == 0 ||
	    strcmp(in->backend, "process") == 0 ||
	    strcmp(in->backend, "kvm") == 0);
	CHECK(in->mode == SNAFT_OBSERVE || in->mode == SNAFT_FAST);
	CHECK(strncmp(in->policy_digest, "sha256:", 7) == 0 &&
	    ishex(in->policy_digest + 7, 64));
	/* The ranges of airlock-intents(5). */
	CHECK(l->wall_ms >= 1 && l->wall_ms <= 3600000);
	CHECK(l->cpu_ms >= 1 && l->cpu_ms <= 3600000);
	CHECK(l->memory_bytes >= 16ULL << 20 && l->memory_bytes <= 64ULL << 30);
	CHECK(l->output_bytes >= 1 && l->output_bytes <= 1ULL << 30);
	CHECK(l->file_bytes >= 1 && l->file_bytes <= 16ULL << 30);
	CHECK(l->tmp_bytes >= 1ULL << 20 && l->tmp_bytes <= 16ULL << 30);
	CHECK(l->payload_bytes >= 1 && l->payload_bytes <= 4ULL << 20);
	/*
	 * The security claim: nothing always dangerous is allowed.  With
	 * every argument 0 (pid 0, no PROT_EXEC), only the calls that are
	 * dangerous whatever their arguments are named.  (clone, the one
	 * call 0 makes dangerous, is never allowable.)
	 */
	for (nr = 0; nr < SYSCALL_MAX; nr++)
		if (in->allowed[nr])
			CHECK(family_of_dangerous(nr, 0, 0) == NULL);
	for (nr = 0; policy_base[nr] != NULL; nr++)
		CHECK(in->allowed[syscall_number(policy_base[nr])]);

	CHECK(intents_find(t, in->pattern) == in);
	plen = strlen(in->pattern);
	CHECK(plen < sizeof(name) - 2);
	memcpy(name, in->pattern, plen + 1);
	checkmatch(t, name);
	if (in->pattern[plen - 1] == '*') {
		/* The prefix itself, one more character, and one fewer. */
		name[plen - 1] = '\0';
		checkmatch(t, name);
		name[plen - 1] = 'x';
		name[plen] = '\0';
		checkmatch(t, name);
		if (plen >= 2) {
			name[plen - 2] = '\0';
			checkmatch(t, name);
		}
	} else {
		CHECK(intents_match(t, name) == in);
		name[plen] = 'x';
		name[plen + 1] = '\0';
		checkmatch(t, name);
	}
}

/*
 * The same bytes read as a tracee's registers, which is where the
 * monitor gets the numbers it asks about: any value must be safe, and the
 * answers must agree with each other.
 */
static void
checkregs(const uint8_t *data, size_t size)
{
	uint64_t regs[3] = { 0, 0, 0 };
	const char *name, *fam;
	int nr;

	memcpy(regs, data, size < sizeof(regs) ? size : sizeof(regs));
	nr = (int)regs[0];
	if ((name = syscall_name(nr)) != NULL) {
		CHECK(nr >= 0 && nr < SYSCALL_MAX);
		CHECK(syscall_number(name) == nr);
	}
	fam = family_of_dangerous(nr, regs[1], regs[2]);
	if (family_argcheck(nr))
		CHECK(name != NULL && !family_dangerous(name));
	if (name != NULL && family_dangerous(name))
		CHECK(fam != NULL && family_dangerous(fam));
	if (fam != NULL)
		CHECK(family_dangerous(fam));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct intent_table *t;
	char err[512];
	size_t i;

	checkregs(data, size);
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	memset(err, 'x', sizeof(err));
	t = intents_load(path, err, sizeof(err));
	if (t == NULL) {
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(strncmp(err, path, strlen(path)) == 0);
		CHECK(strlen(err) > strlen(path) + 2);
		return 0;
	}
	CHECK(t->nrows >= 1);
	CHECK(strncmp(t->digest, "sha256:", 7) == 0 && ishex(t->digest + 7, 64));
	for (i = 0; i < t->nrows; i++)
		checkrow(t, &t->rows[i]);
	checkmatch(t, "");
	checkmatch(t, "code:execute");
	checkmatch(t, "code:");
	CHECK(intents_match(t, NULL) == NULL);
	intents_free(t);
	return 0;
}
