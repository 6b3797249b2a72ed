/*
 * The contract between the stages, in one place (airlock-record(5) and
 * airlock-token(5) document it): the verdict table, and the names of
 * outcomes, kill reasons, ABIs and backends that records carry.  Every
 * tool takes its statuses, token types and names from here; none spells
 * one out.  A new verdict is a row in record.c and a row in the man pages,
 * which tests/20-triage.bats holds against this table.
 *
 * This header and record.c need no JSON library: airlock-vmm, which does
 * not link jansson, takes its names from here too.  The JSON side (a
 * violation's encoding) is in record_json.c.
 */
#ifndef RECORD_H
#define RECORD_H

#include <stddef.h>
#include <stdint.h>

/* One row of the verdict table. */
struct verdict_row {
	int		 status;
	const char	*token_type;
	const char	*severity;	/* the default; triage may lower a 200's */
	const char	*when;		/* one line, as the man pages say it */
};

/* A verdict: a row of the table and why. */
#define VERDICT_REASON_MAX	1024	/* NUL included */

struct verdict {
	int		 status;
	const char	*token_type;
	const char	*severity;
	char		 reason[VERDICT_REASON_MAX];
};

/*
 * Set v to the row of status with a formatted reason, cut at a character
 * boundary and ended with "..." if it is too long (fmt's text must be
 * valid UTF-8 for the cut to keep it so).  A status not in the table makes
 * a 500 that says so.
 */
void	verdict_set(struct verdict *v, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* The table, in status order, and its length. */
extern const struct verdict_row	 verdict_table[];
extern const size_t		 verdict_count;

/* The row of status, or NULL if no verdict has that status. */
const struct verdict_row	*verdict_for(int status);

/* Index of status in the table, or -1. */
int				 verdict_index(int status);

/* How a run ended: exec.outcome. */
enum outcome {
	OUTCOME_EXITED,		/* ran to its end: exit_code */
	OUTCOME_SIGNALED,	/* died of a signal nobody sent to kill it */
	OUTCOME_KILLED,		/* killed, for kill_reason */
	OUTCOME_FAILED,		/* the sandbox failed: error */
	OUTCOME_MAX
};

/*
 * Why a run was killed: exec.kill_reason.  Each limit names the verdict it
 * earns and the route.limits key that holds its value.
 */
enum kill_reason {
	KILL_VIOLATION,
	KILL_WALL_TIME,
	KILL_CPU_TIME,
	KILL_MEMORY,
	KILL_OUTPUT,
	KILL_FILE_SIZE,
	KILL_MAX
};

struct kill_row {
	const char	*name;		/* "wall_time" */
	int		 status;	/* 403, 408 or 413 */
	const char	*what;		/* "wall-clock", for reasons */
	const char	*limit_key;	/* "wall_ms", or NULL */
	const char	*unit;		/* "ms", or NULL */
};

extern const struct kill_row	 kill_table[KILL_MAX];

/* The entry point a system call came through: a violation's arch. */
enum abi {
	ABI_X86_64,
	ABI_I386,
	ABI_X32,
	ABI_MAX
};

/* The sandbox kind: wake.backend and exec.backend. */
enum backend {
	BACKEND_PROCESS,
	BACKEND_KVM,
	BACKEND_MAX
};

/*
 * The families a violation may name beyond the always-dangerous ones of
 * airlock-intents(5): a call through another ABI, and one the policy does
 * not list.
 */
#define FAMILY_FOREIGN_ABI	"foreign_abi"
#define FAMILY_UNLISTED		"unlisted"

const char	*outcome_name(enum outcome);
const char	*kill_name(enum kill_reason);
const char	*abi_name(enum abi);
const char	*backend_name(enum backend);

/* The value a name stands for, or -1 if s is no such name (or NULL). */
int		 outcome_parse(const char *s);
int		 kill_parse(const char *s);
int		 abi_parse(const char *s);
int		 backend_parse(const char *s);

/*
 * One violation, as snaft's monitor and a kvm sandbox's VMM record it:
 * exec.violations[i].  arg is the argument that mattered, in words.
 */
struct violation {
	const char	*family;	/* always-dangerous, or FAMILY_* */
	const char	*syscall;	/* its name, "x32:39", or its number */
	int		 nr;
	enum abi	 arch;
	char		 arg[128];
	uint64_t	 at_us;		/* since the payload started */
};

#endif
