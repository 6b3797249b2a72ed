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
#include "intents.h"
#include "jsonl.h"
#include "sha256.h"
#include "wake.h"

#define DEFAULT_INTENTS	"/etc/airlock/intents"
#define DEFAULT_IMAGES	"/var/lib/airlock/images"
#define DEFAULT_RUNDIR	"/run/airlock"

static struct intent_table	*table;
static struct snapshot		*snapshots;
static const char		*imagesdir;
static char			 rundir[PATH_MAX];
static const char		*sweepbase;	/* where dead wakes' dirs are */
char				 instance[64];	/* wake-PID-RANDOM */
static size_t			 poolsize = 2;
static uint64_t			 lease_ms = 60000;
static const char		*forcebackend;
static volatile sig_atomic_t	 gotsig;
/* Sandboxes handed out: the zygote must outlive them (it is their pid 1). */
static struct pool_entry	*handedout;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-wake [-qVv] [-b backend] [-I images] "
	    "[-l lease_ms] [-p pool]\n"
	    "                    [-r rundir] [-t intents]\n");
	exit(EXIT_USAGE);
}

static char *
readsmall(const char *path, size_t max, size_t *lenp)
{
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, max + 1);
	close(fd);
	if (n < 0 || (size_t)n > max) {
		free(buf);
		errno = n < 0 ? errno : EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

/*
 * Load a snapshot description: images/IMAGE/snapshots/NAME, lines
 * "runner PATH" and "preload MODULE...".  Its digest covers the image
 * digest and the description, so a changed image or preload list is a
 * different snapshot.
 */
static int
snapshot_load(struct snapshot *s, const struct intent *row)
{
	char path[PATH_MAX], *text, *digest, *line, *save, *tok, *buf;
	struct sha256 h;
	uint8_t d[SHA256_LEN];
	size_t len, dlen;
	struct stat st;

	s->lease_ms = lease_ms;
	s->tmp_bytes = row->limits.tmp_bytes;
	s->memory_bytes = row->limits.memory_bytes;
	snprintf(path, sizeof(path), "%s/%s/digest", imagesdir, s->image);
	if ((digest = readsmall(path, 200, &dlen)) == NULL) {
		snprintf(s->error, sizeof(s->error), "image %s is not built "
		    "(%s: %s)", s->image, path, strerror(errno));
		return -1;
	}
	digest[strcspn(digest, "\n")] = '\0';
	if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71) {
		snprintf(s->error, sizeof(s->error), "%s: not a sha256 digest",
		    path);
		free(digest);
		return -1;
	}
	snprintf(s->image_digest, sizeof(s->image_digest), "%s", digest);
	free(digest);
	snprintf(s->rootfs, sizeof(s->rootfs), "%s/%s/rootfs", imagesdir,
	    s->image);
	if (stat(s->rootfs, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(s->error, sizeof(s->error), "image %s has no root "
		    "filesystem at %s", s->image, s->rootfs);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/snapshots/%s", imagesdir, s->image,
	    s->name);
	if ((text = readsmall(path, 65536, &len)) == NULL) {
		snprintf(s->error, sizeof(s->error), "snapshot %s of %s: %s: %s",
		    s->name, s->image, path, strerror(errno));
		return -1;
	}
	sha256_init(&h);
	sha256_update(&h, s->image_digest, strlen(s->image_digest));
	sha256_update(&h, "\n", 1);
	sha256_update(&h, text, len);
	sha256_final(&h, d);
	memcpy(s->digest, "sha256:", 7);
	sha256_tohex(d, s->digest + 7);

	if ((buf = strdup(text)) == NULL)
		err(EXIT_SYSTEM, NULL);
	free(text);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *lsave;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		tok = strtok_r(line, " \t", &lsave);
		if (tok == NULL)
			continue;
		if (strcmp(tok, "runner") == 0) {
			tok = strtok_r(NULL, " \t", &lsave);
			if (tok == NULL || tok[0] != '/')
				goto bad;
			free(s->runner);
			if ((s->runner = strdup(tok)) == NULL)
				err(EXIT_SYSTEM, NULL);
		} else if (strcmp(tok, "kvm") == 0) {
			/* The kvm backend's program: images/snapshot-kvm's. */
			if ((tok = strtok_r(NULL, " \t", &lsave)) == NULL ||
			    tok[0] != '/')
				goto bad;
		} else if (strcmp(tok, "preload") == 0) {
			while ((tok = strtok_r(NULL, " \t", &lsave)) != NULL) {
				if (s->npreload == SNAPSHOT_MAXPRELOAD)
					goto bad;
				if ((s->preload[s->npreload++] = strdup(tok)) ==
				    NULL)
					err(EXIT_SYSTEM, NULL);
			}
		} else
			goto bad;
	}
	free(buf);
	if (s->runner == NULL) {
		snprintf(s->error, sizeof(s->error), "%s: no runner line", path);
		return -1;
	}
	return 0;
bad:
	free(buf);
	snprintf(s->error, sizeof(s->error), "%s: malformed line", path);
	return -1;
}

static struct snapshot *
snapshot_for(const struct intent *row)
{
	struct snapshot *s;
	char errbuf[512];

	/*
	 * One zygote per snapshot and /tmp size: a pool sandbox mounts its
	 * /tmp before anyone knows which row's frame it will serve.
	 */
	for (s = snapshots; s != NULL; s = s->next)
		if (strcmp(s->image, row->image) == 0 &&
		    strcmp(s->name, row->snapshot) == 0 &&
		    s->tmp_bytes == row->limits.tmp_bytes)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		err(EXIT_SYSTEM, NULL);
	if ((s->image = strdup(row->image)) == NULL ||
	    (s->name = strdup(row->snapshot)) == NULL)
		err(EXIT_SYSTEM, NULL);
	s->pid = -1;
	s->ctl = -1;
	s->target = poolsize;
	s->next = snapshots;
	snapshots = s;
	if (snapshot_load(s, row) != 0) {
		log_info("%s", s->error);
		return s;
	}
	if (zygote_start(s, errbuf, sizeof(errbuf)) != 0) {
		snprintf(s->error, sizeof(s->error), "%s", errbuf);
		log_info("%s", s->error);
		return s;
	}
	log_debug("zygote for %s/%s is ready", s->image, s->name);
	return s;
}

/* Collect finished spawns without blocking; keep the pool at its size. */
static void
pool_tend(struct snapshot *s)
{
	struct pollfd pfd = { s->ctl, POLLIN, 0 };
	struct pool_entry *e;
	uint64_t now = now_us();

	if (s->ctl < 0)
		return;
	while (s->npending > 0 && poll(&pfd, 1, 0) == 1) {
		if (pool_collect(s) != 0) {
			snprintf(s->error, sizeof(s->error), "zygote for %s/%s "
			    "died", s->image, s->name);
			log_info("%s", s->error);
			zygote_stop(s);
			return;
		}
	}
	/* Sandboxes past half their lease are not handed out any more. */
	while ((e = s->pool) != NULL && now - e->t_us > s->lease_ms * 500) {
		s->pool = e->next;
		s->npool--;
		pool_discard(e);
	}
	while (s->npool + s->npending < s->target)
		if (pool_request(s, rundir) != 0) {
			log_info("requesting a sandbox: %s", strerror(errno));
			break;
		}
}

/* A sandbox for this frame: from the pool if one is ready, else cold. */
static struct pool_entry *
pool_take(struct snapshot *s, int *hit)
{
	struct pool_entry *e;

	/*
	 * Off the hot path: pool_tend runs after the record is written.  Only
	 * the age check is done here, so that a sandbox near the end of its
	 * lease is never handed out even when tending has not run.
	 */
	while ((e = s->pool) != NULL && now_us() - e->t_us > s->lease_ms * 500) {
		s->pool = e->next;
		s->npool--;
		pool_discard(e);
	}
	*hit = s->pool != NULL;
	if (!*hit)
		pool_tend(s);
	while (s->pool == NULL) {
		if (s->ctl < 0)
			return NULL;
		if (s->npending == 0 && pool_request(s, rundir) != 0)
			return NULL;
		if (pool_collect(s) != 0) {
			snprintf(s->error, sizeof(s->error), "zygote for %s/%s "
			    "died", s->image, s->name);
			zygote_stop(s);
			return NULL;
		}
	}
	e = s->pool;
	s->pool = e->next;
	s->npool--;
	return e;
}

/*
 * Whether a handed-out sandbox's cgroup must stay a while after its
 * payload ended: when the kernel's OOM killer ended it, airlock-snaft reads
 * that count there for the verdict, and removes the cgroup itself once it
 * has.  If it has not after HANDEDOUT_OOM_US (it died), we do.  Any other
 * end needs nothing of the cgroup.
 */
static int
keep_cgroup(struct pool_entry *e, uint64_t now)
{
	return e->cg.version != 0 && !gotsig &&
	    now - e->ended_us < HANDEDOUT_OOM_US &&
	    cgroup_oom_kills(&e->cg) > 0;
}

/*
 * Forget handed-out sandboxes that have ended, and their cgroups; with
 * wait_ms, wait up to that long for all of them (at end of input, before
 * the zygotes go).
 */
static void
reap_handedout(int wait_ms)
{
	struct pool_entry *e, **ep;
	struct pollfd pfd;
	uint64_t until = now_us() + (uint64_t)wait_ms * 1000, t;

	for (;;) {
		t = now_us();
		for (ep = &handedout; (e = *ep) != NULL;) {
			pfd.fd = e->pidfd;
			pfd.events = POLLIN;
			if (e->ended_us == 0 && poll(&pfd, 1, 0) == 1)
				e->ended_us = t;
			if (e->ended_us == 0 || keep_cgroup(e, t)) {
				ep = &e->next;
				continue;
			}
			*ep = e->next;
			if (e->cg.version != 0)
				pool_uncgroup(e);
			close(e->pidfd);
			unlink(e->path);
			free(e);
		}
		if (handedout == NULL || t >= until || gotsig)
			return;
		(void)poll(NULL, 0, 10);
	}
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

static json_t *
limits_json(const struct limits *l)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
	    "wall_ms", (json_int_t)l->wall_ms, "cpu_ms", (json_int_t)l->cpu_ms,
	    "memory_bytes", (json_int_t)l->memory_bytes,
	    "output_bytes", (json_int_t)l->output_bytes,
	    "file_bytes", (json_int_t)l->file_bytes,
	    "tmp_bytes", (json_int_t)l->tmp_bytes);
}

static json_t *
route(json_t *frame)
{
	char id[RECORD_ID_LEN + 1], why[256];
	const char *intent, *payload, *backend, *fid, *bad;
	const struct intent *row;
	struct pool_entry *e;
	struct snapshot *s;
	struct limits lim;
	json_t *v, *rec;
	uint64_t t0;
	int hit;

	t0 = now_us();
	fid = jsonl_get_string(frame, "id");
	if (fid != NULL && ishexid(fid))
		snprintf(id, sizeof(id), "%s", fid);
	else if (record_newid(id) != 0)
		err(EXIT_SYSTEM, "getrandom");
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

	/* No silent downgrade: kvm asked for is kvm or an error. */
	backend = forcebackend ? forcebackend : row->backend;
	if ((v = json_object_get(frame, "backend")) != NULL) {
		if (!json_is_string(v))
			return reject(id, frame, 400, "wrong_type",
			    "\"backend\" must be a string");
		/* A frame may choose only where the table leaves a choice. */
		if (strcmp(backend, "auto") != 0 &&
		    strcmp(json_string_value(v), backend) != 0) {
			if (forcebackend != NULL)
				return reject(id, frame, 400, "bad_backend",
				    "this airlock-wake runs the %s backend only "
				    "(-b)", backend);
			return reject(id, frame, 400, "bad_backend",
			    "intent %s runs on the %s backend only",
			    row->pattern, backend);
		}
		backend = json_string_value(v);
	}
	if (strcmp(backend, "kvm") == 0)
		return reject(id, frame, 500, "backend_unavailable",
		    "the kvm backend is not available in this airlock-wake");
	if (strcmp(backend, "process") != 0 && strcmp(backend, "auto") != 0)
		return reject(id, frame, 400, "bad_backend",
		    "unknown backend \"%.40s\"", backend);

	s = snapshot_for(row);
	if (s->ctl < 0)
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
	    "wake", "backend", "process", "handle", e->path,
	    "pool", hit ? "hit" : "cold", "wake_us",
	    (json_int_t)(now_us() - t0));
	if (rec != NULL)
		json_object_set_new(json_object_get(rec, "wake"), "cgroup",
		    e->cg.version == 0 ? json_null() : json_pack("{s:i, s:s, "
		    "s:s}", "version", e->cg.version, "memory", e->cg.memory,
		    "pids", e->cg.pids));
	/* The sandbox is snaft's now; it expires by itself if unclaimed. */
	e->next = handedout;
	handedout = e;
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
 * Remove a cgroup directory and its sb-* children, trying tries times 10 ms
 * apart.  Returns 0 when it is gone.
 */
static int
rmcgroups(const char *dir, int tries)
{
	char path[PATH_MAX + 256];
	struct dirent *d;
	DIR *dp;
	int i;

	for (i = 0; i < tries; i++) {
		if ((dp = opendir(dir)) == NULL)
			return errno == ENOENT ? 0 : -1;
		while ((d = readdir(dp)) != NULL)
			if (strncmp(d->d_name, "sb-", 3) == 0) {
				snprintf(path, sizeof(path), "%s/%s", dir,
				    d->d_name);
				rmdir(path);
			}
		closedir(dp);
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (i + 1 < tries)
			usleep(10000);
	}
	return -1;
}

/*
 * This instance's cgroup directories, in whichever hierarchy is in use.
 * Returns 0 when none is left.
 */
static int
rminstance(const char *name, int tries)
{
	static const char *const roots[] = { "/sys/fs/cgroup/memory/airlock",
	    "/sys/fs/cgroup/pids/airlock", "/sys/fs/cgroup/airlock" };
	char path[PATH_MAX];
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", roots[i], name);
		if (rmcgroups(path, tries) != 0) {
			rc = -1;
			if (tries > 1)
				log_info("warning: cgroup %s is still busy; "
				    "left behind", path);
		}
	}
	return rc;
}

/*
 * What a wake killed with SIGKILL left: its runtime directory (socket
 * files) and its cgroups.  A live wake holds the flock of its directory's
 * lock file for its whole life; pids cannot tell, since wakes in other pid
 * namespaces share the directory.  Called at start and now and then.
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
			/*
			 * Its sandboxes may still be dying: until its cgroups
			 * are gone, keep the directory (and its lock file) so
			 * that a later sweep finds it again.
			 */
			if (rminstance(d->d_name, 1) == 0) {
				snprintf(path, sizeof(path), "%s/%s", base,
				    d->d_name);
				nftw(path, rmentry, 16, FTW_DEPTH | FTW_PHYS);
			}
		}
		close(fd);
	}
	closedir(dp);
}

static void
cleanup(void)
{
	struct snapshot *s;

	struct pool_entry *e;

	while ((e = handedout) != NULL) {
		handedout = e->next;
		pool_discard(e);
	}
	for (s = snapshots; s != NULL; s = s->next)
		zygote_stop(s);
	/*
	 * Every task is gone now (the zygotes were the sandboxes' pid 1), so
	 * whatever cgroup was left busy a moment ago can go, then ours.
	 */
	rminstance(instance, 100);
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
	reap_handedout(0);
	/* A dead wake's cgroups empty out a little after it died. */
	if (now_us() - lastsweep > 2000000) {
		lastsweep = now_us();
		sweep(sweepbase);
	}
}

/*
 * Sleep until a frame arrives, a zygote answers, or a second passes (for
 * expiry).  Returns -1 when stdin is gone for good.
 */
static int
waitinput(void)
{
	struct pollfd pfd[1 + 64];
	struct snapshot *s;
	int n = 1;

	pfd[0].fd = 0;
	pfd[0].events = POLLIN;
	for (s = snapshots; s != NULL && n < 65; s = s->next)
		if (s->ctl >= 0 && s->npending > 0) {
			pfd[n].fd = s->ctl;
			pfd[n++].events = POLLIN;
		}
	if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
		return -1;
	return 0;
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
	struct jsonl_error je;
	struct sigaction sa;
	char errbuf[1024];
	const char *line;
	json_t *frame, *rec;
	size_t len;
	long n = 0;
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
			if (strcmp(optarg, "process") != 0 &&
			    strcmp(optarg, "kvm") != 0 &&
			    strcmp(optarg, "auto") != 0)
				errx(EXIT_USAGE, "-b: unknown backend %s",
				    optarg);
			forcebackend = optarg;
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
	if (forcebackend != NULL && strcmp(forcebackend, "kvm") == 0)
		errx(EXIT_SANDBOX, "-b kvm: the kvm backend is not available "
		    "in this airlock-wake");

	/* "/run/airlock/" and "/run/airlock" are one directory. */
	{
		static char base[PATH_MAX - 128];

		snprintf(base, sizeof(base), "%s", rundirbase);
		trim_slashes(base);
		rundirbase = base;
	}
	/* Our runtime directory: only we may enter it (mode 0700). */
	if (mkdir(rundirbase, 0755) != 0 && errno != EEXIST)
		err(EXIT_SYSTEM, "mkdir %s", rundirbase);
	/*
	 * This wake's name for its runtime directory and cgroups: pid and
	 * random bits, since wakes in other pid namespaces share both trees.
	 */
	{
		char rnd[RECORD_ID_LEN + 1];

		if (record_newid(rnd) != 0)
			err(EXIT_SYSTEM, "getrandom");
		snprintf(instance, sizeof(instance), "wake-%d-%.8s",
		    (int)getpid(), rnd);
	}
	snprintf(rundir, sizeof(rundir), "%s/%s", rundirbase, instance);
	if (mkdir(rundir, 0700) != 0)
		err(EXIT_SYSTEM, "mkdir %s", rundir);
	/* Held for life: how a sweep by another wake knows we are alive. */
	{
		char lock[PATH_MAX + 8];
		int lfd;

		snprintf(lock, sizeof(lock), "%s/lock", rundir);
		if ((lfd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600)) < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0)
			err(EXIT_SYSTEM, "lock %s", lock);
	}
	sweepbase = rundirbase;
	sweep(rundirbase);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((cgroup_version = cgroup_probe(errbuf, sizeof(errbuf))) == 0)
		log_info("warning: %s; sandbox limits are rlimits only", errbuf);

	/* Start every process-backend snapshot now, so the first frame is warm. */
	{
		size_t i;

		struct snapshot *s;

		for (i = 0; i < table->nrows; i++)
			pool_tend(snapshot_for(&table->rows[i]));
		/* The zygotes answer within milliseconds: be warm from frame 1. */
		for (s = snapshots; s != NULL; s = s->next)
			while (s->ctl >= 0 && s->npending > 0)
				if (pool_collect(s) != 0) {
					zygote_stop(s);
					break;
				}
	}

	if ((r = jsonl_reader_new(0, 0)) == NULL)
		err(EXIT_SYSTEM, NULL);
	if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) != 0)
		err(EXIT_SYSTEM, "stdin");
	rc = EXIT_OK;
	/*
	 * Frames first; everything else (collecting new sandboxes from the
	 * zygotes, giving them cgroups, retiring old ones, removing what ended)
	 * happens between frames, never while a frame waits.
	 */
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
		if (n != 1)
			break;
		/* A line that is not a frame is its own rejection. */
		if (frame == NULL || je.code != JSONL_OK)
			rec = frame;
		else {
			rec = route(frame);
			json_decref(frame);
		}
		if (rec == NULL)
			err(EXIT_SYSTEM, "building a record");
		if (jsonl_write(stdout, rec) != 0) {
			json_decref(rec);
			warn("write");
			rc = EXIT_SYSTEM;
			break;
		}
		json_decref(rec);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR && !gotsig) {
		warn("read");
		rc = EXIT_SYSTEM;
	}
	/* SIGTERM: every frame already here still gets its line, a 503. */
	while (gotsig && rc == EXIT_OK && jsonl_next(r, &line, &len) == 1) {
		char id[RECORD_ID_LEN + 1];

		frame = line ? jsonl_parse(line, len, &je) : NULL;
		if (frame == NULL) {
			if (line == NULL) {
				je.code = JSONL_TOO_LONG;
				snprintf(je.text, sizeof(je.text), "frame of "
				    "%zu bytes exceeds the line cap", len);
			}
			rec = jsonl_reject_line(line, len, &je, "wake");
		} else {
			if (record_newid(id) != 0)
				err(EXIT_SYSTEM, "getrandom");
			rec = reject(id, frame, 503, "shutting_down",
			    "airlock-wake is shutting down");
			json_decref(frame);
		}
		if (rec == NULL || jsonl_write(stdout, rec) != 0)
			rc = EXIT_SYSTEM;
		json_decref(rec);
	}
	jsonl_reader_free(r);
	/*
	 * Our readers may still be claiming the sandboxes we woke: close our
	 * output so they see the end, and keep the zygotes (the sandboxes'
	 * pid 1) alive until those runs are over or their lease is up.
	 */
	fclose(stdout);
	{
		struct snapshot *s;
		struct pool_entry *e;

		for (s = snapshots; s != NULL; s = s->next)
			while ((e = s->pool) != NULL) {
				s->pool = e->next;
				s->npool--;
				pool_discard(e);
			}
	}
	reap_handedout((int)(lease_ms > INT32_MAX ? INT32_MAX : lease_ms));
	cleanup();
	intents_free(table);
	return rc;
}
