/*
 * make bench's timing trace (trace.h).
 */
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airlock.h"
#include "trace.h"

static int	tracefd = -1;

void
trace_init(void)
{
	const char *path = getenv("AIRLOCK_TRACE");

	if (path == NULL || path[0] == '\0' || tracefd >= 0)
		return;
	if ((tracefd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) < 0)
		log_info("warning: AIRLOCK_TRACE %s: %s; no trace", path,
		    strerror(errno));
}

int
trace_on(void)
{
	return tracefd >= 0;
}

void
trace_event(const char *id, const char *event)
{
	struct timespec ts;

	if (tracefd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	trace_event_at(id, event, (uint64_t)ts.tv_sec * 1000000000 +
	    (uint64_t)ts.tv_nsec);
}

void
trace_event_at(const char *id, const char *event, uint64_t ns)
{
	char line[160], safe[65];
	size_t i;
	int n;

	if (tracefd < 0)
		return;
	/* Ids come down a pipe: one word of safe bytes per line, always. */
	for (i = 0; id != NULL && id[i] != '\0' && i < sizeof(safe) - 1; i++)
		safe[i] = strchr("0123456789abcdefABCDEF-_", id[i]) != NULL ?
		    id[i] : '?';
	safe[i] = '\0';
	n = snprintf(line, sizeof(line), "%s %.40s %llu\n",
	    i > 0 ? safe : "-", event, (unsigned long long)ns);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(tracefd, line, (size_t)n) != n)
		return;		/* a trace may lose a line; a run may not */
}

static long long
usecs(const struct rusage *ru)
{
	return (long long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) *
	    1000000 + ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

void
trace_cpu(const char *stage)
{
	struct rusage self, kids;
	char line[160];
	int n;

	if (tracefd < 0 || getrusage(RUSAGE_SELF, &self) != 0 ||
	    getrusage(RUSAGE_CHILDREN, &kids) != 0)
		return;
	n = snprintf(line, sizeof(line), "- %.40s.cpu_self_us %lld\n"
	    "- %.40s.cpu_children_us %lld\n", stage, usecs(&self), stage,
	    usecs(&kids));
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(tracefd, line, (size_t)n) != n)
		return;
}
