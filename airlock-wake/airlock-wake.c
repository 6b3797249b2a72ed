/*
 * airlock-wake: route MUX frames to their intent's sandbox and wake one.
 *
 * Reads frames (one JSON object per line), checks them, matches the intent
 * against the intent table, and hands each frame a woken sandbox from the
 * warm pool of its snapshot.  Writes one record per frame: route and wake
 * sections, or a reject section saying precisely why the frame will not
 * run.  Never drops a line.  See airlock-wake(1).
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "b64.h"
#include "intents.h"
#include "jsonl.h"
#include "sha256.h"
#include "wake.h"
#include "trace.h"

#define DEFAULT_INTENTS	"/etc/airlock/intents"
#define DEFAULT_IMAGES	"/var/lib/airlock/images"
#define DEFAULT_RUNDIR	"/run/airlock"

static struct intent_table	*table;
static const char		*sweepbase;	/* where dead wakes' dirs are */
static int			 forcebackend = -1;	/* -b, or -1 */
const char			*imagesdir;
char				 rundir[PATH_MAX];
char				 instance[64];
size_t				 poolsize = 2;
uint64_t			 lease_ms = 60000;
volatile sig_atomic_t		 gotsig;
int				 cgroup_version;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-wake [-qVv] [-b backend] [-I images] "
	    "[-l lease_ms] [-p pool]\n"
	    "                    [-r rundir] [-t intents]\n");
	exit(EXIT_USAGE);
}

static json_t *
reject(const char *id, json_t *frame, int status, const char *error,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static json_t *
reject(const char *id, json_t *frame, int status, const char *error,
    const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return json_pack("{s:i, s:s, s:O, s:{s:i, s:s, s:s, s:s}}",
	    "v", RECORD_VERSION, "id", id, "frame", frame,
	    "reject", "status", status, "error", error, "reason", reason,
	    "stage", "wake");
}

static int
ishexid(const char *s)
{
	size_t i;

	if (strlen(s) != RECORD_ID_LEN)
		return 0;
	for (i = 0; i < RECORD_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * A frame may ask for tighter limits than its intent's, never looser:
 * "limits": {"wall_ms": 500, ...}.  Returns NULL or a reason.
 */
static const char *
tighten(json_t *req, struct limits *l, char *why, size_t len)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "wall_ms", offsetof(struct limits, wall_ms) },
		{ "cpu_ms", offsetof(struct limits, cpu_ms) },
		{ "memory_bytes", offsetof(struct limits, memory_bytes) },
		{ "output_bytes", offsetof(struct limits, output_bytes) },
		{ "file_bytes", offsetof(struct limits, file_bytes) },
	};
	const char *key;
	json_t *v;
	size_t i;

	if (req == NULL)
		return NULL;
	if (!json_is_object(req))
		return "\"limits\" must be an object";
	json_object_foreach(req, key, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i].key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(why, len, "unknown limit \"%s\"", key);
			return why;
		}
		uint64_t *cur = (uint64_t *)((char *)l + keys[i].off);
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			snprintf(why, len, "limit \"%s\" must be a positive "
			    "integer", key);
			return why;
		}
		if (strcmp(key, "memory_bytes") == 0 &&
		    (uint64_t)json_integer_value(v) < LIMIT_MEMORY_MIN) {
			snprintf(why, len, "limit \"memory_bytes\" %lld is below "
			    "the %llu a sandbox needs to start",
			    (long long)json_integer_value(v),
			    (unsigned long long)LIMIT_MEMORY_MIN);
			return why;
		}
		if ((uint64_t)json_integer_value(v) > *cur) {
			snprintf(why, len, "limit \"%s\" %lld exceeds the "
			    "intent's %llu: a frame may only tighten limits",
			    key, (long long)json_integer_value(v),
			    (unsigned long long)*cur);
			return why;
		}
		*cur = (uint64_t)json_integer_value(v);
	}
	return NULL;
}

/*
 * A file name of a frame's "files": one path component of at most
 * FILE_NAME_MAX bytes (valid UTF-8, as the frame is), not "." or "..",
 * without '/' or control characters.
 */
static int
filename_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > FILE_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    name[i] == '/')
			return 0;
	return 1;
}

/*
 * A frame's input files, {"name": "base64", ...}: names, count and total
 * size within the row's limits, every value strict base64.  Returns NULL
 * or the reason, in why.
 */
static const char *
checkfiles(json_t *files, const struct limits *l, char *why, size_t len)
{
	const char *name, *b64;
	uint64_t total = 0;
	json_t *v;
	long n;
	void *buf;

	if (files == NULL)
		return NULL;
	if (!json_is_object(files))
		return "\"files\" must be an object of file names to base64 "
		    "contents";
	if (json_object_size(files) > l->files) {
		snprintf(why, len, "%zu files, more than the %llu this intent "
		    "takes", json_object_size(files),
		    (unsigned long long)l->files);
		return why;
	}
	json_object_foreach(files, name, v) {
		if (!filename_ok(name)) {
			snprintf(why, len, "file name \"%.80s\" is not one path "
			    "component of 1 to %d bytes without '/' or control "
			    "characters", name, FILE_NAME_MAX);
			return why;
		}
		if ((b64 = json_string_value(v)) == NULL) {
			snprintf(why, len, "file \"%s\": its content must be a "
			    "base64 string", name);
			return why;
		}
		if ((buf = malloc(json_string_length(v) / 4 * 3 + 1)) == NULL)
			err(EXIT_SYSTEM, NULL);
		n = b64_decode(b64, json_string_length(v), buf);
		free(buf);
		if (n < 0) {
			snprintf(why, len, "file \"%s\": its content is not "
			    "base64 (padded, standard alphabet, no whitespace)",
			    name);
			return why;
		}
		if ((total += (uint64_t)n) > l->input_bytes) {
			snprintf(why, len, "input files of more than %llu bytes: "
			    "this intent takes %llu", (unsigned long long)total,
			    (unsigned long long)l->input_bytes);
			return why;
		}
	}
	return NULL;
}

static json_t *
limits_json(const struct limits *l)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "wall_ms", (json_int_t)l->wall_ms, "cpu_ms", (json_int_t)l->cpu_ms,
	    "memory_bytes", (json_int_t)l->memory_bytes,
	    "output_bytes", (json_int_t)l->output_bytes,
	    "file_bytes", (json_int_t)l->file_bytes,
	    "tmp_bytes", (json_int_t)l->tmp_bytes,
	    "files", (json_int_t)l->files,
	    "input_bytes", (json_int_t)l->input_bytes,
	    "outdir_bytes", (json_int_t)l->outdir_bytes);
}

/* The backend a row asks for, -1 for auto. */
static int
rowbackend(const struct intent *row)
{
	return backend_parse(row->backend);
}

/*
 * The backend of that kind (-1: auto) for row.  Auto is kvm wherever it
 * can run the row's snapshot (/dev/kvm works and the image has a kvm
 * snapshot), else the process backend; asked for by name, a backend is
 * that backend or, if it cannot run here, a clear failure, never another.
 */
static const struct wake_backend *
backend_for(int id, const struct intent *row)
{
	switch (id) {
	case -1:
		return kvm_usable(row) ? &wake_kvm : &wake_process;
	case BACKEND_PROCESS:
		return &wake_process;
	case BACKEND_KVM:
		return &wake_kvm;
	default:
		return NULL;
	}
}

/* The backend a row's frames get when they do not ask. */
static const struct wake_backend *
choose(const struct intent *row)
{
	return backend_for(forcebackend >= 0 ? forcebackend :
	    rowbackend(row), row);
}

static json_t *
route(json_t *frame)
{
	char id[RECORD_ID_LEN + 1], why[256];
	const char *intent, *payload, *fid, *bad;
	const struct wake_backend *b;
	const struct intent *row;
	struct pool_entry *e;
	struct snapshot *s;
	struct limits lim;
	json_t *v, *rec;
	uint64_t t0;
	int hit, want, asked = -1;

	t0 = now_us();
	fid = jsonl_get_string(frame, "id");
	if (fid != NULL && ishexid(fid))
		snprintf(id, sizeof(id), "%s", fid);
	else if (record_newid(id) != 0)
		err(EXIT_SYSTEM, "getrandom");
	trace_event(id, "wake.in");
	if (json_object_get(frame, "id") != NULL && (fid == NULL ||
	    !ishexid(fid)))
		return reject(id, frame, 400, "wrong_type", "\"id\" must be "
		    "%d lowercase hex characters", RECORD_ID_LEN);

	v = json_object_get(frame, "channel_id");
	if (v == NULL)
		return reject(id, frame, 400, "missing_field",
		    "frame has no \"channel_id\"");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 0xffffffffLL)
		return reject(id, frame, 400, "wrong_type", "\"channel_id\" "
		    "must be an unsigned 32-bit integer");
	if ((v = json_object_get(frame, "intent")) == NULL)
		return reject(id, frame, 400, "missing_field",
		    "frame has no \"intent\"");
	if ((intent = json_string_value(v)) == NULL)
		return reject(id, frame, 400, "wrong_type",
		    "\"intent\" must be a string");
	if ((v = json_object_get(frame, "from_aint")) == NULL)
		return reject(id, frame, 400, "missing_field",
		    "frame has no \"from_aint\"");
	if (!json_is_string(v))
		return reject(id, frame, 400, "wrong_type",
		    "\"from_aint\" must be a string");
	if ((v = json_object_get(frame, "payload")) == NULL)
		return reject(id, frame, 400, "missing_field",
		    "frame has no \"payload\"");
	if ((payload = json_string_value(v)) == NULL)
		return reject(id, frame, 400, "wrong_type",
		    "\"payload\" must be a string");

	if ((row = intents_match(table, intent)) == NULL)
		return reject(id, frame, 400, "unknown_intent",
		    "unknown intent \"%.200s\"", intent);
	if (json_string_length(v) > row->limits.payload_bytes)
		return reject(id, frame, 400, "payload_too_large",
		    "payload of %zu bytes exceeds the cap of %llu bytes for "
		    "%s", json_string_length(v),
		    (unsigned long long)row->limits.payload_bytes, row->pattern);
	lim = row->limits;
	if ((bad = tighten(json_object_get(frame, "limits"), &lim, why,
	    sizeof(why))) != NULL)
		return reject(id, frame, 400, "bad_limits", "%s", bad);
	if ((bad = checkfiles(json_object_get(frame, "files"), &lim, why,
	    sizeof(why))) != NULL)
		return reject(id, frame, 400, "bad_files", "%s", bad);

	/* No silent downgrade: kvm asked for is kvm or an error. */
	want = forcebackend >= 0 ? forcebackend : rowbackend(row);
	if ((v = json_object_get(frame, "backend")) != NULL) {
		if (!json_is_string(v))
			return reject(id, frame, 400, "wrong_type",
			    "\"backend\" must be a string");
		if ((asked = backend_parse(json_string_value(v))) == -1 &&
		    strcmp(json_string_value(v), "auto") != 0)
			return reject(id, frame, 400, "bad_backend",
			    "unknown backend \"%.40s\"", json_string_value(v));
		/* A frame may choose only where the table leaves a choice. */
		if (asked != -1 && want != -1 && asked != want) {
			if (forcebackend >= 0)
				return reject(id, frame, 400, "bad_backend",
				    "this airlock-wake runs the %s backend only "
				    "(-b)", backend_name(want));
			return reject(id, frame, 400, "bad_backend",
			    "intent %s runs on the %s backend only",
			    row->pattern, backend_name(want));
		}
		if (asked != -1)
			want = asked;
	}
	b = backend_for(want, row);

	s = snapshot_for(row, b);
	if (!s->up)
		return reject(id, frame, 500, "sandbox_unavailable",
		    "%s", s->error);
	if ((e = pool_take(s, &hit)) == NULL)
		return reject(id, frame, 500, "sandbox_unavailable",
		    "could not wake a sandbox of %s/%s: %s", s->image, s->name,
		    s->error[0] ? s->error : strerror(errno));

	rec = json_pack("{s:i, s:s, s:O, "
	    "s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}, "
	    "s:{s:s, s:s, s:s, s:I}}",
	    "v", RECORD_VERSION, "id", id, "frame", frame,
	    "route", "intent", intent, "pattern", row->pattern,
	    "image", s->image, "image_digest", s->image_digest,
	    "snapshot", s->name, "snapshot_digest", s->digest,
	    "policy", row->pattern, "policy_digest", row->policy_digest,
	    "mode", row->mode == SNAFT_FAST ? "fast" : "observe",
	    "limits", limits_json(&lim),
	    "wake", "backend", backend_name(b->id), "handle", e->path,
	    "pool", hit ? "hit" : "cold", "wake_us",
	    (json_int_t)(now_us() - t0));
	if (rec != NULL && s->report != NULL)
		json_object_set_new(json_object_get(rec, "route"), "report",
		    json_string(s->report));
	if (rec != NULL)
		json_object_set_new(json_object_get(rec, "wake"), "cgroup",
		    e->cg.version == 0 ? json_null() : json_pack("{s:i, s:s, "
		    "s:s}", "version", e->cg.version, "memory", e->cg.memory,
		    "pids", e->cg.pids));
	/* A kvm sandbox's kernel is its VMM. */
	if (rec != NULL && s->kernel_digest[0] != '\0')
		json_object_set_new(json_object_get(rec, "wake"),
		    "kernel_digest", json_string(s->kernel_digest));
	pool_handout(e);
	return rec;
}

static int
rmentry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/*
 * What a wake killed with SIGKILL left: its runtime directory (socket
 * files), and its cgroups, which cgroup_sweep() finds by their own lock
 * (a wake with another -r leaves its directory elsewhere).  A live wake
 * holds the flock of its directory's lock file for its whole life; pids
 * cannot tell, since wakes in other pid namespaces share the directory.
 * Called at start and now and then.
 */
static void
sweep(const char *base)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int fd;

	if ((dp = opendir(base)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (strncmp(d->d_name, "wake-", 5) != 0 ||
		    strcmp(d->d_name, instance) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/lock", base, d->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			continue;	/* just being made, or not ours */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			log_debug("sweeping %s, left by a dead wake",
			    d->d_name);
			snprintf(path, sizeof(path), "%s/%s", base, d->d_name);
			nftw(path, rmentry, 16, FTW_DEPTH | FTW_PHYS);
		}
		close(fd);
	}
	closedir(dp);
	cgroup_sweep(cgroup_version);
}

/*
 * Our runtime directory, rundirbase/wake-PID-HEX: pid and random bits,
 * since wakes in other pid namespaces share the tree (and the cgroup
 * trees, which this name names too).  Only we may enter it (mode 0700),
 * and we hold its lock for life; then what dead wakes left is swept.
 */
static void
setup_rundir(const char *rundirbase)
{
	static char base[PATH_MAX - 128];
	char rnd[RECORD_ID_LEN + 1], lock[PATH_MAX + 8];
	int lfd;

	/* "/run/airlock/" and "/run/airlock" are one directory. */
	snprintf(base, sizeof(base), "%s", rundirbase);
	trim_slashes(base);
	/* Others' directories must be reachable by their sandboxes' clients. */
	if (mkdir(base, 0755) != 0 && errno != EEXIST)
		err(EXIT_SYSTEM, "mkdir %s", base);
	if (record_newid(rnd) != 0)
		err(EXIT_SYSTEM, "getrandom");
	snprintf(instance, sizeof(instance), "wake-%d-%.8s", (int)getpid(),
	    rnd);
	snprintf(rundir, sizeof(rundir), "%s/%s", base, instance);
	if (mkdir(rundir, 0700) != 0)
		err(EXIT_SYSTEM, "mkdir %s", rundir);
	snprintf(lock, sizeof(lock), "%s/lock", rundir);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0)
		err(EXIT_SYSTEM, "lock %s", lock);
	sweepbase = base;
	sweep(base);
}

/* Every sandbox and zygote gone, then our cgroups and directory. */
static void
cleanup(void)
{
	pool_empty(1);
	snapshot_stop_all();
	/*
	 * Every task is gone now (the zygotes were the sandboxes' pid 1), so
	 * whatever cgroup was left busy a moment ago can go, then ours.
	 */
	cgroup_remove_instance(instance, 100);
	/* And what dead wakes left that was still busy at our last sweep. */
	if (sweepbase != NULL)
		sweep(sweepbase);
	if (rundir[0] != '\0')
		nftw(rundir, rmentry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Between frames: keep every pool full and fresh, forget what ended. */
static void
maintain(void)
{
	static uint64_t lastsweep;
	struct snapshot *s;

	for (s = snapshots; s != NULL; s = s->next)
		pool_tend(s);
	pool_reap(0);
	/* A dead wake's cgroups empty out a little after it died. */
	if (now_us() - lastsweep > 2000000) {
		lastsweep = now_us();
		sweep(sweepbase);
	}
}

/*
 * Sleep until a frame arrives, a backend has a sandbox ready, or a second
 * passes (for expiry).  Returns -1 when stdin is gone for good.
 */
static int
waitinput(void)
{
	struct pollfd pfd[1 + 64];
	struct snapshot *s;
	uint64_t due;
	int n = 1, ms = 1000;

	pfd[0].fd = 0;
	pfd[0].events = POLLIN;
	for (s = snapshots; s != NULL && n < 65; s = s->next)
		if (s->up && s->npending > 0) {
			pfd[n].fd = s->backend->readyfd(s);
			pfd[n++].events = POLLIN;
		}
	/*
	 * A deferred refill (pool_refill_due) wakes us when it is due.  One
	 * due now but not made (its request failed) waits for the second, as
	 * before: no spinning on a failing request.
	 */
	for (s = snapshots; s != NULL; s = s->next)
		if (s->up && s->npool + s->npending < s->target &&
		    (due = pool_refill_due(s)) > 0 &&
		    (due + 999) / 1000 < (uint64_t)ms)
			ms = (int)((due + 999) / 1000);
	if (poll(pfd, (nfds_t)n, ms) < 0 && errno != EINTR)
		return -1;
	return 0;
}

/* Write one record; -1 if the reader has gone. */
static int
writerecord(json_t *rec)
{
	int rc;

	if (rec == NULL)
		err(EXIT_SYSTEM, "building a record");
	/* Traced before the write: snaft may read it at once. */
	TRACE_RECORD(rec, "wake.out");
	rc = jsonl_write(stdout, rec);
	json_decref(rec);
	if (rc != 0)
		warn("write");
	return rc;
}

/*
 * Frames, one line each, until the end of input or SIGTERM.  Everything
 * else (collecting new sandboxes, giving them cgroups, retiring old ones,
 * removing what ended) happens between frames, never while one waits.
 */
static int
serve(struct jsonl_reader *r)
{
	struct jsonl_error je;
	json_t *frame, *rec;
	int n;

	while (!gotsig) {
		n = jsonl_next_record(r, "wake", 0, &frame, &je);
		if (n < 0 && errno == EAGAIN) {
			maintain();
			if (waitinput() < 0)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warn("read");
			return EXIT_SYSTEM;
		}
		if (n == 0)
			break;
		/* A line that is not a frame is its own rejection. */
		if (frame == NULL || je.code != JSONL_OK)
			rec = frame;
		else {
			rec = route(frame);
			json_decref(frame);
		}
		if (writerecord(rec) != 0)
			return EXIT_SYSTEM;
	}
	return EXIT_OK;
}

/*
 * SIGTERM: every frame already here still gets its line, a 503 that keeps
 * the id it came with, so that its sender can match it.
 */
static int
drain(struct jsonl_reader *r)
{
	struct jsonl_error je;
	char id[RECORD_ID_LEN + 1];
	const char *fid;
	json_t *frame, *rec;

	while (jsonl_next_record(r, "wake", 0, &frame, &je) == 1) {
		if (frame == NULL || je.code != JSONL_OK)
			rec = frame;
		else {
			fid = jsonl_get_string(frame, "id");
			if (fid != NULL && ishexid(fid))
				snprintf(id, sizeof(id), "%s", fid);
			else if (record_newid(id) != 0)
				err(EXIT_SYSTEM, "getrandom");
			rec = reject(id, frame, 503, "shutting_down",
			    "airlock-wake is shutting down");
			json_decref(frame);
		}
		if (writerecord(rec) != 0)
			return EXIT_SYSTEM;
	}
	return EXIT_OK;
}

static void
onsignal(int sig)
{
	gotsig = sig;
}

int
main(int argc, char *argv[])
{
	const char *intents, *rundirbase;
	struct jsonl_reader *r;
	struct sigaction sa;
	char errbuf[1024];
	long long num;
	int ch, rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-wake %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	intents = getenv("AIRLOCK_INTENTS") ? getenv("AIRLOCK_INTENTS") :
	    DEFAULT_INTENTS;
	imagesdir = getenv("AIRLOCK_IMAGES") ? getenv("AIRLOCK_IMAGES") :
	    DEFAULT_IMAGES;
	rundirbase = getenv("AIRLOCK_RUNDIR") ? getenv("AIRLOCK_RUNDIR") :
	    DEFAULT_RUNDIR;
	while ((ch = getopt(argc, argv, "b:I:l:p:qr:t:Vv")) != -1) {
		switch (ch) {
		case 'b':
			if ((forcebackend = backend_parse(optarg)) == -1 &&
			    strcmp(optarg, "auto") != 0)
				errx(EXIT_USAGE, "-b: unknown backend %s",
				    optarg);
			break;
		case 'I':
			imagesdir = optarg;
			break;
		case 'l':
			if (parse_number(optarg, 1000, 86400000, &num) != 0)
				errx(EXIT_USAGE, "-l: lease must be 1000.."
				    "86400000 ms");
			lease_ms = (uint64_t)num;
			break;
		case 'p':
			if (parse_number(optarg, 0, 64, &num) != 0)
				errx(EXIT_USAGE, "-p: pool size must be 0..64");
			poolsize = (size_t)num;
			break;
		case 'q':
			log_level = 0;
			break;
		case 'r':
			rundirbase = optarg;
			break;
		case 't':
			intents = optarg;
			break;
		case 'V':
			printf("airlock-wake %s\n", AIRLOCK_VERSION);
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

	if ((table = intents_load(intents, errbuf, sizeof(errbuf))) == NULL)
		errx(EXIT_USAGE, "%s", errbuf);
	setup_rundir(rundirbase);
	trace_init();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((cgroup_version = cgroup_probe(errbuf, sizeof(errbuf))) == 0)
		log_info("warning: %s; sandbox limits are rlimits only", errbuf);
	else if (cgroup_instance_hold(cgroup_version, instance) < 0) {
		log_info("warning: cannot make the cgroup of %s: %s; sandbox "
		    "limits are rlimits only", instance, strerror(errno));
		cgroup_version = 0;
	} else
		cgroup_sweep(cgroup_version);
	pool_warm(table, choose);

	if ((r = jsonl_reader_new(0, 0)) == NULL)
		err(EXIT_SYSTEM, NULL);
	if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) != 0)
		err(EXIT_SYSTEM, "stdin");
	rc = serve(r);
	if (gotsig && rc == EXIT_OK)
		rc = drain(r);
	jsonl_reader_free(r);
	/*
	 * Our readers may still be claiming the sandboxes we woke: close our
	 * output so they see the end, and keep the zygotes (the sandboxes'
	 * pid 1) alive until those runs are over or their lease is up.
	 */
	fclose(stdout);
	pool_empty(0);
	pool_reap((int)(lease_ms > INT32_MAX ? INT32_MAX : lease_ms));
	cleanup();
	intents_free(table);
	trace_cpu("wake");
	return rc;
}
