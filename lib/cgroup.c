/*
 * Per-sandbox cgroups, v1 or v2 (DESIGN.md section 4).  airlock-wake makes
 * one for every pool sandbox and removes it when the sandbox is gone;
 * airlock-snaft may tighten its memory limit for a run and reads whether
 * the kernel's OOM killer ended the run.  Where neither hierarchy can be
 * used the caller logs a warning and relies on rlimits, which the runner
 * always sets: never no limit.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <dirent.h>

#include <linux/magic.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "cgroup.h"

#define V1_MEMORY	"/sys/fs/cgroup/memory"
#define V1_PIDS		"/sys/fs/cgroup/pids"
#define V2_ROOT		"/sys/fs/cgroup"
#define V2_HYBRID	"/sys/fs/cgroup/unified"

static int
writestr(const char *dir, const char *file, const char *val)
{
	char path[CGROUP_PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_file(path, val);
}

static int
writeu64(const char *dir, const char *file, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return writestr(dir, file, buf);
}

static int
isfs(const char *path, unsigned long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == magic;
}

static int
mkdirs(const char *base, const char *rel)
{
	char path[CGROUP_PATH_MAX];
	char *p;

	if (snprintf(path, sizeof(path), "%s/%s", base, rel) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = path + strlen(base) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Enable a controller for the children of every level down to rel. */
static int
v2_enable(const char *root, const char *rel)
{
	char path[CGROUP_PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s", root);
	if (writestr(path, "cgroup.subtree_control", "+memory +pids") != 0)
		return -1;
	p = path + strlen(path);
	while (*rel != '\0') {
		const char *slash = strchr(rel, '/');
		size_t n = slash ? (size_t)(slash - rel) : strlen(rel);

		if ((size_t)(p - path) + n + 2 >= sizeof(path))
			return -1;
		*p++ = '/';
		memcpy(p, rel, n);
		p += n;
		*p = '\0';
		rel += n + (slash != NULL);
		if (*rel == '\0')
			break;
		if (writestr(path, "cgroup.subtree_control", "+memory +pids") != 0)
			return -1;
	}
	return 0;
}

int
cgroup_probe(char *why, size_t len)
{
	char path[128];

	if (isfs(V1_MEMORY, CGROUP_SUPER_MAGIC) &&
	    isfs(V1_PIDS, CGROUP_SUPER_MAGIC) && access(V1_MEMORY, W_OK) == 0)
		return 1;
	if (isfs(V2_ROOT, CGROUP2_SUPER_MAGIC)) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control",
		    V2_ROOT);
		if (access(path, W_OK) == 0)
			return 2;
	}
	snprintf(why, len, "no writable cgroup hierarchy with the memory and "
	    "pids controllers (v1 at %s, v2 at %s)", V1_MEMORY, V2_ROOT);
	return 0;
}

int
cgroup_create(struct cgroup *cg, int version, const char *rel, pid_t pid,
    uint64_t memory, uint64_t pids)
{
	char buf[32];

	memset(cg, 0, sizeof(*cg));
	cg->version = version;
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (version == 1) {
		if (mkdirs(V1_MEMORY, rel) != 0 || mkdirs(V1_PIDS, rel) != 0)
			return -1;
		snprintf(cg->memory, sizeof(cg->memory), "%s/%s", V1_MEMORY, rel);
		snprintf(cg->pids, sizeof(cg->pids), "%s/%s", V1_PIDS, rel);
		/* Swap counts too where the kernel accounts it. */
		if (writeu64(cg->memory, "memory.limit_in_bytes", memory) != 0)
			goto remove_cgroup;
		(void)writeu64(cg->memory, "memory.memsw.limit_in_bytes", memory);
		if (writeu64(cg->pids, "pids.max", pids) != 0 ||
		    writestr(cg->memory, "cgroup.procs", buf) != 0 ||
		    writestr(cg->pids, "cgroup.procs", buf) != 0)
			goto remove_cgroup;
		return 0;
	}
	if (version == 2) {
		if (mkdirs(V2_ROOT, rel) != 0 || v2_enable(V2_ROOT, rel) != 0)
			return -1;
		snprintf(cg->memory, sizeof(cg->memory), "%s/%s", V2_ROOT, rel);
		snprintf(cg->pids, sizeof(cg->pids), "%s", cg->memory);
		if (writeu64(cg->memory, "memory.max", memory) != 0 ||
		    writeu64(cg->memory, "pids.max", pids) != 0 ||
		    writestr(cg->memory, "cgroup.procs", buf) != 0)
			goto remove_cgroup;
		(void)writestr(cg->memory, "memory.swap.max", "0");
		return 0;
	}
	errno = EINVAL;
	return -1;
remove_cgroup:
	cgroup_remove(cg);
	return -1;
}

int
cgroup_set_memory(const struct cgroup *cg, uint64_t memory)
{
	if (cg->version == 1) {
		/* memsw must stay >= the plain limit: lower it second. */
		if (writeu64(cg->memory, "memory.limit_in_bytes", memory) != 0)
			return -1;
		(void)writeu64(cg->memory, "memory.memsw.limit_in_bytes", memory);
		return 0;
	}
	return writeu64(cg->memory, "memory.max", memory);
}

long
cgroup_oom_kills(const struct cgroup *cg)
{
	char path[CGROUP_PATH_MAX + 32], line[128];
	long n = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", cg->memory,
	    cg->version == 1 ? "memory.oom_control" : "memory.events");
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "oom_kill %ld", &n) == 1)
			break;
	fclose(fp);
	return n;
}

void
cgroup_remove(const struct cgroup *cg)
{
	if (cg->memory[0] != '\0')
		rmdir(cg->memory);
	if (cg->version == 1 && cg->pids[0] != '\0')
		rmdir(cg->pids);
}

/*
 * The remover thread of cgroup_remove_later(): it takes copies of cgroups
 * down a pipe, one pointer a write (so whole in every read: a write of
 * less than PIPE_BUF is atomic), and a NULL to end.  Only it frees them.
 */
static pthread_t	remover;
static int		removefd[2] = { -1, -1 };

static void *
remove_loop(void *arg)
{
	struct cgroup *cg;

	(void)arg;
	for (;;) {
		ssize_t n = read(removefd[0], &cg, sizeof(cg));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(cg) || cg == NULL)
			break;
		cgroup_remove(cg);
		free(cg);
	}
	return NULL;
}

static int
sendptr(struct cgroup *cg)
{
	ssize_t n;

	while ((n = write(removefd[1], &cg, sizeof(cg))) < 0 && errno == EINTR)
		;
	return n == (ssize_t)sizeof(cg) ? 0 : -1;
}

void
cgroup_remove_later(const struct cgroup *cg)
{
	struct cgroup *copy;

	if (removefd[1] < 0) {
		if (pipe2(removefd, O_CLOEXEC) != 0) {
			cgroup_remove(cg);
			return;
		}
		if (pthread_create(&remover, NULL, remove_loop, NULL) != 0) {
			close(removefd[0]);
			close(removefd[1]);
			removefd[0] = removefd[1] = -1;
			cgroup_remove(cg);
			return;
		}
	}
	if ((copy = malloc(sizeof(*copy))) == NULL ||
	    (memcpy(copy, cg, sizeof(*copy)),
	    sendptr(copy) != 0)) {
		free(copy);
		cgroup_remove(cg);
	}
}

void
cgroup_remove_flush(void)
{
	struct cgroup *end = NULL;

	if (removefd[1] < 0)
		return;
	if (sendptr(end) == 0)
		pthread_join(remover, NULL);
	close(removefd[0]);
	close(removefd[1]);
	removefd[0] = removefd[1] = -1;
}

/* Remove a directory and its sb-* children; 0 when it is gone. */
static int
rmsandboxes(const char *dir, int tries)
{
	char path[CGROUP_PATH_MAX + 256];
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

/* Where instances live, in the order an instance's directories are made. */
static const char *const roots[] = { V1_MEMORY "/airlock", V1_PIDS "/airlock",
    V2_ROOT "/airlock" };

/* The root whose instance directory carries the instance's lock. */
static const char *
lockroot(int version)
{
	return version == 1 ? roots[0] : roots[2];
}

int
cgroup_instance_hold(int version, const char *name)
{
	char path[CGROUP_PATH_MAX];
	int pfd, fd = -1;

	if (version != 1 && version != 2) {
		errno = EINVAL;
		return -1;
	}
	if (mkdir(lockroot(version), 0755) != 0 && errno != EEXIST)
		return -1;
	/*
	 * Shared on the parent while the instance is made and locked, so that
	 * a sweep (exclusive there) never takes it for a dead one's.
	 */
	if ((pfd = open(lockroot(version), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return -1;
	if (flock(pfd, LOCK_SH) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", lockroot(version), name);
	if (mkdir(path, 0755) != 0 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto out;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		fd = -1;
	}
out:
	close(pfd);
	return fd;
}

/*
 * Whether the instance name is held by a live wake: its directory under
 * the lock root exists and its lock is taken.  A directory without that
 * counterpart belongs to an instance already being removed.
 */
static int
held(int version, const char *name)
{
	char path[CGROUP_PATH_MAX];
	int fd, busy;

	snprintf(path, sizeof(path), "%s/%s", lockroot(version), name);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	busy = flock(fd, LOCK_EX | LOCK_NB) != 0;
	close(fd);
	return busy;
}

int
cgroup_sweep(int version)
{
	DIR *dp;
	struct dirent *d;
	size_t i;
	int pfd, n = 0;

	if (version != 1 && version != 2)
		return 0;
	if ((pfd = open(lockroot(version), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return 0;
	/* Another wake is making its instance, or sweeping: next time. */
	if (flock(pfd, LOCK_EX | LOCK_NB) != 0) {
		close(pfd);
		return 0;
	}
	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if ((dp = opendir(roots[i])) == NULL)
			continue;
		while ((d = readdir(dp)) != NULL) {
			if (strncmp(d->d_name, "wake-", 5) != 0 ||
			    held(version, d->d_name))
				continue;
			log_debug("removing the cgroups of %s, a wake that "
			    "is gone", d->d_name);
			if (cgroup_remove_instance(d->d_name, 1) == 0)
				n++;
		}
		closedir(dp);
	}
	close(pfd);
	return n;
}

int
cgroup_remove_instance(const char *name, int tries)
{
	char path[CGROUP_PATH_MAX];
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", roots[i], name);
		if (rmsandboxes(path, tries) != 0) {
			rc = -1;
			if (tries > 1)
				log_info("warning: cgroup %s is still busy; "
				    "left behind", path);
		}
	}
	return rc;
}

pid_t
pidfd_hostpid(int pidfd)
{
	char path[64], line[128];
	FILE *fp;
	int pid = -1;

	/* The kernel shows the pid as our pid namespace numbers it. */
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	fclose(fp);
	return (pid_t)pid;
}
