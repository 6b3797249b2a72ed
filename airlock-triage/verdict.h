/*
 * airlock-triage: the verdict a record earns (DESIGN.md section 2, the
 * verdict table, which lives in lib/record.c; airlock-triage(1) is the
 * contract).
 */
#ifndef VERDICT_H
#define VERDICT_H

#include <jansson.h>

#include "record.h"

/*
 * Decide rec's verdict from its v, reject and exec sections.  Never fails:
 * a record that cannot be understood gets a 400 or 500 verdict that says
 * why.  Reads rec only.
 */
void	verdict_decide(json_t *rec, struct verdict *v);

/*
 * Whether a verdict section already in a record says what v says: same
 * status and token type.  A section that is not an object with an integer
 * status and a string token_type never agrees.
 */
int	verdict_agrees(json_t *section, const struct verdict *v);

#endif
