/*
 * Path resolution: the guard that keeps every guest path inside the image
 * root.  Nothing here ever opens an image file for writing.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define HOPS_MAX	40

/*
 * The devices the VMM provides itself (sys_file.c), whatever the image
 * holds at their paths, or if it has no /dev at all.
 */
enum fdkind
path_device(const char *canon)
{
	if (strcmp(canon, "/dev/null") == 0)
		return FD_NULL;
	if (strcmp(canon, "/dev/urandom") == 0 ||
	    strcmp(canon, "/dev/random") == 0)
		return FD_URANDOM;
	return FD_NONE;
}

/*
 * A canonical image path, opened beneath the root's descriptor with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV and never
 * following a final link, so that the host kernel holds the lookup inside
 * the root as well.  Returns a descriptor or -errno.
 */
static int
beneath(struct vm *vm, const char *canon, uint64_t flags)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = flags | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
	    RESOLVE_NO_XDEV;
	fd = (int)syscall(SYS_openat2, vm->rootfd,
	    canon[1] == '\0' ? "." : canon + 1, &how, sizeof(how));
	return fd == -1 ? -errno : fd;
}

/*
 * Look one canonical image path up, without following a final link: an
 * O_PATH descriptor, and with st its stat.
 */
int
path_lookup(struct vm *vm, const char *canon, struct stat *st)
{
	int fd;

	if ((fd = beneath(vm, canon, O_PATH)) < 0)
		return fd;
	if (st != NULL && fstat(fd, st) == -1) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Open a canonical image path read-only (a directory with dir). */
int
path_open(struct vm *vm, const char *canon, int dir)
{
	return beneath(vm, canon, O_RDONLY | O_NONBLOCK |
	    (dir ? O_DIRECTORY : 0));
}

/*
 * Resolve path, relative to the canonical directory base, to a canonical
 * absolute path inside the image, in out (PATH_MAX bytes).  This is the
 * guard against paths that escape the image: the path is walked one
 * component at a time from the image root, ".." never climbs above it,
 * and symbolic links are followed here, not by the host: a link's target
 * is read and spliced into what is left of the path, relative to the
 * image root (an absolute target starts again at the root), with Linux's
 * limit of 40 links.  Each component is looked up beneath the root
 * (path_lookup()), so even a mistake here, or an image changed
 * underneath, is held inside the root by the host kernel as well.  /tmp,
 * /input and /output have no links; their names are looked up in
 * tmpfs.c.
 *
 * A missing last component is not an error here: *exists says whether it
 * is there.  Returns 0 or -errno.
 */
int
path_resolve(struct vm *vm, const char *base, const char *path, int follow,
    char *out, int *exists)
{
	char rest[PATH_MAX * 2], comp[NAME_MAX + 1], link[PATH_MAX];
	char *r, *slash;
	struct tmpnode *t, *tdir = NULL;
	struct tmpfs *fs;
	struct stat st;
	size_t olen, clen, tlen;
	ssize_t n;
	int hops = 0, fd, last, tvalid = 0;

	if (path[0] == '\0')
		return -ENOENT;
	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, path);
	if (path[0] == '/')
		strcpy(out, "/");
	else
		strcpy(out, base);
	olen = strlen(out);
	*exists = 1;
	r = rest;
	/*
	 * Costs stay linear in the path: out's length is kept, not
	 * measured, and inside /tmp (or /input, /output) tdir is the node
	 * out names (NULL for the root) while tvalid says so, so each
	 * component is one lookup of one name.
	 */
	for (;;) {
		while (*r == '/')
			r++;
		if (*r == '\0')
			return 0;
		if ((slash = strchr(r, '/')) != NULL)
			clen = (size_t)(slash - r);
		else
			clen = strlen(r);
		if (clen > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, r, clen);
		comp[clen] = '\0';
		r += clen;
		while (*r == '/')
			r++;
		last = *r == '\0';
		if (!*exists)
			return -ENOENT;	/* a missing directory in the middle */
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			/* Never above the image root. */
			if ((slash = strrchr(out, '/')) != NULL)
				slash[slash == out ? 1 : 0] = '\0';
			olen = strlen(out);
			if (tvalid && tdir != NULL)
				tdir = tdir->parent;
			else
				tvalid = 0;
			continue;
		}
		if (olen + 1 + clen >= PATH_MAX)
			return -ENAMETOOLONG;
		if (olen > 1)
			out[olen++] = '/';
		memcpy(out + olen, comp, clen + 1);
		olen += clen;
		/* Ours have no links, only files and directories. */
		if ((fs = tmpfs_of(vm, out)) != NULL) {
			if (olen == fs->pathlen) {	/* the root */
				tdir = NULL;
				tvalid = 1;
				continue;
			}
			if (!tvalid) {
				/* Entered below the root: find where, once. */
				out[olen - clen - 1] = '\0';
				tdir = tmp_find(vm, out);
				out[olen - clen - 1] = '/';
				tvalid = tdir != NULL ||
				    olen - clen - 1 == fs->pathlen;
			}
			if (!tvalid ||
			    (t = tmp_lookup(vm, fs, tdir, comp)) == NULL) {
				*exists = 0;
				continue;
			}
			if (!last && !t->dir)
				return -ENOTDIR;
			tdir = t;
			continue;
		}
		tvalid = 0;
		if (path_device(out) != FD_NONE) {
			if (!last)
				return -ENOTDIR;
			continue;
		}
		if ((fd = path_lookup(vm, out, &st)) < 0) {
			/* An image without /dev still has our devices. */
			if (fd == -ENOENT && strcmp(out, "/dev") == 0)
				continue;
			if (fd == -ENOENT) {
				*exists = 0;
				continue;
			}
			return fd;
		}
		if (S_ISLNK(st.st_mode) && (!last || follow)) {
			n = readlinkat(fd, "", link, sizeof(link));
			close(fd);
			if (n <= 0 || (size_t)n >= sizeof(link))
				return n < 0 ? -errno : -ENAMETOOLONG;
			if (++hops > HOPS_MAX)
				return -ELOOP;
			link[n] = '\0';
			/* Splice the target in front of what is left. */
			tlen = (size_t)n;
			if (tlen + 1 + strlen(r) >= sizeof(rest))
				return -ENAMETOOLONG;
			memmove(rest + tlen + 1, r, strlen(r) + 1);
			memcpy(rest, link, tlen);
			rest[tlen] = '/';
			r = rest;
			/* Relative targets start from the link's directory. */
			if (link[0] == '/')
				strcpy(out, "/");
			else if ((slash = strrchr(out, '/')) != NULL)
				slash[slash == out ? 1 : 0] = '\0';
			olen = strlen(out);
			continue;
		}
		close(fd);
		if (!last && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
}
