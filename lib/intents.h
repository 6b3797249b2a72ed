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

/* Number of x86-64 system call numbers we know (__NR_* < SYSCALL_MAX). */
#define SYSCALL_MAX	512

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
};

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

/* x86-64 system call numbers and names (generated from <asm/unistd_64.h>). */
int		 syscall_number(const char *name);	/* -1 if unknown */
const char	*syscall_name(int nr);			/* NULL if unknown */

/*
 * SNAFT families (airlock-snaft(1)): a family name expands to real system
 * calls.  family_expand() sets set[nr] = 1 for each member and returns the
 * number of members, or -1 for an unknown name (a plain system call name is
 * a family of one).  family_dangerous() is 1 for the always-dangerous
 * families, which no row can allow, and for a plain system call name that
 * is a member of one whatever its arguments ("clone3").
 */
int		 family_expand(const char *name, uint8_t set[SYSCALL_MAX]);
int		 family_dangerous(const char *name);

/* The i-th family name, always-dangerous ones first; NULL past the end. */
const char	*family_name(size_t i);

/*
 * 1 if syscall nr is allowable by name but dangerous for some arguments, so
 * a filter that allows it must also check those arguments (in the kernel in
 * fast mode, in the monitor in observe mode) and treat a match as a
 * violation of the family family_of_dangerous() names:
 *   mmap, mprotect, pkey_mprotect	arg2 & PROT_EXEC	"dlopen"
 *   prlimit64				arg0 != 0		"ptrace"
 * clone without CLONE_THREAD is "fork", but clone is always in "clone" and
 * never allowable, so family_argcheck() is 0 for it.
 */
int		 family_argcheck(int nr);

/*
 * The always-dangerous family that syscall nr belongs to, or NULL.  For
 * mmap/mprotect/pkey_mprotect, prot decides: PROT_EXEC makes it "dlopen".
 * For clone, flags decide: without CLONE_THREAD it is "fork".  For
 * prlimit64, naming another process (arg0 != 0) is "ptrace".  nr may be any value (it comes from the tracee's registers).
 */
const char	*family_of_dangerous(int nr, uint64_t arg0, uint64_t arg2);

/*
 * The same for a whole call: every argument register, so that the families
 * decided by other arguments (sigio: fcntl's and ioctl's command) are seen
 * too.  Monitors use this one; family_of_dangerous() passes 0 for arg1.
 */
const char	*family_of_call(int nr, const uint64_t args[6]);

/*
 * family_of_call() for a monitor that knows the caller's own pid as the
 * sandbox numbers it (0: unknown): a process naming itself by its pid
 * names itself, as with pid 0 (prlimit64).
 */
const char	*family_of_call_self(int nr, const uint64_t args[6],
		    uint64_t self);

/*
 * The canonical policy text of a row (airlock-intents(5)), whose SHA-256 is
 * its policy_digest.  Returns a malloc'd string, or NULL with errno set.
 */
char		*intents_policy_text(const struct intent *);

/* The runner's measured base set, allowed in every row. */
extern const char *const policy_base[];

#endif
