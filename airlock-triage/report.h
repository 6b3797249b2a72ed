/*
 * airlock-triage: the summary of a program's report, for the verdict
 * (report.c; airlock-triage(1), Reports).
 */
#ifndef REPORT_H
#define REPORT_H

#include <jansson.h>

#define REPORT_SUMMARY_MAX	4096	/* bytes of compact JSON */
#define REPORT_DEPTH_MAX	8

/*
 * The verdict's "report" member for rec, when route.report names one and
 * something ran: {name, bytes, sha256, summary}, or, when the summary
 * cannot be had, the same with null where unknown and an "error" that says
 * why.  NULL when there is none to make.  A new reference.
 */
json_t	*report_of(json_t *rec);

#endif
