/*
 * A run's files (airlock-snaft(1), "Files"): the frame's input files,
 * decoded into one sealed memfd for the sandbox, which writes them into
 * its read-only /input; and what the payload left in /output, read back
 * through the directory descriptor a process sandbox handed us, or from
 * the sealed memfd of records a kvm sandbox's VMM sent with its report
 * (kvm.c).
 *
 * /output was written by a hostile payload: every entry is looked at
 * through that descriptor only (never by a path from the root), opened
 * without following links and without blocking, and taken only if it is
 * a regular file with a name fit for JSON, within the count and size
 * limits; a kvm sandbox's entries are taken by the same rules
 * (files_admit(), files_fits()) in the same words.  The payload is dead
 * by then, so nothing changes under us.
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

/*
 * What a run's /output held, as the record says it, whichever backend
 * found it: each entry is taken into exec.output_files or refused into
 * exec.output_refused by the same rules and in the same words.
 */
int
files_out_start(struct run *r)
{
	if (r->outputs == NULL && (r->outputs = json_array()) == NULL)
		return -1;
	if (r->refused == NULL && (r->refused = json_array()) == NULL)
		return -1;
	return 0;
}

/* Whether the entry name may come in, by its name and the count. */
const char *
files_admit(struct run *r, const char *name)
{
	if (!goodname(name))
		return "a name that is not printable UTF-8 of at most 128 bytes";
	if (json_array_size(r->outputs) >= r->limits.files)
		return "more files than the intent's limit";
	return NULL;
}

/* Whether an admitted entry is a file the row still has room for. */
const char *
files_fits(int regular, uint64_t size, uint64_t left)
{
	if (!regular)
		return "not a regular file";
	if (size > left)
		return "over the intent's output files limit";
	return NULL;
}

/* An entry not taken, and why; not by its name if that is unfit for JSON. */
void
files_refuse(struct run *r, const char *name, const char *why)
{
	json_array_append_new(r->refused, json_pack("{s:s, s:s}", "name",
	    goodname(name) ? name : "?", "why", why));
}

/* A file taken, its len bytes counted against what is *left. */
void
files_take(struct run *r, const char *name, const void *data, size_t len,
    uint64_t *left)
{
	json_t *info;
	char *b64;

	*left -= (uint64_t)len;
	info = fileinfo(name, data, len);
	if ((b64 = malloc(B64_ENCLEN(len))) != NULL) {
		b64_encode(data, len, b64);
		json_object_set_new(info, "b64", json_string(b64));
		free(b64);
	}
	json_array_append_new(r->outputs, info);
}

/*
 * One entry of a process sandbox's /output, read through the directory
 * descriptor alone: opened without following links and without blocking.
 */
static void
takeoutput(struct run *r, const char *name, uint64_t *left)
{
	struct stat st;
	const char *why;
	char *data = NULL;
	size_t size = 0;
	int fd, regular;

	why = files_admit(r, name);
	if (why == NULL && (fd = openat(r->outdir, name, O_RDONLY |
	    O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		why = errno == ELOOP ? "a symbolic link" : "cannot be opened";
	else if (why == NULL) {
		regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		if (regular)
			size = (size_t)st.st_size;
		if ((why = files_fits(regular, size, *left)) == NULL &&
		    ((data = malloc(size + 1)) == NULL ||
		    preadall(fd, data, size, 0) != 0))
			why = "cannot be read";
		close(fd);
	}
	if (why != NULL)
		files_refuse(r, name, why);
	else
		files_take(r, name, data, size, left);
	free(data);
}

void
files_out(struct run *r, json_t *exec)
{
	struct dirent *d;
	uint64_t left = r->limits.outdir_bytes;
	DIR *dp;
	int fd;

	if (r->inputs != NULL)
		json_object_set(exec, "input_files", r->inputs);
	/* A process sandbox's /output is read now; a kvm one's came back. */
	if (r->outdir >= 0 && files_out_start(r) == 0) {
		if ((fd = dup(r->outdir)) >= 0 &&
		    (dp = fdopendir(fd)) != NULL) {
			while ((d = readdir(dp)) != NULL)
				if (strcmp(d->d_name, ".") != 0 &&
				    strcmp(d->d_name, "..") != 0)
					takeoutput(r, d->d_name, &left);
			closedir(dp);
		} else if (fd >= 0)
			close(fd);
	}
	if (r->outputs == NULL || r->refused == NULL)
		return;
	sortbyname(r->outputs);
	json_object_set_new(exec, "output_files", r->outputs);
	if (json_array_size(r->refused) > 0)
		json_object_set_new(exec, "output_refused", r->refused);
	else
		json_decref(r->refused);
	r->outputs = r->refused = NULL;
}
