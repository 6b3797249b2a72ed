/*
 * airlock-triage: add the verdict section to every execution record that
 * flows past.  A filter: records in on stdin, the same records with their
 * verdict out on stdout, one line per line, flushed per line.
 * airlock-triage(1) is the contract; verdict.c holds the decisions.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "record_json.h"
#include "report.h"
#include "verdict.h"
#include "trace.h"

#define MAXLINE_MAX	(1024ul * 1024 * 1024)

struct tally {
	uintmax_t	 records;
	uintmax_t	 written;
	uintmax_t	 findings;	/* non-200 verdicts and disagreements */
	uintmax_t	 disagree;	/* kept verdicts the evidence contradicts */
	uintmax_t	*status;	/* by verdict_index() */
};

static int	nflag;		/* print findings only (audits) */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-triage [-enqVv] [-m maxline]\n");
	exit(EXIT_USAGE);
}

/*
 * An id fit to quote in a diagnostic: records come from a pipe, and a
 * terminal must not see whatever bytes they hold.
 */
static const char *
safeid(json_t *rec)
{
	const char *id = jsonl_get_string(rec, "id");
	size_t i;

	if (id == NULL || id[0] == '\0' || strlen(id) > 64)
		return "?";
	for (i = 0; id[i] != '\0'; i++)
		if (strchr("0123456789abcdefABCDEF-_", id[i]) == NULL)
			return "?";
	return id;
}

/*
 * Give rec its verdict and write it.  A verdict already present is kept:
 * it may be the one a token was signed over, and an audit must see it as
 * it stands, so a disagreement is reported, never silently mended.
 */
static void
triage(json_t *rec, uintmax_t n, struct tally *t)
{
	struct verdict v;
	json_t *old, *rep;
	int finding;

	TRACE_RECORD(rec, "triage.in");
	verdict_decide(rec, &v);
	finding = v.status != 200;
	if ((old = json_object_get(rec, "verdict")) != NULL) {
		if (verdict_agrees(old, &v))
			log_debug("record %ju (id %s): kept its verdict", n,
			    safeid(rec));
		else {
			log_info("record %ju (id %s): its verdict is kept, but "
			    "its sections earn %d %s", n, safeid(rec), v.status,
			    v.token_type);
			t->disagree++;
			finding = 1;
		}
	} else {
		if ((old = verdict_json(&v)) == NULL ||
		    json_object_set_new(rec, "verdict", old) != 0)
			errx(EXIT_SYSTEM, "record %ju: out of memory", n);
		/* A program's report, summed up for the token to bind. */
		if ((rep = report_of(rec)) != NULL &&
		    json_object_set_new(old, "report", rep) != 0)
			errx(EXIT_SYSTEM, "record %ju: out of memory", n);
	}

	t->status[verdict_index(v.status)]++;
	if (finding)
		t->findings++;
	if (nflag && !finding)
		return;
	/* Traced before the write: the next stage may read it at once. */
	TRACE_RECORD(rec, "triage.out");
	if (jsonl_write(stdout, rec) == -1)
		err(EXIT_SYSTEM, "write");
	t->written++;
}

/* The -v line at the end: "7 records, 7 written: 200 x3, 400 x4". */
static void
summarize(const struct tally *t)
{
	char counts[256] = "", one[64];
	int i;

	for (i = 0; i < (int)verdict_count; i++) {
		if (t->status[i] == 0)
			continue;
		snprintf(one, sizeof(one), "%s%d x%ju",
		    counts[0] ? ", " : ": ", verdict_table[i].status,
		    t->status[i]);
		strncat(counts, one, sizeof(counts) - strlen(counts) - 1);
	}
	if (t->disagree > 0) {
		snprintf(one, sizeof(one), "; kept verdicts the records "
		    "contradict: %ju", t->disagree);
		strncat(counts, one, sizeof(counts) - strlen(counts) - 1);
	}
	log_debug("%ju records, %ju written%s", t->records, t->written,
	    counts);
}

int
main(int argc, char *argv[])
{
	struct jsonl_reader *r;
	struct jsonl_error je;
	struct tally t;
	size_t maxline = JSONL_MAX_DEFAULT;
	long long m;
	json_t *rec;
	int ch, eflag = 0, rc;

	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-triage %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	while ((ch = getopt(argc, argv, "em:nqVv")) != -1) {
		switch (ch) {
		case 'e':
			eflag = 1;
			break;
		case 'm':
			if (parse_number(optarg, 1, MAXLINE_MAX, &m) != 0)
				errx(EXIT_USAGE, "-m %s: not a line cap from 1 "
				    "to %lu bytes", optarg, MAXLINE_MAX);
			maxline = (size_t)m;
			break;
		case 'n':
			nflag = 1;
			break;
		case 'q':
			log_level = 0;
			break;
		case 'V':
			printf("airlock-triage %s\n", AIRLOCK_VERSION);
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

	/* A reader that went away is a write error (EPIPE), not a signal. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(EXIT_SYSTEM, "signal");
	if ((r = jsonl_reader_new(STDIN_FILENO, maxline)) == NULL)
		err(EXIT_SYSTEM, "jsonl_reader_new");

	memset(&t, 0, sizeof(t));
	if ((t.status = calloc(verdict_count, sizeof(*t.status))) == NULL)
		err(EXIT_SYSTEM, NULL);
	/*
	 * A line that is not a record becomes the reject record every stage
	 * builds, so that it still comes out (and ends as a signed 400).  The
	 * version is not checked here: a record of another version earns a
	 * 400 verdict of its own and keeps its sections.
	 */
	while ((rc = jsonl_next_record(r, "triage", 0, &rec, &je)) == 1) {
		t.records++;
		if (rec == NULL)
			errx(EXIT_SYSTEM, "record %ju: out of memory", t.records);
		if (je.code != JSONL_OK)
			log_info("record %ju: %s: %s", t.records,
			    jsonl_errname(je.code), je.text);
		triage(rec, t.records, &t);
		json_decref(rec);
	}
	if (rc == -1)
		err(EXIT_SYSTEM, "read");
	jsonl_reader_free(r);
	summarize(&t);
	free(t.status);
	trace_cpu("triage");
	return eflag && t.findings > 0 ? EXIT_NEGATIVE : EXIT_OK;
}
