/*
 * Snapshots (airlock-image(5)): what images/IMAGE/snapshots/NAME says a
 * sandbox of the image starts with, one struct snapshot per backend,
 * snapshot and /tmp size, brought up by its backend when first asked for.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "sha256.h"
#include "wake.h"

struct snapshot	*snapshots;

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
 * NAME=VALUE of an env line: NAME of capitals, digits and '_', not one the
 * sandbox's environment already sets; VALUE printable, no blanks.
 */
static int
env_ok(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t i;

	if (eq == NULL || eq == s || strlen(s) > SNAPSHOT_ENV_MAX ||
	    strncmp(s, "PATH=", 5) == 0 || strncmp(s, "LANG=", 5) == 0 ||
	    strncmp(s, "HOME=", 5) == 0)
		return 0;
	for (i = 0; s + i < eq; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		    (i > 0 && s[i] >= '0' && s[i] <= '9')))
			return 0;
	for (eq++; *eq != '\0'; eq++)
		if ((unsigned char)*eq <= 0x20 || *eq == 0x7f)
			return 0;
	return 1;
}

/*
 * A report's name: one portable file name (letters, digits, '.', '_', '-')
 * of at most FILE_NAME_MAX bytes, since it names a file in /output.
 */
static int
report_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= FILE_NAME_MAX && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/*
 * Load a snapshot description: images/IMAGE/snapshots/NAME, lines
 * "runner PATH", "preload MODULE...", "program PATH", "env NAME=VALUE" and
 * "report NAME" (airlock-image(5)).  Its digest covers the image
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
	s->outdir_bytes = row->limits.outdir_bytes;
	s->files = row->limits.files;
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
		} else if (strcmp(tok, "program") == 0) {
			/* The image's own program, run instead of the payload. */
			if ((tok = strtok_r(NULL, " \t", &lsave)) == NULL ||
			    tok[0] != '/' || s->program != NULL ||
			    strtok_r(NULL, " \t", &lsave) != NULL)
				goto bad;
			if ((s->program = strdup(tok)) == NULL)
				err(EXIT_SYSTEM, NULL);
		} else if (strcmp(tok, "report") == 0) {
			/* The file in /output whose summary the token binds. */
			if ((tok = strtok_r(NULL, " \t", &lsave)) == NULL ||
			    !report_name_ok(tok) || s->report != NULL ||
			    strtok_r(NULL, " \t", &lsave) != NULL)
				goto bad;
			if ((s->report = strdup(tok)) == NULL)
				err(EXIT_SYSTEM, NULL);
		} else if (strcmp(tok, "env") == 0) {
			if ((tok = strtok_r(NULL, " \t", &lsave)) == NULL ||
			    !env_ok(tok) || s->nenv == SNAPSHOT_MAXENV ||
			    strtok_r(NULL, " \t", &lsave) != NULL)
				goto bad;
			if ((s->env[s->nenv++] = strdup(tok)) == NULL)
				err(EXIT_SYSTEM, NULL);
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

/*
 * The snapshot of row for backend b, brought up the first time it is
 * asked for.  One per snapshot, /tmp and /output size and file count: a
 * pool sandbox mounts those before anyone knows which row's frame it will
 * serve.  A snapshot that cannot come up is kept with its error, for the
 * frames that ask.
 */
struct snapshot *
snapshot_for(const struct intent *row, const struct wake_backend *b)
{
	struct snapshot *s;

	for (s = snapshots; s != NULL; s = s->next)
		if (s->backend == b && strcmp(s->image, row->image) == 0 &&
		    s->outdir_bytes == row->limits.outdir_bytes &&
		    s->files == row->limits.files &&
		    strcmp(s->name, row->snapshot) == 0 &&
		    s->tmp_bytes == row->limits.tmp_bytes)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		err(EXIT_SYSTEM, NULL);
	if ((s->image = strdup(row->image)) == NULL ||
	    (s->name = strdup(row->snapshot)) == NULL)
		err(EXIT_SYSTEM, NULL);
	s->backend = b;
	s->pid = -1;
	s->ctl = -1;
	s->kvm_fd = -1;
	s->target = poolsize;
	s->next = snapshots;
	snapshots = s;
	if (snapshot_load(s, row) != 0) {
		log_info("%s", s->error);
		return s;
	}
	if (b->start(s) != 0) {
		log_info("%s", s->error);
		return s;
	}
	s->up = 1;
	log_debug("%s/%s is up (%s)", s->image, s->name, backend_name(b->id));
	return s;
}

void
snapshot_stop_all(void)
{
	struct snapshot *s;

	for (s = snapshots; s != NULL; s = s->next)
		if (s->up) {
			s->backend->stop(s);
			s->up = 0;
		}
}
