/*
 * Packed and unpacked kvm snapshots; snapfile.h describes both forms.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "sha256.h"
#include "snapfile.h"

#define PACK_MAGIC	"ALSNAP1\n"
#define MEM_MAGIC	"ALSNMEM1"
#define SEALS		(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE)

/* The header of a packed snapshot: 64 bytes, little-endian. */
struct packhdr {
	char		magic[8];
	uint64_t	memsize;
	uint64_t	state_len;
	uint64_t	npages;
	uint64_t	reserved[4];
};


static uint64_t
pad8(uint64_t n)
{
	return (n + 7) & ~7ULL;
}

static uint64_t
pageup(uint64_t n)
{
	return (n + SNAP_PAGE - 1) & ~(SNAP_PAGE - 1);
}

/* Writes through one buffer, hashing every byte on the way. */
struct wbuf {
	int		fd;
	int		error;
	size_t		len;
	struct sha256	hash;
	uint8_t		buf[1 << 16];
};

static void
wflush(struct wbuf *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->len && !w->error) {
		if ((n = write(w->fd, w->buf + off, w->len - off)) < 0) {
			if (errno != EINTR)
				w->error = errno;
			continue;
		}
		off += (size_t)n;
	}
	w->len = 0;
}

static void
wput(struct wbuf *w, const void *p, size_t len)
{
	const uint8_t *s = p;
	size_t take;

	sha256_update(&w->hash, p, len);
	while (len > 0) {
		if (w->len == sizeof(w->buf))
			wflush(w);
		take = sizeof(w->buf) - w->len < len ? sizeof(w->buf) - w->len :
		    len;
		memcpy(w->buf + w->len, s, take);
		w->len += take;
		s += take;
		len -= take;
	}
}

static int
zeropage(const uint8_t *p)
{
	static const uint8_t zero[SNAP_PAGE];

	return memcmp(p, zero, SNAP_PAGE) == 0;
}

int
snap_write(int fd, uint64_t memsize, const void *state, size_t state_len,
    const uint8_t *mem, const uint8_t *keep, char digest[SNAP_DIGEST_LEN + 1],
    char *err, size_t errlen)
{
	static struct wbuf w;
	static const uint8_t zeros[8];
	struct packhdr h;
	uint8_t d[SHA256_LEN];
	uint64_t pg, n = 0, gpa;

	if (memsize == 0 || memsize % SNAP_PAGE != 0 || memsize > SNAP_MEM_MAX)
		return errorf(err, errlen, "bad guest memory size");
	if (state_len > SNAP_STATE_MAX)
		return errorf(err, errlen, "VMM state too large");
	for (pg = 0; pg < memsize / SNAP_PAGE; pg++)
		if (keep[pg] && !zeropage(mem + pg * SNAP_PAGE))
			n++;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, PACK_MAGIC, 8);
	h.memsize = memsize;
	h.state_len = state_len;
	h.npages = n;
	memset(&w, 0, sizeof(w));
	sha256_init(&w.hash);
	w.fd = fd;
	wput(&w, &h, sizeof(h));
	wput(&w, state, state_len);
	wput(&w, zeros, pad8(state_len) - state_len);
	for (pg = 0; pg < memsize / SNAP_PAGE; pg++)
		if (keep[pg] && !zeropage(mem + pg * SNAP_PAGE)) {
			gpa = pg * SNAP_PAGE;
			wput(&w, &gpa, sizeof(gpa));
		}
	for (pg = 0; pg < memsize / SNAP_PAGE; pg++)
		if (keep[pg] && !zeropage(mem + pg * SNAP_PAGE))
			wput(&w, mem + pg * SNAP_PAGE, SNAP_PAGE);
	wflush(&w);
	if (w.error == 0 && fsync(fd) != 0)
		w.error = errno;
	if (w.error != 0)
		return errorf(err, errlen, "writing the snapshot: %s",
		    strerror(w.error));
	sha256_final(&w.hash, d);
	memcpy(digest, "sha256:", 7);
	sha256_tohex(d, digest + 7);
	return 0;
}

/* The digest a packed snapshot's .digest file names. */
static int
wanted(const char *path, char want[SNAP_DIGEST_LEN + 1], char *err,
    size_t errlen)
{
	char dpath[4096], buf[SNAP_DIGEST_LEN + 8];
	ssize_t n;
	int fd;

	if ((size_t)snprintf(dpath, sizeof(dpath), "%s.digest", path) >=
	    sizeof(dpath))
		return errorf(err, errlen, "%s: path too long", path);
	if ((fd = open(dpath, O_RDONLY | O_CLOEXEC)) < 0)
		return errorf(err, errlen, "%s: %s", dpath, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return errorf(err, errlen, "%s: %s", dpath, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strlen(buf) != SNAP_DIGEST_LEN || strncmp(buf, "sha256:", 7) != 0)
		return errorf(err, errlen, "%s: not a sha256 digest", dpath);
	memcpy(want, buf, SNAP_DIGEST_LEN + 1);
	return 0;
}

int
snap_load(const char *path, const char *want, struct snapmem *hdr,
    char *err, size_t errlen)
{
	struct packhdr h;
	struct stat st;
	struct sha256 sh;
	uint8_t d[SHA256_LEN];
	char got[SNAP_DIGEST_LEN + 1], wantbuf[SNAP_DIGEST_LEN + 1];
	const uint8_t *file, *pages;
	uint8_t *buf = NULL;
	const uint64_t *gpa;
	uint64_t i, run, need, off;
	int fd = -1, mfd = -1;

	if (want == NULL) {
		if (wanted(path, wantbuf, err, errlen) != 0)
			return -1;
		want = wantbuf;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		errorf(err, errlen, "%s: %s", path, strerror(errno));
		goto free_all;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(h) ||
	    (uint64_t)st.st_size > SNAP_MEM_MAX + SNAP_STATE_MAX + (64 << 20)) {
		errorf(err, errlen, "%s: not a snapshot (size %lld)", path,
		    (long long)st.st_size);
		goto free_all;
	}
	/*
	 * Read, not map: what is checked must be what is unpacked, even if
	 * someone rewrites the file meanwhile.
	 */
	if ((buf = malloc((size_t)st.st_size)) == NULL ||
	    preadall(fd, buf, (size_t)st.st_size, 0) != 0) {
		errorf(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" :
		    "short read");
		goto free_all;
	}
	file = buf;
	/* The digest first: nothing of an altered file is interpreted. */
	sha256_init(&sh);
	sha256_update(&sh, file, (size_t)st.st_size);
	sha256_final(&sh, d);
	memcpy(got, "sha256:", 7);
	sha256_tohex(d, got + 7);
	if (strcmp(got, want) != 0) {
		errorf(err, errlen, "%s: digest mismatch: the file is %s, "
		    "expected %.80s", path, got, want);
		goto free_all;
	}
	memcpy(&h, file, sizeof(h));
	if (memcmp(h.magic, PACK_MAGIC, 8) != 0 || h.memsize == 0 ||
	    h.memsize % SNAP_PAGE != 0 || h.memsize > SNAP_MEM_MAX ||
	    h.state_len > SNAP_STATE_MAX || h.npages > h.memsize / SNAP_PAGE) {
		errorf(err, errlen, "%s: bad snapshot header", path);
		goto free_all;
	}
	need = sizeof(h) + pad8(h.state_len) + h.npages * 8 +
	    h.npages * SNAP_PAGE;
	if (need != (uint64_t)st.st_size) {
		errorf(err, errlen, "%s: size %lld does not match its header "
		    "(%llu)", path, (long long)st.st_size,
		    (unsigned long long)need);
		goto free_all;
	}
	gpa = (const uint64_t *)(file + sizeof(h) + pad8(h.state_len));
	pages = (const uint8_t *)(gpa + h.npages);
	for (i = 0; i < h.npages; i++)
		if (gpa[i] % SNAP_PAGE != 0 || gpa[i] >= h.memsize ||
		    (i > 0 && gpa[i] <= gpa[i - 1])) {
			errorf(err, errlen, "%s: bad page address", path);
			goto free_all;
		}

	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr->magic, MEM_MAGIC, 8);
	hdr->memsize = h.memsize;
	hdr->state_len = h.state_len;
	hdr->mem_off = SNAP_PAGE + pageup(h.state_len);
	hdr->npages = h.npages;
	memcpy(hdr->digest, got, sizeof(hdr->digest));
	if ((mfd = memfd_create("airlock-snapshot", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0 ||
	    ftruncate(mfd, (off_t)(hdr->mem_off + hdr->memsize)) != 0 ||
	    pwriteall(mfd, hdr, sizeof(*hdr), 0) != 0 ||
	    pwriteall(mfd, file + sizeof(h), h.state_len, SNAP_PAGE) != 0) {
		errorf(err, errlen, "unpacking %s: %s", path, strerror(errno));
		goto free_all;
	}
	/* Pages at their guest addresses, a run of adjacent ones at once. */
	for (i = 0; i < h.npages; i += run) {
		for (run = 1; i + run < h.npages &&
		    gpa[i + run] == gpa[i] + run * SNAP_PAGE; run++)
			;
		off = hdr->mem_off + gpa[i];
		if (pwriteall(mfd, pages + i * SNAP_PAGE, run * SNAP_PAGE,
		    off) != 0) {
			errorf(err, errlen, "unpacking %s: %s", path,
			    strerror(errno));
			goto free_all;
		}
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) != 0) {
		errorf(err, errlen, "sealing %s: %s", path, strerror(errno));
		goto free_all;
	}
	free(buf);
	close(fd);
	return mfd;
free_all:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (mfd >= 0)
		close(mfd);
	return -1;
}

int
snap_check(int fd, struct snapmem *hdr, char *err, size_t errlen)
{
	struct stat st;
	int seals;

	if ((seals = fcntl(fd, F_GET_SEALS)) < 0 || (seals & SEALS) != SEALS)
		return errorf(err, errlen, "snapshot descriptor is not sealed");
	if (fstat(fd, &st) != 0 ||
	    pread(fd, hdr, sizeof(*hdr), 0) != (ssize_t)sizeof(*hdr))
		return errorf(err, errlen, "snapshot descriptor: %s",
		    strerror(errno));
	hdr->digest[SNAP_DIGEST_LEN] = '\0';
	if (memcmp(hdr->magic, MEM_MAGIC, 8) != 0 || hdr->memsize == 0 ||
	    hdr->memsize % SNAP_PAGE != 0 || hdr->memsize > SNAP_MEM_MAX ||
	    hdr->state_len > SNAP_STATE_MAX ||
	    hdr->mem_off != SNAP_PAGE + pageup(hdr->state_len) ||
	    (uint64_t)st.st_size != hdr->mem_off + hdr->memsize)
		return errorf(err, errlen, "snapshot descriptor: bad header");
	return 0;
}
