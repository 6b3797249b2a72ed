/*
 * The intent table (DESIGN.md section 3; format in airlock-intents(5)):
 * which image, snapshot, SNAFT policy and limits each intent gets.  Shared
 * by airlock-wake (routing) and airlock-snaft (policy compilation), so both
 * read the same file and agree on each policy's digest.
 */
#ifndef INTENTS_H
#define INTENTS_H

#include <stddef.h>
#include <stdint.h>

#include "families.h"

/*
 * The least memory limit a table row or a frame may set: the Python
 * runner's own address space is about 30 MiB before a payload runs, and a
 * sandbox that cannot start would end as a 500, not a limit verdict.
 */
#define LIMIT_MEMORY_MIN	(64ULL * 1024 * 1024)

struct limits {
	uint64_t	wall_ms;	/* wall-clock time */
	uint64_t	cpu_ms;		/* CPU time */
	uint64_t	memory_bytes;	/* address space / cgroup memory */
	uint64_t	output_bytes;	/* stdout + stderr, each */
	uint64_t	file_bytes;	/* largest file the payload may write */
	uint64_t	tmp_bytes;	/* size of the private /tmp */
	uint64_t	payload_bytes;	/* largest payload accepted */
	uint64_t	files;		/* most input files, most output files */
	uint64_t	input_bytes;	/* all input files together, decoded */
	uint64_t	outdir_bytes;	/* size of the private /output */
};

/*
 * A record carries its payload, its input files and, after the run, its
 * output and output files as base64 on one line of at most
 * JSONL_MAX_DEFAULT bytes between stages; a row's limits must leave room
 * for all of them and RECORD_SLACK of everything else.
 */
#define RECORD_SLACK		(256ULL * 1024)

/* The longest name of an input or output file. */
#define FILE_NAME_MAX		128

enum snaft_mode {
	SNAFT_OBSERVE,		/* every call goes to the monitor and is counted */
	SNAFT_FAST,		/* allowed calls stay in the kernel */
};

struct intent {
	char		*pattern;	/* exact name, or prefix ending in '*' */
	char		*image;
	char		*snapshot;
	char		*backend;	/* "process", "kvm" or "auto" */
	enum snaft_mode	 mode;
	struct limits	 limits;
	/* allowed[nr] != 0: syscall nr is allowed (base set + extras). */
	uint8_t		 allowed[SYSCALL_MAX];
	char		*allow_text;	/* the row's extras as written */
	char		 policy_digest[7 + 64 + 1];	/* "sha256:<hex>" */
	int		 line;		/* where the row starts in its file */
};

struct intent_table {
	char		*path;
	struct intent	*rows;
	size_t		 nrows;
	char		 digest[7 + 64 + 1];	/* of the whole file */
};

/*
 * Load and check a table.  On error returns NULL and writes "file:line:
 * what" to errbuf.  Unknown syscall or family names, always-dangerous
 * families in an allow list, duplicate patterns, bad limits and unknown
 * keywords are all errors.
 */
struct intent_table	*intents_load(const char *path, char *errbuf,
			    size_t errlen);
void			 intents_free(struct intent_table *);

/*
 * The row for an intent name: an exact pattern wins over a '*' pattern;
 * among '*' patterns the longest prefix wins.  A pattern without '*' never
 * matches a longer name.  NULL if none.
 */
const struct intent	*intents_match(const struct intent_table *,
			    const char *name);

/* The row whose pattern is exactly pattern, or NULL. */
const struct intent	*intents_find(const struct intent_table *,
			    const char *pattern);

/*
 * An allow list (airlock-intents(5), "allow"): family names and plain
 * system call names, checked as the table checks its rows and shared by
 * every reader of one (the table, airlock-vmm's -a file).  Nothing always
 * dangerous may appear, as a family or as a member of one; members that
 * are dangerous only for some arguments (mmap with PROT_EXEC) stay
 * allowable, and the monitor checks those arguments.  Unknown names and a
 * name listed twice are refused too.  Sets set[nr] for every call the
 * names allow.  Returns 0, or -1 with why in err (the table's words,
 * without a file or line) and the index of the word at fault in *bad.  An
 * empty list is no error here.
 */
int		 intents_allow(char *const *words, size_t n,
		    uint8_t set[SYSCALL_MAX], char *err, size_t errlen,
		    size_t *bad);

/*
 * The canonical policy text of a row (airlock-intents(5)), whose SHA-256 is
 * its policy_digest.  Returns a malloc'd string, or NULL with errno set.
 */
char		*intents_policy_text(const struct intent *);

#endif
