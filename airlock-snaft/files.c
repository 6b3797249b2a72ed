/*
 * A run's files (airlock-snaft(1), "Files"): the frame's input files,
 * decoded into one sealed memfd for the sandbox, which writes them into
 * its read-only /input; and what the payload left in /output, read back
 * through the directory descriptor the sandbox handed us.
 *
 * /output was written by a hostile payload: every entry is looked at
 * through that descriptor only (never by a path from the root), opened
 * without following links and without blocking, and taken only if it is
 * a regular file with a name fit for JSON, within the count and size
 * limits.  The payload is dead by then, so nothing changes under us.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "b64.h"
#include "jsonl.h"
#include "sandbox.h"
#include "sha256.h"
#include "snaft.h"
#include "utf8.h"

/* {name, bytes, sha256} for the record and the token. */
static json_t *
fileinfo(const char *name, const void *data, size_t len)
{
	char hex[SHA256_HEXLEN + 1];

	sha256_hex(data, len, hex);
	return json_pack("{s:s, s:I, s:s}", "name", name, "bytes",
	    (json_int_t)len, "sha256", hex);
}

static int
byname(const void *a, const void *b)
{
	return strcmp(jsonl_get_string(*(json_t *const *)a, "name"),
	    jsonl_get_string(*(json_t *const *)b, "name"));
}

/* Sort an array of {name, ...} objects by name, for a stable record. */
static void
sortbyname(json_t *a)
{
	size_t i, n = json_array_size(a);
	json_t **v;

	if (n < 2 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof(*v), byname);
	json_array_clear(a);
	for (i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
	free(v);
}

int
files_in(struct run *r, json_t *files, int *memfdp)
{
	struct sb_file h;
	const char *name, *b64;
	json_t *v;
	long n;
	void *buf;
	int fd;

	*memfdp = -1;
	if ((r->inputs = json_array()) == NULL ||
	    (fd = memfd_create("files", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		return -1;
	json_object_foreach(files, name, v) {
		/* airlock-wake checked these; a hand-made record may lie. */
		b64 = json_string_value(v);
		if (b64 == NULL || strlen(name) > FILE_NAME_MAX ||
		    (buf = malloc(json_string_length(v) / 4 * 3 + 1)) == NULL) {
			errno = EINVAL;
			goto close_memfd;
		}
		if ((n = b64_decode(b64, json_string_length(v), buf)) < 0) {
			free(buf);
			errno = EINVAL;
			goto close_memfd;
		}
		memset(&h, 0, sizeof(h));
		h.name_len = (uint32_t)strlen(name);
		h.data_len = (uint64_t)n;
		if (write(fd, &h, sizeof(h)) != sizeof(h) ||
		    write(fd, name, h.name_len) != (ssize_t)h.name_len ||
		    (n > 0 && write(fd, buf, (size_t)n) != n)) {
			free(buf);
			goto close_memfd;
		}
		json_array_append_new(r->inputs, fileinfo(name, buf,
		    (size_t)n));
		free(buf);
	}
	sortbyname(r->inputs);
	/* Sealed: the sandbox reads it, nobody changes it after us. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE) != 0)
		goto close_memfd;
	*memfdp = fd;
	return 0;

close_memfd:
	close(fd);
	return -1;
}

/* Whether name is fit for the record: UTF-8, no control, not too long. */
static int
goodname(const char *name)
{
	size_t len = strlen(name), i = 0;
	long c;

	if (len == 0 || len > FILE_NAME_MAX)
		return 0;
	while (i < len) {
		if ((c = utf8_decode((const unsigned char *)name, len, &i)) < 0 ||
		    c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Read one entry of /output into out, or say in refused why not. */
static void
takeoutput(struct run *r, const char *name, json_t *out, json_t *refused,
    uint64_t *left)
{
	struct stat st;
	const char *why = NULL;
	char *data = NULL, *b64;
	json_t *info;
	int fd;

	if (!goodname(name))
		why = "a name that is not printable UTF-8 of at most 128 bytes";
	else if (json_array_size(out) >= r->limits.files)
		why = "more files than the intent's limit";
	else if ((fd = openat(r->outdir, name, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		why = errno == ELOOP ? "a symbolic link" : "cannot be opened";
	else {
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
			why = "not a regular file";
		else if ((uint64_t)st.st_size > *left)
			why = "over the intent's output files limit";
		else if ((data = malloc((size_t)st.st_size + 1)) == NULL ||
		    preadall(fd, data, (size_t)st.st_size, 0) != 0)
			why = "cannot be read";
		close(fd);
	}
	if (why != NULL) {
		/* Not the name itself if it is not fit for JSON. */
		json_array_append_new(refused, json_pack("{s:s, s:s}", "name",
		    goodname(name) ? name : "?", "why", why));
		free(data);
		return;
	}
	*left -= (uint64_t)st.st_size;
	info = fileinfo(name, data, (size_t)st.st_size);
	if ((b64 = malloc(B64_ENCLEN((size_t)st.st_size))) != NULL) {
		b64_encode(data, (size_t)st.st_size, b64);
		json_object_set_new(info, "b64", json_string(b64));
		free(b64);
	}
	json_array_append_new(out, info);
	free(data);
}

void
files_out(struct run *r, json_t *exec)
{
	json_t *out, *refused;
	struct dirent *d;
	uint64_t left = r->limits.outdir_bytes;
	DIR *dp;
	int fd;

	if (r->inputs != NULL)
		json_object_set(exec, "input_files", r->inputs);
	if (r->outdir < 0)
		return;
	out = json_array();
	refused = json_array();
	if ((fd = dup(r->outdir)) >= 0 && (dp = fdopendir(fd)) != NULL) {
		while ((d = readdir(dp)) != NULL)
			if (strcmp(d->d_name, ".") != 0 &&
			    strcmp(d->d_name, "..") != 0)
				takeoutput(r, d->d_name, out, refused, &left);
		closedir(dp);
	} else if (fd >= 0)
		close(fd);
	sortbyname(out);
	json_object_set_new(exec, "output_files", out);
	if (json_array_size(refused) > 0)
		json_object_set_new(exec, "output_refused", refused);
	else
		json_decref(refused);
}
