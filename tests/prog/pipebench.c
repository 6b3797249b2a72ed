/*
 * pipebench: measure the tool pipeline against what a user would otherwise
 * run, side by side in one run (make bench).
 *
 *   pipebench pipeline N CMD [FRAME]
 *                                 start CMD (sh -c), send N frames one at a
 *                                 time, waiting for each answer; then N more
 *                                 with up to 8 in flight for throughput.
 *                                 FRAME is a file holding the frame to send
 *                                 (its channel_id replaced for each), by
 *                                 default code:execute's hello world.
 *                                 PIPEBENCH_GAP_MS in the environment: wait
 *                                 that long between answer and next frame
 *                                 of the sequential part, as a frame that
 *                                 arrives alone does
 *   pipebench spawn N CMD...      fork+exec CMD N times, output to a pipe
 *
 * With PIPEBENCH_KEEP naming a file, pipeline keeps the records of its
 * one-at-a-time frames there, one line each, and skips the throughput
 * half (make bench's breakdown reads them beside the stages' trace).
 *
 * Prints one JSON object: latency percentiles in microseconds, runs per
 * second, and for the pipeline the medians of wake.wake_us and exec.run_us
 * taken from the records themselves (unless the frame sent holds them: a
 * record for airlock-sign alone); where the signer was asked for its
 * stats (AIRLOCK_SIGN_STATS), also the percentiles of sign.held_us, its
 * share of each record's latency, and of sign.sync_us, and how many
 * records waited for a sync.
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonl.h"

#define FRAME "{\"channel_id\":%d,\"intent\":\"code:execute\"," \
	"\"from_aint\":\"bench.aint\",\"payload\":\"print('hello world')\"}\n"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* The signer's word on each record, where it gave it. */
struct signstats {
	double	*held;
	double	*sync;
	int	 n;
	int	 synced;
};

static void
summary(const char *name, double *lat, int n, double rate, double wake,
    double run, struct signstats *ss)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	printf("{\"bench\":\"%s\",\"n\":%d,\"p50_us\":%.0f,\"p90_us\":%.0f,"
	    "\"p99_us\":%.0f,\"max_us\":%.0f,\"runs_per_s\":%.1f", name, n,
	    pct(lat, n, .5), pct(lat, n, .9), pct(lat, n, .99), lat[n - 1],
	    rate);
	if (wake >= 0)
		printf(",\"wake_us_p50\":%.0f,\"run_us_p50\":%.0f", wake, run);
	if (ss != NULL && ss->n > 0) {
		qsort(ss->held, (size_t)ss->n, sizeof(double), cmp);
		qsort(ss->sync, (size_t)ss->n, sizeof(double), cmp);
		printf(",\"sign_held_us_p50\":%.0f,\"sign_held_us_p90\":%.0f,"
		    "\"sync_us_p50\":%.0f,\"sync_us_p90\":%.0f,"
		    "\"sync_us_max\":%.0f,\"synced\":%d",
		    pct(ss->held, ss->n, .5), pct(ss->held, ss->n, .9),
		    pct(ss->sync, ss->n, .5), pct(ss->sync, ss->n, .9),
		    ss->sync[ss->n - 1], ss->synced);
	}
	printf("}\n");
	fflush(stdout);
}

/* The frame to send, and its text with channel_id c. */
static json_t *frame;

static void
sendframe(FILE *to, int c)
{
	if (frame == NULL) {
		fprintf(to, FRAME, c);
		return;
	}
	if (json_object_set_new(frame, "channel_id", json_integer(c)) != 0 ||
	    json_dumpf(frame, to, JSON_COMPACT) != 0)
		errx(111, "cannot write the frame");
	fputc('\n', to);
}

static int
pipeline(int n, const char *cmd)
{
	struct jsonl_reader *r;
	struct jsonl_error je;
	struct signstats ss = { NULL, NULL, 0, 0 };
	double *lat, *wake, *run, t0, t;
	const char *line;
	size_t len;
	int in[2], out[2], credit[2], i, sent, got, nw = 0, ownwake;
	pid_t writer;
	char c;
	struct timespec gap = { 0, 0 };
	const char *s, *keep = getenv("PIPEBENCH_KEEP");
	FILE *to, *kept = NULL;
	json_t *rec, *sign;
	pid_t pid;

	if (pipe(in) != 0 || pipe(out) != 0)
		err(111, "pipe");
	if ((pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if ((to = fdopen(in[1], "w")) == NULL ||
	    (r = jsonl_reader_new(out[0], 0)) == NULL)
		err(111, NULL);
	lat = calloc((size_t)n, sizeof(*lat));
	wake = calloc((size_t)n, sizeof(*wake));
	run = calloc((size_t)n, sizeof(*run));
	ss.held = calloc((size_t)n, sizeof(*ss.held));
	ss.sync = calloc((size_t)n, sizeof(*ss.sync));
	if (lat == NULL || wake == NULL || run == NULL || ss.held == NULL ||
	    ss.sync == NULL)
		err(111, NULL);
	if (keep != NULL && (kept = fopen(keep, "w")) == NULL)
		err(111, "%s", keep);
	/* A record sent to the signer alone brings its own wake and exec. */
	ownwake = frame == NULL || json_object_get(frame, "wake") == NULL;
	if ((s = getenv("PIPEBENCH_GAP_MS")) != NULL && *s != '\0') {
		gap.tv_sec = atoi(s) / 1000;
		gap.tv_nsec = (long)(atoi(s) % 1000) * 1000000;
	}

	/* Latency: one frame at a time, after a few to warm the pool. */
	for (i = -5; i < n; i++) {
		if (gap.tv_sec != 0 || gap.tv_nsec != 0)
			nanosleep(&gap, NULL);
		t0 = now();
		sendframe(to, i + 5);
		fflush(to);
		if (jsonl_next(r, &line, &len) != 1 || line == NULL)
			errx(111, "pipeline ended early");
		t = now() - t0;
		if ((rec = jsonl_parse(line, len, &je)) == NULL)
			errx(111, "bad record: %s", je.text);
		if (json_integer_value(json_object_get(json_object_get(rec,
		    "verdict"), "status")) != 200)
			errx(111, "not a 200: %.300s", line);
		if (i >= 0 && kept != NULL)
			fprintf(kept, "%.*s\n", (int)len, line);
		if (i >= 0) {
			lat[i] = t;
			wake[nw] = (double)json_integer_value(json_object_get(
			    json_object_get(rec, "wake"), "wake_us"));
			run[nw++] = (double)json_integer_value(json_object_get(
			    json_object_get(rec, "exec"), "run_us"));
			sign = json_object_get(rec, "sign");
			if (json_is_integer(json_object_get(sign, "held_us"))) {
				ss.held[ss.n] = (double)json_integer_value(
				    json_object_get(sign, "held_us"));
				ss.sync[ss.n++] = (double)json_integer_value(
				    json_object_get(sign, "sync_us"));
				ss.synced += json_is_true(json_object_get(sign,
				    "synced"));
			}
		}
		json_decref(rec);
	}
	qsort(wake, (size_t)nw, sizeof(*wake), cmp);
	qsort(run, (size_t)nw, sizeof(*run), cmp);
	/* Runs per second of the sequential part: of its latencies alone. */
	for (t = 0, i = 0; i < n; i++)
		t += lat[i];
	summary("pipeline_sequential", lat, n, n / (t / 1e6),
	    ownwake ? pct(wake, nw, .5) : -1, pct(run, nw, .5), &ss);

	if (kept != NULL) {
		if (fclose(kept) != 0)
			err(111, "%s", keep);
		goto done;
	}
	/*
	 * Throughput: keep up to 8 frames in flight.  A process of its own
	 * writes them, taking a credit for each answer read here, so that
	 * large frames and records (files in and out) never leave both of us
	 * blocked on full pipes, each waiting for the other to read.
	 */
	fflush(to);
	if (pipe(credit) != 0)
		err(111, "pipe");
	t0 = now();
	if ((writer = fork()) < 0)
		err(111, "fork");
	if (writer == 0) {
		close(credit[1]);
		for (sent = 0; sent < n; sent++) {
			if (sent >= 8 && read(credit[0], &c, 1) != 1)
				_exit(1);
			sendframe(to, sent);
			if (fflush(to) != 0)
				_exit(1);
		}
		_exit(0);
	}
	close(credit[0]);
	for (got = 0; got < n; got++) {
		if (jsonl_next(r, &line, &len) != 1)
			errx(111, "pipeline ended early");
		if (write(credit[1], "c", 1) != 1 && got + 8 < n)
			err(111, "credit");
	}
	t = now() - t0;
	close(credit[1]);
	waitpid(writer, NULL, 0);
	printf("{\"bench\":\"pipeline_throughput\",\"n\":%d,"
	    "\"in_flight\":8,\"runs_per_s\":%.1f}\n", n, n / (t / 1e6));
done:
	fclose(to);
	while (jsonl_next(r, &line, &len) == 1)
		;
	waitpid(pid, NULL, 0);
	jsonl_reader_free(r);
	free(lat);
	free(wake);
	free(run);
	free(ss.held);
	free(ss.sync);
	return 0;
}

static int
spawn(int n, char **argv, const char *name)
{
	double *lat, t0, total;
	char buf[4096];
	int i, p[2], st;
	pid_t pid;

	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		err(111, NULL);
	total = now();
	for (i = -2; i < n; i++) {
		t0 = now();
		if (pipe(p) != 0)
			err(111, "pipe");
		if ((pid = fork()) == 0) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
			execvp(argv[0], argv);
			_exit(127);
		}
		close(p[1]);
		while (read(p[0], buf, sizeof(buf)) > 0)
			;
		close(p[0]);
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			errx(111, "%s failed (status 0x%x)", argv[0], st);
		if (i == -1)
			total = now();
		if (i >= 0)
			lat[i] = now() - t0;
	}
	total = now() - total;
	summary(name, lat, n, n / (total / 1e6), -1, -1, NULL);
	free(lat);
	return 0;
}

int
main(int argc, char *argv[])
{
	int n;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "pipeline") == 0) {
		if (argc >= 5) {
			json_error_t je;

			if ((frame = json_load_file(argv[4], 0, &je)) == NULL ||
			    !json_is_object(frame))
				errx(100, "%s: not a frame: %s", argv[4], je.text);
		}
		return pipeline(atoi(argv[2]), argv[3]);
	}
	if (argc >= 5 && strcmp(argv[1], "spawn") == 0) {
		n = atoi(argv[2]);
		return spawn(n, argv + 4, argv[3]);
	}
	errx(100, "usage: pipebench pipeline N CMD [FRAME] | spawn N NAME CMD...");
}
