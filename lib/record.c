/*
 * The stage contract's tables (record.h).  No JSON here: airlock-vmm links
 * this file too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

/* DESIGN.md section 2's verdict table, with each status's severity. */
const struct verdict_row verdict_table[] = {
	{ 200, "SAFE_EXECUTION", "info",
	    "ran to its end within policy and limits, whatever its exit code" },
	{ 400, "INTENT_REJECTED", "low",
	    "malformed frame, unknown intent, payload over the size cap" },
	{ 403, "INCIDENT_KILL", "critical",
	    "SNAFT violation: killed at the first forbidden system call" },
	{ 408, "LIMIT_KILL", "medium",
	    "killed at the wall-clock or CPU-time limit" },
	{ 413, "LIMIT_KILL", "medium",
	    "killed at the memory, output or file-size limit" },
	{ 500, "SANDBOX_FAILURE", "high",
	    "the sandbox could not be established or died unexplained, or "
	    "its record cannot be used; the payload never runs unconfined" },
	{ 503, "OVERLOADED", "low",
	    "no capacity within the queueing deadline, or shutting down" },
};
const size_t verdict_count = sizeof(verdict_table) / sizeof(verdict_table[0]);

const struct kill_row kill_table[KILL_MAX] = {
	[KILL_VIOLATION] = { "violation", 403, "SNAFT", NULL, NULL },
	[KILL_WALL_TIME] = { "wall_time", 408, "wall-clock", "wall_ms", "ms" },
	[KILL_CPU_TIME] = { "cpu_time", 408, "CPU-time", "cpu_ms", "ms" },
	[KILL_MEMORY] = { "memory", 413, "memory", "memory_bytes", "bytes" },
	[KILL_OUTPUT] = { "output", 413, "output", "output_bytes", "bytes" },
	[KILL_FILE_SIZE] = { "file_size", 413, "file-size", "file_bytes",
	    "bytes" },
};

static const char *const outcomes[OUTCOME_MAX] = {
	[OUTCOME_EXITED] = "exited",
	[OUTCOME_SIGNALED] = "signaled",
	[OUTCOME_KILLED] = "killed",
	[OUTCOME_FAILED] = "failed",
};

static const char *const abis[ABI_MAX] = {
	[ABI_X86_64] = "x86_64",
	[ABI_I386] = "i386",
	[ABI_X32] = "x32",
};

static const char *const backends[BACKEND_MAX] = {
	[BACKEND_PROCESS] = "process",
	[BACKEND_KVM] = "kvm",
};

const struct verdict_row *
verdict_for(int status)
{
	int i = verdict_index(status);

	return i < 0 ? NULL : &verdict_table[i];
}

int
verdict_index(int status)
{
	size_t i;

	for (i = 0; i < verdict_count; i++)
		if (verdict_table[i].status == status)
			return (int)i;
	return -1;
}

/*
 * Cut s, which held valid UTF-8 before vsnprintf(3) truncated it to len
 * bytes, back to the start of a character it may have split, so that the
 * reason stays a valid JSON string.
 */
static void
utf8_trim(char *s, size_t len)
{
	size_t lead = len, need;
	unsigned char c;

	while (lead > 0 && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	c = (unsigned char)s[--lead];
	need = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (len - lead < need)
		s[lead] = '\0';
}

void
verdict_set(struct verdict *v, int status, const char *fmt, ...)
{
	static const char more[] = "...";
	const struct verdict_row *row;
	va_list ap;
	size_t room = sizeof(v->reason) - (sizeof(more) - 1);
	int n;

	if ((row = verdict_for(status)) == NULL) {
		verdict_set(v, 500, "status %d is not in the verdict table",
		    status);
		return;
	}
	v->status = status;
	v->token_type = row->token_type;
	v->severity = row->severity;
	va_start(ap, fmt);
	n = vsnprintf(v->reason, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		strcpy(v->reason, "(reason could not be formatted)");
	else if ((size_t)n >= room) {
		utf8_trim(v->reason, room - 1);
		strcat(v->reason, more);
	}
}

static int
lookup(const char *const names[], int n, const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *
outcome_name(enum outcome o)
{
	return o < OUTCOME_MAX ? outcomes[o] : NULL;
}

const char *
kill_name(enum kill_reason k)
{
	return k < KILL_MAX ? kill_table[k].name : NULL;
}

const char *
abi_name(enum abi a)
{
	return a < ABI_MAX ? abis[a] : NULL;
}

const char *
backend_name(enum backend b)
{
	return b < BACKEND_MAX ? backends[b] : NULL;
}

int
outcome_parse(const char *s)
{
	return lookup(outcomes, OUTCOME_MAX, s);
}

int
kill_parse(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < KILL_MAX; i++)
		if (strcmp(kill_table[i].name, s) == 0)
			return i;
	return -1;
}

int
abi_parse(const char *s)
{
	return lookup(abis, ABI_MAX, s);
}

int
backend_parse(const char *s)
{
	return lookup(backends, BACKEND_MAX, s);
}
