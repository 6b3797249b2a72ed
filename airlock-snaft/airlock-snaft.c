/*
 * airlock-snaft: run each woken sandbox's payload under its SNAFT policy.
 *
 * Reads records from airlock-wake, runs many at once, and writes each
 * record with its exec section as soon as its run ends (so out of order;
 * the id ties them together).  Records with nothing to run (rejected)
 * pass through unchanged.  Never drops a line.  See airlock-snaft(1).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "cgroup.h"
#include "intents.h"
#include "jsonl.h"
#include "snaft.h"
#include "trace.h"

#define DEFAULT_INTENTS	"/etc/airlock/intents"
#define MAXRUNS		256

static struct intent_table	*table;
static struct run		*runs;
static struct run		*fresh;	/* started since the last poll */
static int			 nruns;
static int			 maxruns = 16;
static volatile sig_atomic_t	 gotsig;
static int			 shutting;	/* SIGTERM: run nothing new */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-snaft [-qVv] [-j jobs] [-r rundir] "
	    "[-t intents]\n");
	exit(EXIT_USAGE);
}

static void
emit(json_t *rec)
{
	if (rec == NULL)
		err(EXIT_SYSTEM, "building a record");
	/* Traced before the write: the next stage may read it at once. */
	TRACE_RECORD(rec, "snaft.out");
	if (jsonl_write(stdout, rec) != 0)
		err(EXIT_SYSTEM, "write");
	json_decref(rec);
}

/* Limits from the record's route, which may only be as tight or tighter. */
static int
routelimits(json_t *route, const struct intent *row, struct limits *l)
{
	json_t *j = json_object_get(route, "limits");
	long long v;

	*l = row->limits;
	if (j == NULL)
		return 0;
#define TAKE(k)								\
	if (jsonl_get_int(j, #k, &v) == 0) {				\
		if (v <= 0 || (unsigned long long)v > row->limits.k)	\
			return -1;					\
		l->k = (uint64_t)v;					\
	}
	TAKE(wall_ms)
	TAKE(cpu_ms)
	TAKE(memory_bytes)
	TAKE(output_bytes)
	TAKE(file_bytes)
#undef TAKE
	return 0;
}

static void
failrecord(json_t *rec, const struct intent *row, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A sandbox we will not run still waits for us: claim it and hang up, so
 * it ends now rather than when its lease runs out.
 */
static void
release(json_t *rec)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *handle;
	int fd;

	handle = jsonl_get_string(json_object_get(rec, "wake"), "handle");
	if (handle == NULL || strlen(handle) >= sizeof(sa.sun_path) ||
	    !handle_ok(handle))
		return;
	strcpy(sa.sun_path, handle);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		unlink(handle);
	close(fd);
}

/* A record whose run never started: exec says why; triage makes it 500. */
static void
failrecord(json_t *rec, const struct intent *row, const char *fmt, ...)
{
	static json_t *nothing;
	char why[512];
	va_list ap;

	release(rec);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* Nothing ran, so nothing was produced: say so in the usual form. */
	if (nothing == NULL && (nothing = json_pack("{s:s, s:i, s:i, s:b, "
	    "s:s}", "b64", "", "bytes", 0, "captured_bytes", 0, "truncated", 0,
	    "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
	    "7852b855")) == NULL)
		err(EXIT_SYSTEM, NULL);
	json_object_set_new(rec, "exec", json_pack("{s:s, s:s, s:s, s:n, "
	    "s:n, s:n, s:s, s:i, s:O, s:O, s:{}, s:[]}", "backend",
	    backend_name(BACKEND_PROCESS),
	    "mode", row && row->mode == SNAFT_FAST ? "fast" : "observe",
	    "outcome", outcome_name(OUTCOME_FAILED), "exit_code", "signal",
	    "kill_reason",
	    "error", why, "run_us", 0, "stdout", nothing, "stderr", nothing,
	    "observed_syscalls", "violations"));
	emit(json_incref(rec));
}

static void
take(json_t *rec)
{
	const struct intent *row;
	const struct policy *p;
	struct limits lim;
	const char *pattern, *digest;
	char errbuf[256];
	json_t *route;
	struct run *r;

	TRACE_RECORD(rec, "snaft.in");
	/* Nothing to run: rejected, or not a woken record at all. */
	if (json_object_get(rec, "reject") != NULL ||
	    json_object_get(rec, "wake") == NULL ||
	    json_object_get(rec, "exec") != NULL) {
		emit(json_incref(rec));
		return;
	}
	route = json_object_get(rec, "route");
	pattern = jsonl_get_string(route, "policy");
	digest = jsonl_get_string(route, "policy_digest");
	if (pattern == NULL || (row = intents_find(table, pattern)) == NULL) {
		failrecord(rec, NULL, "policy \"%s\" is not in this snaft's "
		    "intent table", pattern ? pattern : "(none)");
		return;
	}
	/* Wake and snaft must enforce the same policy, or nothing runs. */
	if (digest == NULL || strcmp(digest, row->policy_digest) != 0) {
		failrecord(rec, row, "policy digest mismatch for %s: the record "
		    "says %s, this snaft has %s", pattern,
		    digest ? digest : "(none)", row->policy_digest);
		return;
	}
	if (shutting) {
		failrecord(rec, row, "airlock-snaft is shutting down: not run");
		return;
	}
	if (routelimits(route, row, &lim) != 0) {
		failrecord(rec, row, "route.limits are looser than the "
		    "intent's or malformed");
		return;
	}
	if ((p = policy_get(row, errbuf, sizeof(errbuf))) == NULL) {
		failrecord(rec, row, "compiling policy %s: %s", pattern, errbuf);
		return;
	}
	if ((r = run_start(rec, row, p, &lim)) == NULL)
		err(EXIT_SYSTEM, "starting a run");
	r->next = fresh;
	fresh = r;
	nruns++;
}

/*
 * One input line: a record to run or pass on, or, for a line that is not
 * a record, the rejection every stage makes of it.  Returns as
 * jsonl_next().
 */
static int
takeline(struct jsonl_reader *reader)
{
	struct jsonl_error je;
	json_t *rec;
	int n;

	if ((n = jsonl_next_record(reader, "snaft", JSONL_CHECK_VERSION, &rec,
	    &je)) != 1)
		return n;
	if (rec == NULL)
		errx(EXIT_SYSTEM, "out of memory");
	if (je.code != JSONL_OK)
		emit(rec);
	else {
		take(rec);
		json_decref(rec);
	}
	return 1;
}

/*
 * On SIGTERM: every record already read, or waiting in the pipe, still
 * gets its line out, marked as not run, and its sandbox is let go.
 */
static void
drain(struct jsonl_reader *reader)
{
	shutting = 1;
	while (takeline(reader) == 1)
		;
}

static void
onsignal(int sig)
{
	gotsig = sig;
}

int
main(int argc, char *argv[])
{
	static struct pollfd pfd[1 + MAXRUNS * 4];
	struct run *r, **rp;
	struct jsonl_reader *reader;
	struct sigaction sa;
	const char *intents;
	char errbuf[1024];
	uint64_t now, next;
	int ch, n, i, k, eof = 0, timeout;
	long long l;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-snaft %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	intents = getenv("AIRLOCK_INTENTS") ? getenv("AIRLOCK_INTENTS") :
	    DEFAULT_INTENTS;
	if (getenv("AIRLOCK_RUNDIR") != NULL)
		rundir = getenv("AIRLOCK_RUNDIR");
	while ((ch = getopt(argc, argv, "j:qr:t:Vv")) != -1) {
		switch (ch) {
		case 'r':
			rundir = optarg;
			break;
		case 'j':
			if (parse_number(optarg, 1, MAXRUNS, &l) != 0)
				errx(EXIT_USAGE, "-j: jobs must be 1..%d",
				    MAXRUNS);
			maxruns = (int)l;
			break;
		case 'q':
			log_level = 0;
			break;
		case 't':
			intents = optarg;
			break;
		case 'V':
			printf("airlock-snaft %s\n", AIRLOCK_VERSION);
			return EXIT_OK;
		case 'v':
			log_level = 2;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	trace_init();
	if ((table = intents_load(intents, errbuf, sizeof(errbuf))) == NULL)
		errx(EXIT_USAGE, "%s", errbuf);
	/* "/run/airlock/" and "/run/airlock" are one directory. */
	{
		char *dir;

		if ((dir = strdup(rundir)) == NULL)
			err(EXIT_SYSTEM, NULL);
		trim_slashes(dir);
		rundir = dir;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) != 0)
		err(EXIT_SYSTEM, "stdin");
	if ((reader = jsonl_reader_new(0, 0)) == NULL)
		err(EXIT_SYSTEM, NULL);

	/*
	 * One loop for everything: new records while there is room, and every
	 * running sandbox's messages, notifications and output.  On SIGTERM
	 * we stop reading and finish what runs.
	 */
	while (!(eof || gotsig) || runs != NULL) {
		n = 0;
		if (!eof && !gotsig && nruns < maxruns) {
			pfd[n].fd = 0;
			pfd[n++].events = POLLIN;
		}
		next = UINT64_MAX;
		for (r = runs; r != NULL; r = r->next) {
			n += run_pollfds(r, pfd + n, 4);
			if (r->state != RUN_EXITED && r->deadline < next)
				next = r->deadline;
			if (r->state == RUN_RUNNING && r->ops->cpu &&
			    r->limits.cpu_ms != 0 && r->cpu_check < next)
				next = r->cpu_check;
			if (r->state == RUN_EXITED && r->drain_until < next)
				next = r->drain_until;
		}
		now = now_us();
		timeout = next == UINT64_MAX ? -1 : next <= now ? 0 :
		    (int)((next - now) / 1000 + 1);
		/* Lines already read wait in the reader, not in the pipe. */
		if (!eof && !gotsig && nruns < maxruns && jsonl_pending(reader))
			timeout = 0;
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			err(EXIT_SYSTEM, "poll");

		k = 0;
		if (!eof && !gotsig && nruns < maxruns) {
			while (nruns < maxruns) {
				i = takeline(reader);
				if (i < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (i < 0)
					err(EXIT_SYSTEM, "read");
				if (i == 0) {
					eof = 1;
					break;
				}
			}
			k = 1;
		}
		now = now_us();
		for (r = runs; r != NULL; r = r->next) {
			run_events(r, pfd + k, 4);
			k += 4;
			run_timeout(r, now);
		}
		/* Runs started this round join the next poll. */
		while ((r = fresh) != NULL) {
			fresh = r->next;
			r->next = runs;
			runs = r;
		}
		for (rp = &runs; (r = *rp) != NULL;) {
			if (run_done(r)) {
				*rp = r->next;
				nruns--;
				emit(run_finish(r));
			} else
				rp = &r->next;
		}
	}
	if (gotsig && !eof)
		drain(reader);
	jsonl_reader_free(reader);
	policy_free_all();
	intents_free(table);
	cgroup_remove_flush();
	trace_cpu("snaft");
	return EXIT_OK;
}
