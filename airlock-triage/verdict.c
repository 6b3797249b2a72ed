/*
 * The verdict a record earns.  Everything here reads a record that came
 * down a pipe and so may say anything: every member is fetched through the
 * typed helpers below, and a member of the wrong type yields a 500 verdict
 * that names it rather than a guess.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "record.h"
#include "verdict.h"

/*
 * Signals by their x86-64 Linux number, as the sandbox reports them.  Most
 * can only have come from the payload itself (a fault, abort(3), a signal
 * it sent itself), and a payload that dies of its own signal ran to its
 * end.  SIGKILL, SIGSYS, SIGXCPU and SIGXFSZ are the instruments of the
 * sandbox and of the limits it sets; a death by one of them that snaft does
 * not explain with a kill_reason is one nobody can explain.  The rest never
 * end a process.
 */
enum sigkind { SIG_OWN, SIG_SANDBOX, SIG_NOKILL };

static const struct {
	const char	*name;
	enum sigkind	 kind;
} signals[] = {
	[1] = { "SIGHUP", SIG_OWN },
	[2] = { "SIGINT", SIG_OWN },
	[3] = { "SIGQUIT", SIG_OWN },
	[4] = { "SIGILL", SIG_OWN },
	[5] = { "SIGTRAP", SIG_OWN },
	[6] = { "SIGABRT", SIG_OWN },
	[7] = { "SIGBUS", SIG_OWN },
	[8] = { "SIGFPE", SIG_OWN },
	[9] = { "SIGKILL", SIG_SANDBOX },
	[10] = { "SIGUSR1", SIG_OWN },
	[11] = { "SIGSEGV", SIG_OWN },
	[12] = { "SIGUSR2", SIG_OWN },
	[13] = { "SIGPIPE", SIG_OWN },
	[14] = { "SIGALRM", SIG_OWN },
	[15] = { "SIGTERM", SIG_OWN },
	[16] = { "SIGSTKFLT", SIG_OWN },
	[17] = { "SIGCHLD", SIG_NOKILL },
	[18] = { "SIGCONT", SIG_NOKILL },
	[19] = { "SIGSTOP", SIG_NOKILL },
	[20] = { "SIGTSTP", SIG_NOKILL },
	[21] = { "SIGTTIN", SIG_NOKILL },
	[22] = { "SIGTTOU", SIG_NOKILL },
	[23] = { "SIGURG", SIG_NOKILL },
	[24] = { "SIGXCPU", SIG_SANDBOX },
	[25] = { "SIGXFSZ", SIG_SANDBOX },
	[26] = { "SIGVTALRM", SIG_OWN },
	[27] = { "SIGPROF", SIG_OWN },
	[28] = { "SIGWINCH", SIG_NOKILL },
	[29] = { "SIGIO", SIG_OWN },
	[30] = { "SIGPWR", SIG_OWN },
	[31] = { "SIGSYS", SIG_SANDBOX },
};
#define SIG_RTMIN	32	/* the kernel's, not glibc's */
#define SIG_MAX		64

/* What verdict_decide learns from a valid exec section. */
struct exec {
	const char	*outcome;
	const char	*kill_reason;	/* NULL if absent or null */
	const char	*error;		/* NULL if absent or null */
	long long	 exit_code;
	int		 has_exit_code;
	long long	 signal;
	int		 has_signal;
	json_t		*violations;	/* NULL if absent or null */
	int		 self_signaled;	/* snaft saw the payload send it */
};

/*
 * Fetch an optional string or integer member.  Absent and null both give
 * 0 with *out untouched; the wrong type gives -1.
 */
static int
optstring(json_t *obj, const char *key, const char **out)
{
	json_t *m = json_object_get(obj, key);

	if (m == NULL || json_is_null(m))
		return 0;
	if (!json_is_string(m))
		return -1;
	*out = json_string_value(m);
	return 0;
}

static int
optint(json_t *obj, const char *key, long long *out, int *present)
{
	json_t *m = json_object_get(obj, key);

	*present = 0;
	if (m == NULL || json_is_null(m))
		return 0;
	if (!json_is_integer(m))
		return -1;
	*out = (long long)json_integer_value(m);
	*present = 1;
	return 0;
}

/* The verdict of a record wake (or muxd, or a stage's parser) rejected. */
static void
fromreject(json_t *reject, struct verdict *v)
{
	const char *reason = NULL, *error = NULL, *why;
	long long status;

	if (!json_is_object(reject)) {
		verdict_set(v, 500, "reject is not an object");
		return;
	}
	if (jsonl_get_int(reject, "status", &status) == -1) {
		verdict_set(v, 500, "reject.status is missing or not an integer");
		return;
	}
	if (optstring(reject, "reason", &reason) == -1) {
		verdict_set(v, 500, "reject.reason is not a string");
		return;
	}
	if (optstring(reject, "error", &error) == -1) {
		verdict_set(v, 500, "reject.error is not a string");
		return;
	}
	why = reason != NULL ? reason : error != NULL ? error :
	    "rejected without a reason";
	/* A rejected frame never ran, so it can never be a safe execution. */
	if (status == 200 || status < 0 || status > 999 ||
	    verdict_index((int)status) == -1) {
		verdict_set(v, 500, "reject carries status %lld, which no rejection "
		    "can have: %s", status, why);
		return;
	}
	verdict_set(v, (int)status, "%s", why);
}

/* Name signal sig (1 to SIG_MAX) into buf. */
static const char *
signame(long long sig, char *buf, size_t len)
{
	if (sig < SIG_RTMIN && signals[sig].name != NULL)
		return signals[sig].name;
	snprintf(buf, len, "SIGRTMIN+%lld", sig - SIG_RTMIN);
	return buf;
}

/* The first entry of exec.violations, each member NULL or 0 when absent. */
struct vread {
	const char	*family;
	const char	*syscall;
	const char	*arch;
	const char	*arg;
	long long	 nr;
	int		 has_nr;
	long long	 at_us;
	int		 has_at;
};

/* Read one violation.  Returns NULL, or the member of the wrong type. */
static const char *
readviolation(json_t *obj, struct vread *vi)
{
	memset(vi, 0, sizeof(*vi));
	if (optstring(obj, "family", &vi->family) == -1)
		return "family";
	if (optstring(obj, "syscall", &vi->syscall) == -1)
		return "syscall";
	if (optint(obj, "nr", &vi->nr, &vi->has_nr) == -1)
		return "nr";
	if (optstring(obj, "arch", &vi->arch) == -1)
		return "arch";
	if (optstring(obj, "arg", &vi->arg) == -1)
		return "arg";
	if (optint(obj, "at_us", &vi->at_us, &vi->has_at) == -1)
		return "at_us";
	return NULL;
}

/*
 * The 403 of a violation, named by the first entry of exec.violations:
 * "SNAFT violation: socket (socket, nr 41, x86_64, domain=2) at 812 us",
 * leaving out what snaft did not record.
 */
static void
fromviolation(const struct exec *x, struct verdict *v)
{
	struct vread vi;
	char nr[32], at[48] = "", more[48] = "";
	const char *bad, *part[4];
	size_t count, n = 0;
	json_t *first;

	count = x->violations != NULL ? json_array_size(x->violations) : 0;
	if (count == 0) {
		verdict_set(v, 403, "SNAFT violation (snaft recorded no details)");
		return;
	}
	first = json_array_get(x->violations, 0);
	if (!json_is_object(first)) {
		verdict_set(v, 500, "exec.violations[0] is not an object");
		return;
	}
	if ((bad = readviolation(first, &vi)) != NULL) {
		verdict_set(v, 500, "exec.violations[0].%s has the wrong type", bad);
		return;
	}
	if (vi.syscall != NULL)
		part[n++] = vi.syscall;
	if (vi.has_nr) {
		snprintf(nr, sizeof(nr), "nr %lld", vi.nr);
		part[n++] = nr;
	}
	if (vi.arch != NULL)
		part[n++] = vi.arch;
	if (vi.arg != NULL)
		part[n++] = vi.arg;
	if (vi.has_at)
		snprintf(at, sizeof(at), " at %lld us", vi.at_us);
	if (count > 1)
		snprintf(more, sizeof(more), " (and %zu more)", count - 1);
	/* One format, so that only verdict_set() ever cuts record-supplied text. */
	verdict_set(v, 403, "SNAFT violation: %s%s%s%s%s%s%s%s%s%s%s%s",
	    vi.family ? vi.family : vi.syscall ? vi.syscall : "unnamed",
	    n > 0 ? " (" : "", n > 0 ? part[0] : "",
	    n > 1 ? ", " : "", n > 1 ? part[1] : "",
	    n > 2 ? ", " : "", n > 2 ? part[2] : "",
	    n > 3 ? ", " : "", n > 3 ? part[3] : "",
	    n > 0 ? ")" : "", at, more);
}

/* The 408 or 413 of a limit kill, with the limit's value from the route. */
static void
fromlimit(enum kill_reason k, json_t *route, struct verdict *v)
{
	const struct kill_row *kr = &kill_table[k];
	json_t *lim = json_is_object(route) ?
	    json_object_get(route, "limits") : NULL;
	long long value;

	/* The route is wake's to validate; a limit we cannot read is left out. */
	if (json_is_object(lim) &&
	    jsonl_get_int(lim, kr->limit_key, &value) == 0)
		verdict_set(v, kr->status, "killed at the %s limit of %lld %s",
		    kr->what, value, kr->unit);
	else
		verdict_set(v, kr->status, "killed at the %s limit", kr->what);
}

/*
 * Read exec into x.  Returns 0, or -1 with a 500 verdict naming the member
 * that is missing or of the wrong type.
 */
static int
readexec(json_t *exec, struct exec *x, struct verdict *v)
{
	json_t *viol;

	memset(x, 0, sizeof(*x));
	if (!json_is_object(exec)) {
		verdict_set(v, 500, "exec is not an object");
		return -1;
	}
	if ((x->outcome = jsonl_get_string(exec, "outcome")) == NULL) {
		verdict_set(v, 500, "exec.outcome is missing or not a string");
		return -1;
	}
	if (optstring(exec, "kill_reason", &x->kill_reason) == -1) {
		verdict_set(v, 500, "exec.kill_reason is not a string");
		return -1;
	}
	if (optstring(exec, "error", &x->error) == -1) {
		verdict_set(v, 500, "exec.error is not a string");
		return -1;
	}
	if (optint(exec, "exit_code", &x->exit_code, &x->has_exit_code)
	    == -1) {
		verdict_set(v, 500, "exec.exit_code is not an integer");
		return -1;
	}
	if (optint(exec, "signal", &x->signal, &x->has_signal) == -1) {
		verdict_set(v, 500, "exec.signal is not an integer");
		return -1;
	}
	/*
	 * snaft saw the payload send the fatal signal to itself: then even a
	 * sandbox's instrument (SIGKILL, SIGXCPU, ...) is the payload's own.
	 */
	viol = json_object_get(exec, "self_signaled");
	if (viol != NULL && !json_is_boolean(viol)) {
		verdict_set(v, 500, "exec.self_signaled is not a boolean");
		return -1;
	}
	x->self_signaled = json_is_true(viol);
	viol = json_object_get(exec, "violations");
	if (viol != NULL && !json_is_null(viol)) {
		if (!json_is_array(viol)) {
			verdict_set(v, 500, "exec.violations is not an array");
			return -1;
		}
		x->violations = viol;
	}
	return 0;
}

/* The verdict of a record snaft ran. */
static void
fromexec(json_t *exec, json_t *route, struct verdict *v)
{
	struct exec x;
	char buf[32];
	const char *sig;
	int outcome, kill = -1;

	if (readexec(exec, &x, v) == -1)
		return;
	if ((outcome = outcome_parse(x.outcome)) == -1) {
		verdict_set(v, 500, "exec.outcome \"%s\" is unknown", x.outcome);
		return;
	}
	if (x.kill_reason != NULL &&
	    (kill = kill_parse(x.kill_reason)) == -1) {
		verdict_set(v, 500, "exec.kill_reason \"%s\" is unknown",
		    x.kill_reason);
		return;
	}

	/* A violation outranks everything else that happened to the run. */
	if (kill == KILL_VIOLATION ||
	    (x.violations != NULL && json_array_size(x.violations) > 0)) {
		fromviolation(&x, v);
		return;
	}
	if (outcome == OUTCOME_FAILED) {
		verdict_set(v, 500, "sandbox failure: %s",
		    x.error != NULL ? x.error : "snaft recorded no error");
		return;
	}
	if (kill != -1) {
		if (outcome == OUTCOME_EXITED) {
			verdict_set(v, 500, "inconsistent exec: outcome exited with "
			    "kill_reason %s", x.kill_reason);
			return;
		}
		fromlimit((enum kill_reason)kill, route, v);
		return;
	}
	if (outcome == OUTCOME_KILLED) {
		if (x.has_signal && x.signal >= 1 && x.signal <= SIG_MAX)
			verdict_set(v, 500, "killed by signal %lld (%s) with no "
			    "kill_reason: a death the sandbox cannot explain",
			    x.signal, signame(x.signal, buf, sizeof(buf)));
		else
			verdict_set(v, 500, "killed with no kill_reason: a death "
			    "the sandbox cannot explain");
		return;
	}
	if (outcome == OUTCOME_SIGNALED) {
		if (!x.has_signal) {
			verdict_set(v, 500, "inconsistent exec: outcome signaled "
			    "with no signal");
			return;
		}
		if (x.signal < 1 || x.signal > SIG_MAX) {
			verdict_set(v, 500, "exec.signal %lld is not a signal",
			    x.signal);
			return;
		}
		if (x.has_exit_code) {
			verdict_set(v, 500, "inconsistent exec: outcome signaled "
			    "with exit_code %lld", x.exit_code);
			return;
		}
		sig = signame(x.signal, buf, sizeof(buf));
		if (x.signal < SIG_RTMIN && signals[x.signal].kind != SIG_OWN &&
		    !(x.self_signaled && signals[x.signal].kind == SIG_SANDBOX)) {
			verdict_set(v, 500, "terminated by signal %lld (%s) with no "
			    "kill_reason: %s", x.signal, sig,
			    signals[x.signal].kind == SIG_SANDBOX ?
			    "a death the sandbox cannot explain" :
			    "that signal does not end a process");
			return;
		}
		verdict_set(v, 200, "terminated by signal %lld (%s)%s", x.signal, sig,
		    x.self_signaled ? ", sent by itself" : "");
		v->severity = "low";
		return;
	}

	/* Outcome exited: the payload ran to its end, whatever its code. */
	if (!x.has_exit_code) {
		verdict_set(v, 500, "inconsistent exec: outcome exited with no "
		    "exit_code");
		return;
	}
	if (x.exit_code < 0 || x.exit_code > 255) {
		verdict_set(v, 500, "exec.exit_code %lld is not an exit status",
		    x.exit_code);
		return;
	}
	if (x.has_signal) {
		verdict_set(v, 500, "inconsistent exec: outcome exited with signal "
		    "%lld", x.signal);
		return;
	}
	verdict_set(v, 200, "exited with code %lld", x.exit_code);
	if (x.exit_code != 0)
		v->severity = "low";
}

void
verdict_decide(json_t *rec, struct verdict *v)
{
	struct jsonl_error je;
	json_t *reject, *exec;

	/* A record of another version may mean anything by its keys. */
	if (jsonl_check_version(rec, &je) == -1) {
		verdict_set(v, 400, "%s", je.text);
		return;
	}
	if ((reject = json_object_get(rec, "reject")) != NULL) {
		fromreject(reject, v);
		return;
	}
	if ((exec = json_object_get(rec, "exec")) == NULL) {
		verdict_set(v, 500, "record has no exec section: snaft did not run "
		    "it");
		return;
	}
	fromexec(exec, json_object_get(rec, "route"), v);
}

int
verdict_agrees(json_t *section, const struct verdict *v)
{
	const char *token_type;
	long long status;

	if (!json_is_object(section) ||
	    jsonl_get_int(section, "status", &status) == -1 ||
	    (token_type = jsonl_get_string(section, "token_type")) == NULL)
		return 0;
	return status == v->status && strcmp(token_type, v->token_type) == 0;
}
