/*
 * airlock-triage: the verdict a record earns (DESIGN.md section 2, the
 * verdict table; airlock-triage(1) is the contract).
 */
#ifndef VERDICT_H
#define VERDICT_H

#include <jansson.h>

/* Longest reason, NUL included; longer ones are cut and end in "...". */
#define VERDICT_REASON_MAX	1024

struct verdict {
	int		 status;	/* 200, 400, 403, 408, 413, 500, 503 */
	const char	*token_type;	/* SAFE_EXECUTION, ... */
	const char	*severity;	/* info, low, medium, high, critical */
	char		 reason[VERDICT_REASON_MAX];
};

/* The number of statuses in the verdict table, for counting. */
#define VERDICT_NSTATUS		7

/* Index of status in the table (0 for 200), or -1 if it is not in it. */
int	verdict_index(int status);

/* The status at index i of the table, 0 <= i < VERDICT_NSTATUS. */
int	verdict_status(int i);

/*
 * Decide rec's verdict from its v, reject and exec sections.  Never fails:
 * a record that cannot be understood gets a 400 or 500 verdict that says
 * why.  Reads rec only.
 */
void	verdict_decide(json_t *rec, struct verdict *v);

/* The verdict section as JSON: a new reference, or NULL if out of memory. */
json_t	*verdict_pack(const struct verdict *);

/*
 * Whether a verdict section already in a record says what v says: same
 * status and token type.  A section that is not an object with an integer
 * status and a string token_type never agrees.
 */
int	verdict_agrees(json_t *section, const struct verdict *v);

#endif
