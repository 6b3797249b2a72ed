/*
 * Where a frame's time goes, for make bench (mk/bench): with AIRLOCK_TRACE
 * naming a file, each stage appends one line per event of each frame,
 *
 *	<record id> <stage>.<event> <CLOCK_MONOTONIC in ns>
 *
 * in one write(2) to a file opened O_APPEND, so that lines of several
 * processes never mix.  Without AIRLOCK_TRACE nothing is opened and an
 * event costs one test of a static.  Nothing here is signed or read back
 * by airlock itself: it measures, it decides nothing.
 */
#ifndef TRACE_H
#define TRACE_H

#include <stdint.h>

/* Open AIRLOCK_TRACE if set; call once, before any sandbox is started. */
void	trace_init(void);

/* Whether events are written. */
int	trace_on(void);

/* One event of the record id (a string of at most 64 bytes, or NULL). */
void	trace_event(const char *id, const char *event);

/* The same, at a CLOCK_MONOTONIC time in ns another process took. */
void	trace_event_at(const char *id, const char *event, uint64_t ns);

/*
 * trace_event for a record's id: the id is looked up only when tracing is
 * on, so a frame pays nothing for the trace it does not write.  Callers
 * include jsonl.h.
 */
#define	TRACE_RECORD(rec, event) do {					\
	if (trace_on())							\
		trace_event(jsonl_get_string((rec), "id"), (event));	\
} while (0)

/*
 * At the end: the CPU time this process used, and that of the children it
 * reaped (and theirs), as lines "- <stage>.cpu_self_us <us>" and
 * "- <stage>.cpu_children_us <us>".
 */
void	trace_cpu(const char *stage);

#endif
