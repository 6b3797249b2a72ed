/*
 * Test driver for lib/intents.c: loads tables, matches intents, and shows
 * the families, the base set and the syscall table as the library sees
 * them, so tests/15-intents.bats can check each against the man page.
 *
 *   intentcheck TABLE                  one JSON line for the table, then
 *                                      one per row; or the error, exit 1
 *   intentcheck TABLE match NAME...    per name, the pattern matched or "none"
 *   intentcheck TABLE policy PATTERN   the canonical policy text of a row
 *   intentcheck families               per family: name, "dangerous" or
 *                                      "allowable", members ('*' after a
 *                                      member: dangerous only for some
 *                                      arguments)
 *   intentcheck base                   the base set, one name per line
 *   intentcheck classify NAME ARG0 ARG2 [worst]
 *                                      family_of_dangerous(), or "none"
 *   intentcheck syscalls               check the syscall table both ways
 */
#include <sys/ioctl.h>

#include <linux/sockios.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "intents.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: intentcheck table [match name ... | policy "
	    "pattern]\n"
	    "       intentcheck families | base | syscalls\n"
	    "       intentcheck classify name arg0 arg2 [worst]\n");
	exit(EXIT_USAGE);
}

static json_t *
rowjson(const struct intent *in)
{
	json_t *o, *names;
	int nr;

	if ((names = json_array()) == NULL)
		err(EXIT_SYSTEM, NULL);
	for (nr = 0; nr < SYSCALL_MAX; nr++)
		if (in->allowed[nr])
			json_array_append_new(names,
			    json_string(syscall_name(nr)));
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I}, s:s, s:o, s:s}",
	    "pattern", in->pattern, "line", in->line,
	    "image", in->image, "snapshot", in->snapshot,
	    "backend", in->backend,
	    "mode", in->mode == SNAFT_FAST ? "fast" : "observe",
	    "limits",
	    "wall_ms", (json_int_t)in->limits.wall_ms,
	    "cpu_ms", (json_int_t)in->limits.cpu_ms,
	    "memory_bytes", (json_int_t)in->limits.memory_bytes,
	    "output_bytes", (json_int_t)in->limits.output_bytes,
	    "file_bytes", (json_int_t)in->limits.file_bytes,
	    "tmp_bytes", (json_int_t)in->limits.tmp_bytes,
	    "payload_bytes", (json_int_t)in->limits.payload_bytes,
	    "files", (json_int_t)in->limits.files,
	    "input_bytes", (json_int_t)in->limits.input_bytes,
	    "outdir_bytes", (json_int_t)in->limits.outdir_bytes,
	    "allow", in->allow_text, "allowed", names,
	    "policy_digest", in->policy_digest);
	if (o == NULL)
		errx(EXIT_SYSTEM, "json_pack failed");
	return o;
}

static void
printjson(json_t *o)
{
	char *s;

	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		errx(EXIT_SYSTEM, "json_dumps failed");
	puts(s);
	free(s);
	json_decref(o);
}

static int
table(int argc, char **argv)
{
	struct intent_table *t;
	const struct intent *in;
	char errbuf[512], *text;
	size_t i;
	int rc = 0;

	if ((t = intents_load(argv[0], errbuf, sizeof(errbuf))) == NULL) {
		warnx("%s", errbuf);
		return EXIT_NEGATIVE;
	}
	if (argc == 1) {
		printjson(json_pack("{s:s, s:s, s:I}", "table", t->path,
		    "digest", t->digest, "rows", (json_int_t)t->nrows));
		for (i = 0; i < t->nrows; i++)
			printjson(rowjson(&t->rows[i]));
	} else if (strcmp(argv[1], "match") == 0) {
		for (i = 2; i < (size_t)argc; i++) {
			in = intents_match(t, argv[i]);
			puts(in == NULL ? "none" : in->pattern);
		}
	} else if (strcmp(argv[1], "policy") == 0 && argc == 3) {
		if ((in = intents_find(t, argv[2])) == NULL) {
			warnx("%s: no such pattern", argv[2]);
			rc = EXIT_NEGATIVE;
		} else {
			if ((text = intents_policy_text(in)) == NULL)
				err(EXIT_SYSTEM, NULL);
			fputs(text, stdout);
			free(text);
		}
	} else
		usage();
	intents_free(t);
	return rc;
}

static int
families(void)
{
	uint8_t set[SYSCALL_MAX];
	const char *name;
	size_t i;
	int nr;

	for (i = 0; (name = family_name(i)) != NULL; i++) {
		memset(set, 0, sizeof(set));
		if (family_expand(name, set) <= 0)
			errx(EXIT_NEGATIVE, "%s: does not expand", name);
		printf("%s %s", name,
		    family_dangerous(name) ? "dangerous" : "allowable");
		for (nr = 0; nr < SYSCALL_MAX; nr++)
			if (set[nr])
				printf(" %s%s", syscall_name(nr),
				    family_argcheck(nr) ? "*" : "");
		putchar('\n');
	}
	return 0;
}

static int
base(void)
{
	const char *const *b;

	for (b = policy_base; *b != NULL; b++)
		puts(*b);
	return 0;
}

static int
classify(char **argv)
{
	const char *fam;
	char *end;
	uint64_t a0, a2;
	int nr;

	if ((nr = syscall_number(argv[0])) == -1)
		errx(EXIT_USAGE, "%s: unknown system call", argv[0]);
	a0 = strtoull(argv[1], &end, 0);
	if (*end != '\0')
		usage();
	a2 = strtoull(argv[2], &end, 0);
	if (*end != '\0')
		usage();
	/*
	 * With "worst" after them, the command argument (arg1) at its worst
	 * too: any descriptor command that makes a descriptor signal its
	 * owner.  Without it, arg1 is 0.
	 */
	if (argv[3] == NULL || strcmp(argv[3], "worst") != 0) {
		const uint64_t args[6] = { a0, 0, a2, 0, 0, 0 };

		fam = family_of_call(nr, args);
	} else {
		static const uint64_t worst1[] = { 0, F_SETOWN, F_SETFL,
		    F_SETSIG, F_SETOWN_EX, FIOSETOWN, FIOASYNC, SIOCSPGRP };
		size_t i;

		fam = NULL;
		for (i = 0; fam == NULL && i < sizeof(worst1) /
		    sizeof(worst1[0]); i++) {
			const uint64_t args[6] = { a0, worst1[i], a2, 0, 0, 0 };

			fam = family_of_call(nr, args);
		}
	}
	puts(fam == NULL ? "none" : fam);
	return 0;
}

/*
 * Every number the table names maps back to its name, the names come out
 * of syscall_number() sorted as bsearch needs, and a few numbers that
 * every x86-64 kernel agrees on are where they belong.
 */
static int
syscalls(void)
{
	static const struct {
		const char *name;
		int nr;
	} known[] = {
		{ "read", 0 }, { "write", 1 }, { "mmap", 9 }, { "socket", 41 },
		{ "clone", 56 }, { "execve", 59 }, { "_sysctl", 156 },
		{ "clone3", 435 },
	};
	const char *name;
	size_t i;
	int nr, n = 0, bad = 0;

	for (nr = 0; nr < SYSCALL_MAX; nr++) {
		if ((name = syscall_name(nr)) == NULL)
			continue;
		n++;
		if (syscall_number(name) != nr) {
			warnx("%s: %d -> %d", name, nr, syscall_number(name));
			bad = 1;
		}
	}
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (syscall_number(known[i].name) != known[i].nr) {
			warnx("%s is not %d", known[i].name, known[i].nr);
			bad = 1;
		}
	if (syscall_number("nosuchcall") != -1 || syscall_number("") != -1 ||
	    syscall_number(NULL) != -1 || syscall_name(-1) != NULL ||
	    syscall_name(SYSCALL_MAX) != NULL) {
		warnx("bad names or numbers are not refused");
		bad = 1;
	}
	if (bad)
		return EXIT_NEGATIVE;
	printf("ok %d\n", n);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "families") == 0 && argc == 2)
		return families();
	if (strcmp(argv[1], "base") == 0 && argc == 2)
		return base();
	if (strcmp(argv[1], "syscalls") == 0 && argc == 2)
		return syscalls();
	if (strcmp(argv[1], "classify") == 0) {
		if (argc != 5 && argc != 6)
			usage();
		return classify(argv + 2);
	}
	return table(argc - 1, argv + 1);
}
