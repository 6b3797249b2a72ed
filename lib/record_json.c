/*
 * The JSON side of the stage contract (record.h): how a violation is
 * written into exec.violations.
 */
#include <jansson.h>

#include "record.h"
#include "record_json.h"

json_t *
verdict_json(const struct verdict *v)
{
	return json_pack("{s:i, s:s, s:s, s:s}",
	    "status", v->status,
	    "token_type", v->token_type,
	    "reason", v->reason,
	    "severity", v->severity);
}

json_t *
violation_json(const struct violation *v)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}",
	    "family", v->family,
	    "syscall", v->syscall,
	    "nr", v->nr,
	    "arch", abi_name(v->arch),
	    "arg", v->arg,
	    "at_us", (json_int_t)v->at_us);
}
