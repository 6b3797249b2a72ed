/*
 * Files: the guest's descriptor table and the file system calls on it:
 * read-only image files (every path resolved inside the image root by
 * path.c), the private /tmp, /input and /output (tmpfs.c), the devices
 * the VMM provides itself, stdin (the payload) and stdout/stderr (capped,
 * hashed).
 */
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/uio.h>

#include <asm/unistd_64.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define IOV_MAX_GUEST	1024
#define IO_CHUNK	(1U << 20)	/* most bytes per read or write */

static struct ofile *
getf(struct vm *vm, uint64_t fd)
{
	/* fd is a guest register: check it before indexing. */
	if (fd >= FD_MAX)
		return NULL;
	return vm->fds[fd];
}

static int
fd_alloc(struct vm *vm, struct ofile *f, int lowest, int cloexec)
{
	int i;

	for (i = lowest; i < FD_MAX; i++)
		if (vm->fds[i] == NULL) {
			vm->fds[i] = f;
			vm->cloexec[i] = cloexec != 0;
			f->refs++;
			return i;
		}
	return -EMFILE;
}

static void
ofile_put(struct ofile *f)
{
	if (--f->refs > 0)
		return;
	if (f->hostfd != -1)
		close(f->hostfd);
	if (f->node != NULL)
		tmp_release(f->node);
	free(f->path);
	free(f);
}

static struct ofile *
ofile_new(enum fdkind kind, const char *path)
{
	struct ofile *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->kind = kind;
	f->hostfd = -1;
	if (path != NULL && (f->path = strdup(path)) == NULL) {
		free(f);
		return NULL;
	}
	return f;
}

void
fs_init(struct vm *vm)
{
	static const enum fdkind std[3] = { FD_STDIN, FD_STDOUT, FD_STDERR };
	struct ofile *f;
	int i;

	strcpy(vm->cwd, "/");
	vm->umask = 022;
	for (i = 0; i < 3; i++)
		if ((f = ofile_new(std[i], NULL)) != NULL) {
			f->flags = i == 0 ? O_RDONLY : O_WRONLY;
			(void)fd_alloc(vm, f, i, 0);
		}
	sha256_init(&vm->out[0].hash);
	sha256_init(&vm->out[1].hash);
}

/*
 * The descriptor table in a snapshot: kind, flags, offset and image path
 * of each open description, and which descriptors share one.  Image files
 * are opened again by path on restore (beneath the root, like any open);
 * /tmp, /input and /output must be empty at the snapshot point, so no
 * file data is saved, and only their roots may be open.
 */
int
fs_save(struct vm *vm, struct ser *s)
{
	int32_t i, j, share, kind;
	struct ofile *f;

	for (i = 0; i < FS_MAX; i++)
		if (vm->fs[i].list != NULL)
			return -1;
	ser_putstr(s, vm->cwd);
	for (i = 0; i < FD_MAX; i++) {
		if ((f = vm->fds[i]) == NULL)
			continue;
		if (f->kind == FD_TMPFILE ||
		    (f->kind == FD_TMPDIR && f->node != NULL))
			return -1;
		for (share = -1, j = 0; j < i && share < 0; j++)
			if (vm->fds[j] == f)
				share = j;
		kind = (int32_t)f->kind;
		ser_put(s, &i, sizeof(i));
		ser_put(s, &share, sizeof(share));
		ser_put(s, &kind, sizeof(kind));
		ser_put(s, &f->flags, sizeof(f->flags));
		ser_put(s, &f->off, sizeof(f->off));
		ser_put(s, &vm->cloexec[i], 1);
		ser_putstr(s, f->path != NULL ? f->path : "");
	}
	i = -1;
	ser_put(s, &i, sizeof(i));
	return 0;
}

int
fs_restore(struct vm *vm, struct ser *s)
{
	char path[PATH_MAX];
	int32_t i, share, kind;
	struct ofile *f;
	int fl;
	uint64_t off;
	uint8_t cx;

	ser_getstr(s, vm->cwd, sizeof(vm->cwd));
	sha256_init(&vm->out[0].hash);
	sha256_init(&vm->out[1].hash);
	for (;;) {
		ser_get(s, &i, sizeof(i));
		if (s->bad || i == -1)
			break;
		ser_get(s, &share, sizeof(share));
		ser_get(s, &kind, sizeof(kind));
		ser_get(s, &fl, sizeof(fl));
		ser_get(s, &off, sizeof(off));
		ser_get(s, &cx, 1);
		ser_getstr(s, path, sizeof(path));
		if (s->bad || i < 0 || i >= FD_MAX || vm->fds[i] != NULL ||
		    share >= i || kind < FD_STDIN || kind > FD_URANDOM ||
		    kind == FD_TMPFILE)
			return -1;
		if (share >= 0) {
			if ((f = vm->fds[share]) == NULL)
				return -1;
		} else {
			if ((f = ofile_new((enum fdkind)kind, path[0] ? path :
			    NULL)) == NULL)
				return -1;
			f->flags = fl;
			f->off = off;
			if ((kind == FD_FILE || kind == FD_DIR) &&
			    (path[0] != '/' || (f->hostfd = path_open(vm, path,
			    kind == FD_DIR)) < 0)) {
				f->hostfd = -1;
				ofile_put(f);
				return -1;
			}
			/* One of our roots, the only directory of ours saved. */
			if (kind == FD_TMPDIR && ((f->fs = tmpfs_of(vm,
			    path)) == NULL || !tmpfs_root(f->fs, path))) {
				ofile_put(f);
				return -1;
			}
		}
		if (fd_alloc(vm, f, i, cx) != i)
			return -1;
	}
	return s->bad ? -1 : 0;
}

/*
 * Guest output: counted and hashed in full, passed on up to the cap; a
 * guest that goes over the cap is killed for it.
 */
void
fs_output(struct vm *vm, int which, const void *buf, size_t len)
{
	struct outbuf *o = &vm->out[which];
	const uint8_t *p = buf;
	size_t take;
	ssize_t n;

	if (len == 0)
		return;
	if (vm->first_out_us == 0)
		vm->first_out_us = now_us();
	sha256_update(&o->hash, buf, len);
	o->bytes += len;
	take = o->captured >= vm->out_cap ? 0 :
	    (vm->out_cap - o->captured < len ? vm->out_cap - o->captured : len);
	o->captured += take;
	while (take > 0 && o->hostfd != -1) {
		n = write(o->hostfd, p, take);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		take -= (size_t)n;
	}
	if (o->bytes > vm->out_cap) {
		o->truncated = 1;
		vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_OUTPUT,
		    "%s over %llu bytes", which == 0 ? "stdout" : "stderr",
		    (unsigned long long)vm->out_cap);
	}
}

/* The canonical directory a dirfd-relative path starts from. */
static int
dirbase(struct vm *vm, uint64_t dirfd, const char *path, const char **base)
{
	struct ofile *f;

	if (path[0] == '/' || (int)dirfd == AT_FDCWD) {
		*base = vm->cwd;
		return 0;
	}
	if ((f = getf(vm, dirfd)) == NULL)
		return -EBADF;
	if (f->kind != FD_DIR && f->kind != FD_TMPDIR)
		return -ENOTDIR;
	*base = f->path;
	return 0;
}

/* Guest path argument: copied out of guest memory, then resolved. */
static int
guest_path(struct vm *vm, uint64_t dirfd, uint64_t gpath, int follow,
    char *canon, int *exists, int empty_ok)
{
	char path[PATH_MAX];
	const char *base;
	int e;

	if ((e = gm_string(vm, gpath, path, sizeof(path))) != 0)
		return e;
	if (path[0] == '\0')
		return empty_ok ? 1 : -ENOENT;
	if ((e = dirbase(vm, dirfd, path, &base)) != 0)
		return e;
	return path_resolve(vm, base, path, follow, canon, exists);
}

/*
 * The stat of what the VMM makes itself (/tmp, its files, devices, the
 * standard descriptors): the guest's own, on the /tmp device, with the
 * fixed time stamp of lib/view.h.
 */
static void
fake_stat(struct stat *st, mode_t mode, uint64_t size, uint64_t ino)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = 1;
	st->st_uid = GUEST_ID;
	st->st_gid = GUEST_ID;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_ino = ino;
	st->st_dev = VIEW_DEV_TMP;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
	    VIEW_MTIME;
}

/* stat(2) of a resolved canonical path. */
static int
stat_canon(struct vm *vm, const char *canon, int exists, struct stat *st)
{
	struct tmpfs *fs;
	struct tmpnode *t;
	int fd;

	if (path_device(canon) != FD_NONE) {
		fake_stat(st, S_IFCHR | 0666, 0, VIEW_INO_DEVICE);
		return 0;
	}
	if ((fs = tmpfs_of(vm, canon)) != NULL) {
		if (tmpfs_root(fs, canon))
			fake_stat(st, S_IFDIR | fs->rootmode, 0, VIEW_INO_TMP);
		else if ((t = tmp_find(vm, canon)) == NULL)
			return -ENOENT;
		else
			fake_stat(st, (t->dir ? S_IFDIR : S_IFREG) | t->mode,
			    t->size, t->ino);
		st->st_dev = fs->dev;
		return 0;
	}
	if (!exists)
		return -ENOENT;
	if ((fd = path_lookup(vm, canon, st)) < 0) {
		/* An image without /dev: the directory of our devices. */
		if (fd == -ENOENT && strcmp(canon, "/dev") == 0) {
			fake_stat(st, S_IFDIR | 0755, 0, view_ino(canon));
			st->st_uid = st->st_gid = 0;
			st->st_dev = VIEW_DEV_IMAGE;
			return 0;
		}
		return fd;
	}
	close(fd);
	view_stat_image(st, canon);
	return 0;
}

static int
stat_ofile(struct ofile *f, struct stat *st)
{
	switch (f->kind) {
	case FD_FILE:
	case FD_DIR:
		if (fstat(f->hostfd, st) == -1)
			return -errno;
		view_stat_image(st, f->path);
		return 0;
	case FD_TMPFILE:
		fake_stat(st, S_IFREG | f->node->mode, f->node->size,
		    f->node->ino);
		st->st_dev = f->fs->dev;
		return 0;
	case FD_TMPDIR:
		if (f->node != NULL)
			fake_stat(st, S_IFDIR | f->node->mode, 0,
			    f->node->ino);
		else
			fake_stat(st, S_IFDIR | f->fs->rootmode, 0,
			    VIEW_INO_TMP);
		st->st_dev = f->fs->dev;
		return 0;
	case FD_NULL:
	case FD_URANDOM:
		fake_stat(st, S_IFCHR | 0666, 0, VIEW_INO_DEVICE);
		return 0;
	default:
		/* stdin, stdout and stderr look like pipes. */
		fake_stat(st, S_IFIFO | 0600, 0, VIEW_INO_PIPE);
		return 0;
	}
}

/*
 * Whether the guest, the owner of everything in /tmp, /input and /output,
 * may open one of their files or directories for what it asks: the
 * owner's permission bits decide, as for any user without capabilities.
 * A directory's write and search bits are not checked (airlock-vmm(8),
 * CAVEATS): the guest owns all of these and could set them back.
 */
static int
tmp_permits(mode_t mode, int acc, uint64_t flags)
{
	if (flags & O_PATH)
		return 0;
	if ((acc == O_RDONLY || acc == O_RDWR) && !(mode & S_IRUSR))
		return -EACCES;
	if ((acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC)) &&
	    !(mode & S_IWUSR))
		return -EACCES;
	return 0;
}

static int64_t
do_open(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t flags,
    uint64_t mode)
{
	char canon[PATH_MAX];
	struct ofile *f;
	struct tmpfs *fs;
	struct tmpnode *t;
	struct stat st;
	int exists, e, acc = (int)(flags & O_ACCMODE), hfd;
	enum fdkind dk;

	e = guest_path(vm, dirfd, gpath, !(flags & O_NOFOLLOW), canon,
	    &exists, 0);
	if (e < 0)
		return e;
	if ((dk = path_device(canon)) != FD_NONE) {
		if ((f = ofile_new(dk, canon)) == NULL)
			return -ENOMEM;
		f->flags = (int)flags;
		goto install;
	}
	if ((fs = tmpfs_of(vm, canon)) != NULL) {
		t = tmp_find(vm, canon);
		if ((t != NULL || tmpfs_root(fs, canon)) &&
		    (flags & O_CREAT) && (flags & O_EXCL))
			return -EEXIST;
		if (tmpfs_root(fs, canon) || (t != NULL && t->dir)) {
			if (acc != O_RDONLY || (flags & O_CREAT))
				return -EISDIR;
			if ((e = tmp_permits(t != NULL ? t->mode :
			    fs->rootmode, acc, flags)) != 0)
				return e;
			if ((f = ofile_new(FD_TMPDIR, canon)) == NULL)
				return -ENOMEM;
			f->fs = fs;
			if ((f->node = t) != NULL)
				t->refs++;
			goto install;
		}
		if (t == NULL && !(flags & O_CREAT))
			return -ENOENT;
		if (flags & O_DIRECTORY)
			return -ENOTDIR;
		/* /input is read-only, as a read-only mount says it. */
		if (fs->readonly && (acc != O_RDONLY || (flags & O_TRUNC)))
			return -EROFS;
		if (t == NULL) {
			/*
			 * A new file has the mode asked for, less the umask;
			 * the open that makes it needs no permission.
			 */
			if ((t = tmp_create(vm, canon, 0, &e)) == NULL)
				return e;
			t->mode = (mode_t)(mode & ~(uint64_t)vm->umask &
			    07777);
		} else if ((e = tmp_permits(t->mode, acc, flags)) != 0)
			return e;
		if ((flags & O_TRUNC) && acc != O_RDONLY)
			t->size = 0;
		if ((f = ofile_new(FD_TMPFILE, canon)) == NULL)
			return -ENOMEM;
		f->fs = fs;
		f->node = t;
		t->refs++;
		f->flags = (int)flags;
		goto install;
	}
	/* The image is read-only, as a read-only mount says it. */
	if (acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		return exists ? -EROFS : ((flags & O_CREAT) ? -EROFS : -ENOENT);
	if (!exists)
		return -ENOENT;
	if ((hfd = path_lookup(vm, canon, &st)) < 0)
		return hfd;
	close(hfd);
	/* Only regular files and directories: no FIFOs, devices, sockets. */
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return S_ISLNK(st.st_mode) ? -ELOOP : -EACCES;
	if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((hfd = path_open(vm, canon, S_ISDIR(st.st_mode))) < 0)
		return hfd;
	if ((f = ofile_new(S_ISDIR(st.st_mode) ? FD_DIR : FD_FILE,
	    canon)) == NULL) {
		close(hfd);
		return -ENOMEM;
	}
	f->hostfd = hfd;
	f->flags = (int)(flags & ~(uint64_t)O_CLOEXEC);
install:
	f->refs = 0;
	if ((e = fd_alloc(vm, f, 0, (flags & O_CLOEXEC) != 0)) < 0) {
		f->refs = 1;
		ofile_put(f);
	}
	return e;
}

/*
 * The program to run, for the loader: resolved inside the image like any
 * guest path, and only a regular file.  Returns a host descriptor.
 */
int
fs_open_exec(struct vm *vm, const char *path, char *canon, size_t canonlen)
{
	char c[PATH_MAX];
	struct stat st;
	int exists, e, fd;

	if ((e = path_resolve(vm, "/", path, 1, c, &exists)) < 0)
		return e;
	if (!exists || tmpfs_of(vm, c) != NULL || path_device(c) != FD_NONE)
		return -ENOENT;
	if (strlen(c) >= canonlen)
		return -ENAMETOOLONG;
	if ((fd = path_lookup(vm, c, &st)) < 0)
		return fd;
	close(fd);
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	strcpy(canon, c);
	return path_open(vm, c, 0);
}

/* Read up to len bytes at off into a host pointer already checked. */
static int64_t
read_at(struct vm *vm, struct ofile *f, void *dst, uint64_t len,
    uint64_t off)
{
	ssize_t n;
	uint64_t left;

	if (len > IO_CHUNK)
		len = IO_CHUNK;
	switch (f->kind) {
	case FD_STDIN:
		if (vm->snap_mode) {
			/* -S: the program is ready for its payload. */
			vm_snapshot_point(vm);
			return -EINTR;
		}
		left = vm->stdin_len - vm->stdin_off;
		if (len > left)
			len = left;
		memcpy(dst, vm->stdin_buf + vm->stdin_off, len);
		vm->stdin_off += len;
		return (int64_t)len;
	case FD_FILE:
		n = pread(f->hostfd, dst, len, (off_t)off);
		return n < 0 ? -errno : n;
	case FD_TMPFILE:
		return tmp_read(f->node, dst, len, off);
	case FD_NULL:
		return 0;
	case FD_URANDOM:
		n = getrandom(dst, len, 0);
		return n < 0 ? -errno : n;
	case FD_DIR:
	case FD_TMPDIR:
		return -EISDIR;
	default:
		return -EBADF;
	}
}

static int64_t
write_at(struct vm *vm, struct ofile *f, const void *src, uint64_t len,
    uint64_t off)
{
	if (len > IO_CHUNK)
		len = IO_CHUNK;
	switch (f->kind) {
	case FD_STDOUT:
	case FD_STDERR:
		fs_output(vm, f->kind == FD_STDOUT ? 0 : 1, src, len);
		return (int64_t)len;
	case FD_NULL:
	case FD_URANDOM:
		return (int64_t)len;
	case FD_TMPFILE:
		if ((f->flags & O_ACCMODE) == O_RDONLY)
			return -EBADF;
		if (f->flags & O_APPEND)
			off = f->node->size;
		return tmp_write(f->node, src, len, off);
	default:
		return -EBADF;
	}
}

static int
seekable(const struct ofile *f)
{
	return f->kind == FD_FILE || f->kind == FD_TMPFILE;
}

/* read(2), write(2), pread64(2), pwrite64(2) on one guest buffer. */
static int64_t
do_rw(struct vm *vm, int wr, uint64_t fd, uint64_t buf, uint64_t len,
    int64_t poff)
{
	struct ofile *f;
	void *p;
	int64_t n;
	uint64_t off;

	if ((f = getf(vm, fd)) == NULL)
		return -EBADF;
	if (poff >= 0 && !seekable(f))
		return -ESPIPE;
	if (len > IO_CHUNK)
		len = IO_CHUNK;
	if ((int64_t)len < 0)
		return -EINVAL;
	/* Guest memory: the whole buffer is checked before any byte moves. */
	if ((p = gm_ptr(vm, buf, len, wr ? PG_READ : PG_WRITE)) == NULL)
		return -EFAULT;
	off = poff >= 0 ? (uint64_t)poff : f->off;
	n = wr ? write_at(vm, f, p, len, off) : read_at(vm, f, p, len, off);
	if (n > 0 && poff < 0 && seekable(f))
		f->off = ((f->flags & O_APPEND) && wr) ?
		    f->node->size : off + (uint64_t)n;
	return n;
}

static int64_t
do_rwv(struct vm *vm, int wr, uint64_t fd, uint64_t giov, uint64_t cnt)
{
	struct iovec iov;
	int64_t total = 0, n;
	uint64_t i;

	if (cnt > IOV_MAX_GUEST)
		return -EINVAL;
	for (i = 0; i < cnt; i++) {
		/* Guest memory: one iovec at a time, each checked. */
		if (gm_copyin(vm, &iov, giov + i * sizeof(iov),
		    sizeof(iov)) != 0)
			return total > 0 ? total : -EFAULT;
		if (iov.iov_len == 0)
			continue;
		n = do_rw(vm, wr, fd, (uint64_t)(uintptr_t)iov.iov_base,
		    iov.iov_len, -1);
		if (n < 0)
			return total > 0 ? total : n;
		total += n;
		if ((uint64_t)n < iov.iov_len || vm->state != VM_RUNNING)
			break;
	}
	return total;
}

int64_t
fs_mappable(struct vm *vm, int fd)
{
	struct ofile *f;

	if (fd < 0 || (f = getf(vm, (uint64_t)fd)) == NULL)
		return -EBADF;
	if (f->kind != FD_FILE && f->kind != FD_TMPFILE)
		return -EACCES;
	return 0;
}

int64_t
fs_pread_host(struct vm *vm, int fd, void *dst, uint64_t len, uint64_t off)
{
	struct ofile *f;
	uint64_t done = 0;
	int64_t n;

	if (fd < 0 || (f = getf(vm, (uint64_t)fd)) == NULL)
		return -EBADF;
	while (done < len) {
		n = read_at(vm, f, (uint8_t *)dst + done, len - done,
		    off + done);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

static int64_t
do_lseek(struct vm *vm, uint64_t fd, int64_t off, uint64_t whence)
{
	struct ofile *f;
	struct stat st;
	int64_t base;

	if ((f = getf(vm, fd)) == NULL)
		return -EBADF;
	if (f->kind == FD_DIR) {
		/* Only rewinding a directory makes sense to us. */
		if (whence != SEEK_SET || off != 0)
			return -EINVAL;
		return lseek(f->hostfd, 0, SEEK_SET) == -1 ? -errno : 0;
	}
	if (!seekable(f))
		return -ESPIPE;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)f->off;
		break;
	case SEEK_END:
		if (stat_ofile(f, &st) != 0)
			return -EIO;
		base = st.st_size;
		break;
	default:
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -EINVAL;
	f->off = (uint64_t)(base + off);
	return (int64_t)f->off;
}

static int64_t
do_stat(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t gbuf,
    uint64_t flags)
{
	char canon[PATH_MAX];
	struct stat st;
	struct ofile *f;
	int exists, e;

	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH |
	    AT_NO_AUTOMOUNT))
		return -EINVAL;
	e = guest_path(vm, dirfd, gpath, !(flags & AT_SYMLINK_NOFOLLOW),
	    canon, &exists, (flags & AT_EMPTY_PATH) != 0);
	if (e < 0)
		return e;
	if (e == 1) {
		/* AT_EMPTY_PATH: the descriptor itself. */
		if ((int)dirfd == AT_FDCWD)
			e = stat_canon(vm, vm->cwd, 1, &st);
		else if ((f = getf(vm, dirfd)) == NULL)
			return -EBADF;
		else
			e = stat_ofile(f, &st);
	} else
		e = stat_canon(vm, canon, exists, &st);
	if (e < 0)
		return e;
	return gm_copyout(vm, gbuf, &st, sizeof(st));
}

static int64_t
do_access(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t mode)
{
	char canon[PATH_MAX];
	struct tmpfs *fs;
	struct stat st;
	int exists, e;

	if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	if ((e = guest_path(vm, dirfd, gpath, 1, canon, &exists, 0)) < 0)
		return e;
	if ((e = stat_canon(vm, canon, exists, &st)) < 0)
		return e;
	if ((mode & W_OK) && path_device(canon) == FD_NONE &&
	    ((fs = tmpfs_of(vm, canon)) == NULL || fs->readonly))
		return -EROFS;
	/* The guest's own files: their owner's bits, which chmod(2) sets. */
	if (path_device(canon) == FD_NONE && tmpfs_of(vm, canon) != NULL &&
	    (((mode & R_OK) && !(st.st_mode & S_IRUSR)) ||
	    ((mode & W_OK) && !(st.st_mode & S_IWUSR)) ||
	    ((mode & X_OK) && !(st.st_mode & S_IXUSR))))
		return -EACCES;
	if ((mode & X_OK) && !(st.st_mode & 0111))
		return -EACCES;
	return 0;
}

static int64_t
do_readlink(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t gbuf,
    uint64_t size)
{
	char path[PATH_MAX], canon[PATH_MAX], link[PATH_MAX];
	const char *base;
	struct tmpfs *tfs;
	struct stat st;
	ssize_t n;
	int exists, e, fd;

	if ((int64_t)size <= 0)
		return -EINVAL;
	if ((e = gm_string(vm, gpath, path, sizeof(path))) != 0)
		return e;
	/*
	 * The one magic link a static program asks about: its own
	 * executable, answered with its path inside the image.
	 */
	if (strcmp(path, "/proc/self/exe") == 0) {
		n = (ssize_t)strlen(vm->execfn);
		if ((uint64_t)n > size)
			n = (ssize_t)size;
		e = gm_copyout(vm, gbuf, vm->execfn, (uint64_t)n);
		return e != 0 ? e : n;
	}
	if (path[0] == '\0')
		return -ENOENT;
	if ((e = dirbase(vm, dirfd, path, &base)) != 0)
		return e;
	if ((e = path_resolve(vm, base, path, 0, canon, &exists)) < 0)
		return e;
	/* Ours hold no links: what is there is no link. */
	if ((tfs = tmpfs_of(vm, canon)) != NULL)
		return tmpfs_root(tfs, canon) || tmp_find(vm, canon) != NULL ?
		    -EINVAL : -ENOENT;
	if (!exists)
		return -ENOENT;
	if ((fd = path_lookup(vm, canon, &st)) < 0)
		return fd;
	if (!S_ISLNK(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = readlinkat(fd, "", link, sizeof(link));
	close(fd);
	if (n < 0)
		return -errno;
	if ((uint64_t)n > size)
		n = (ssize_t)size;
	e = gm_copyout(vm, gbuf, link, (uint64_t)n);
	return e != 0 ? e : n;
}

/*
 * The host's directory entries carry its inode numbers: give each the
 * one its path has in the view (lib/view.h), as stat(2) does.  The
 * records were written by the host kernel into guest memory that the
 * guest cannot touch meanwhile; each is still bounds-checked.
 */
static void
view_dirents(const char *dir, uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	struct dirent64 d;
	size_t off, dl = strlen(dir), nl;
	uint16_t reclen;
	char *slash;

	for (off = 0; off + offsetof(struct dirent64, d_name) < len;
	    off += reclen) {
		memcpy(&reclen, buf + off + offsetof(struct dirent64,
		    d_reclen), sizeof(reclen));
		if (reclen <= offsetof(struct dirent64, d_name) ||
		    reclen > len - off)
			break;
		nl = strnlen((char *)buf + off + offsetof(struct dirent64,
		    d_name), reclen - offsetof(struct dirent64, d_name));
		if (dl + 1 + nl >= sizeof(path))
			continue;
		memcpy(path, dir, dl + 1);
		if (nl == 1 && buf[off + offsetof(struct dirent64, d_name)] ==
		    '.')
			;			/* the directory itself */
		else if (nl == 2 && memcmp(buf + off + offsetof(struct dirent64,
		    d_name), "..", 2) == 0) {
			if ((slash = strrchr(path, '/')) != NULL)
				slash[slash == path ? 1 : 0] = '\0';
		} else {
			if (dl > 1)
				path[dl++] = '/';
			memcpy(path + dl, buf + off + offsetof(struct dirent64,
			    d_name), nl);
			path[dl + nl] = '\0';
			dl = strlen(dir);
		}
		d.d_ino = view_ino(path);
		memcpy(buf + off + offsetof(struct dirent64, d_ino), &d.d_ino,
		    sizeof(d.d_ino));
	}
}

static int64_t
do_getdents(struct vm *vm, uint64_t fd, uint64_t gbuf, uint64_t len)
{
	struct ofile *f;
	uint8_t *p;
	long n;

	if ((f = getf(vm, fd)) == NULL)
		return -EBADF;
	if (f->kind != FD_DIR && f->kind != FD_TMPDIR)
		return -ENOTDIR;
	if (len > 65536)
		len = 65536;
	/* Guest memory: the whole buffer, checked before the host fills it. */
	if ((p = gm_ptr(vm, gbuf, len, PG_WRITE)) == NULL)
		return -EFAULT;
	if (f->kind == FD_TMPDIR)
		return tmp_getdents(f->fs, f->node, &f->off, p, len);
	n = syscall(SYS_getdents64, f->hostfd, p, (size_t)len);
	if (n < 0)
		return -errno;
	view_dirents(f->path, p, (size_t)n);
	return n;
}

static int64_t
do_dup(struct vm *vm, uint64_t old, uint64_t new, int exact, int cloexec)
{
	struct ofile *f;

	if ((f = getf(vm, old)) == NULL)
		return -EBADF;
	if (!exact)
		return fd_alloc(vm, f, (int)(new < FD_MAX ? new : FD_MAX),
		    cloexec);
	if (new >= FD_MAX)
		return -EBADF;
	if (old == new)
		return (int64_t)new;
	if (vm->fds[new] != NULL)
		ofile_put(vm->fds[new]);
	vm->fds[new] = NULL;
	return fd_alloc(vm, f, (int)new, cloexec);
}

static int64_t
do_fcntl(struct vm *vm, uint64_t fd, uint64_t cmd, uint64_t arg)
{
	struct ofile *f;

	if ((f = getf(vm, fd)) == NULL)
		return -EBADF;
	switch (cmd) {
	case F_GETFD:
		return vm->cloexec[fd] ? FD_CLOEXEC : 0;
	case F_SETFD:
		vm->cloexec[fd] = (arg & FD_CLOEXEC) != 0;
		return 0;
	case F_GETFL:
		return f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY |
		    O_CLOEXEC);
	case F_SETFL:
		f->flags = (f->flags & ~(O_APPEND | O_NONBLOCK)) |
		    (int)(arg & (O_APPEND | O_NONBLOCK));
		return 0;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg >= FD_MAX)
			return -EINVAL;
		return do_dup(vm, fd, arg, 0, cmd == F_DUPFD_CLOEXEC);
	default:
		return -EINVAL;
	}
}

static int64_t
do_poll(struct vm *vm, uint64_t gfds, uint64_t n, uint64_t timeout)
{
	struct pollfd p[FD_MAX];
	struct timespec ts;
	struct ofile *f;
	uint64_t i;
	int64_t ready = 0;
	void *g;

	if (n > FD_MAX)
		return -EINVAL;
	/*
	 * No descriptors: poll(2) is a sleep of timeout ms, really slept
	 * (the wall-time timer interrupts it); one without end ends the
	 * run as a wall-time kill, as a futex wait that nothing can wake.
	 */
	if (n == 0) {
		if ((int)timeout < 0) {
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_WALL_TIME,
			    "poll of no descriptor that can never end");
			return -EINTR;
		}
		ts.tv_sec = (int)timeout / 1000;
		ts.tv_nsec = (long)((int)timeout % 1000) * 1000000;
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		return 0;
	}
	/*
	 * Guest memory: the array, checked whole, and copied, because the
	 * guest may align it as it likes and a struct pollfd may not be
	 * read where it is not aligned.
	 */
	if ((g = gm_ptr(vm, gfds, n * sizeof(*p), PG_READ | PG_WRITE)) == NULL)
		return -EFAULT;
	memcpy(p, g, n * sizeof(*p));
	/* Nothing here ever blocks: every open file is always ready. */
	for (i = 0; i < n; i++) {
		p[i].revents = 0;
		if (p[i].fd < 0)
			continue;
		if ((f = getf(vm, (uint64_t)p[i].fd)) == NULL)
			p[i].revents = POLLNVAL;
		else if (f->kind == FD_STDOUT || f->kind == FD_STDERR)
			p[i].revents = p[i].events & POLLOUT;
		else
			p[i].revents = p[i].events & (POLLIN | POLLOUT);
		if (p[i].revents != 0)
			ready++;
	}
	memcpy(g, p, n * sizeof(*p));
	return ready;
}

/*
 * select(2), pselect6(2): like poll, nothing blocks, so every valid
 * descriptor is ready for what it can do.  The three sets are guest
 * memory of nfds bits each, checked whole, and copied in and out as bytes
 * (the guest need not align them).
 */
static int64_t
do_select(struct vm *vm, uint64_t nfds, const uint64_t sets[3])
{
	uint64_t bits[3][FD_MAX / 64], *set[3], bytes, fd;
	struct ofile *f;
	int64_t ready = 0;
	void *g[3];
	int i, ok;

	if (nfds > FD_MAX)
		return -EINVAL;
	bytes = (nfds + 63) / 64 * 8;
	for (i = 0; i < 3; i++) {
		set[i] = NULL;
		if (sets[i] == 0)
			continue;
		if ((g[i] = gm_ptr(vm, sets[i], bytes,
		    PG_READ | PG_WRITE)) == NULL)
			return -EFAULT;
		memcpy(bits[i], g[i], bytes);
		set[i] = bits[i];
	}
	for (fd = 0; fd < nfds; fd++)
		for (i = 0; i < 3; i++)
			if (set[i] != NULL &&
			    (set[i][fd / 64] >> (fd % 64) & 1) &&
			    getf(vm, fd) == NULL)
				return -EBADF;
	for (fd = 0; fd < nfds; fd++)
		for (i = 0; i < 3; i++) {
			if (set[i] == NULL ||
			    !(set[i][fd / 64] >> (fd % 64) & 1))
				continue;
			f = getf(vm, fd);
			ok = i == 0 ? f->kind != FD_STDOUT &&
			    f->kind != FD_STDERR : i == 1;
			if (ok)
				ready++;
			else
				set[i][fd / 64] &= ~(1ULL << (fd % 64));
		}
	for (i = 0; i < 3; i++)
		if (set[i] != NULL)
			memcpy(g[i], set[i], bytes);
	return ready;
}

/*
 * statfs(2), fstatfs(2): /tmp, /input and /output are tmpfs (/input
 * read-only), the image a read-only disk.
 */
static int64_t
do_statfs(struct vm *vm, const char *canon, uint64_t gbuf)
{
	struct statfs sf;
	struct tmpfs *fs;

	memset(&sf, 0, sizeof(sf));
	sf.f_bsize = 4096;
	sf.f_frsize = 4096;
	sf.f_namelen = NAME_MAX;
	if ((fs = tmpfs_of(vm, canon)) != NULL) {
		sf.f_type = 0x01021994;		/* TMPFS_MAGIC */
		sf.f_blocks = fs->cap / 4096;
		sf.f_bfree = sf.f_bavail = (fs->cap - fs->bytes) / 4096;
		sf.f_files = (uint64_t)fs->max_nodes;
		sf.f_ffree = (uint64_t)(fs->max_nodes - fs->nodes);
		sf.f_flags = ST_NOSUID | ST_NODEV |
		    (fs->readonly ? ST_RDONLY : 0);
	} else {
		sf.f_type = 0xef53;		/* EXT4_SUPER_MAGIC */
		sf.f_flags = ST_RDONLY | ST_NOSUID | ST_NODEV;
	}
	return gm_copyout(vm, gbuf, &sf, sizeof(sf));
}

static int64_t
do_unlink(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t flags)
{
	char canon[PATH_MAX];
	struct tmpfs *fs;
	struct tmpnode *t;
	int exists, e;

	if (flags & ~(uint64_t)AT_REMOVEDIR)
		return -EINVAL;
	if ((e = guest_path(vm, dirfd, gpath, 0, canon, &exists, 0)) < 0)
		return e;
	if ((fs = tmpfs_of(vm, canon)) == NULL)
		return exists ? -EROFS : -ENOENT;
	if (tmpfs_root(fs, canon))
		return -EBUSY;
	if ((t = tmp_find(vm, canon)) == NULL)
		return -ENOENT;
	if (fs->readonly)
		return -EROFS;
	return tmp_remove(vm, t, (flags & AT_REMOVEDIR) != 0);
}

static int64_t
do_mkdir(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t mode)
{
	char canon[PATH_MAX];
	struct tmpfs *fs;
	struct tmpnode *t;
	int exists, e;

	if ((e = guest_path(vm, dirfd, gpath, 0, canon, &exists, 0)) < 0)
		return e;
	if ((fs = tmpfs_of(vm, canon)) == NULL)
		return exists ? -EEXIST : -EROFS;
	if (tmpfs_root(fs, canon) || tmp_find(vm, canon) != NULL)
		return -EEXIST;
	if ((t = tmp_create(vm, canon, 1, &e)) == NULL)
		return e;
	/* The mode asked for, less the umask, as mkdir(2) gives it. */
	t->mode = (mode_t)(mode & ~(uint64_t)vm->umask & 07777);
	return 0;
}

/*
 * chmod(2) of one of the guest's own files or directories in /tmp or
 * /output (t), or of the root of one of them (t NULL), which are the
 * guest's as a process sandbox's own tmpfs mounts are its own; anything
 * else (fs NULL) is the image.  The image and /input are read-only, as
 * read-only mounts are.  Only the permission bits and the set-id and
 * sticky bits are kept, as Linux keeps them.
 */
static int64_t
do_chmod_node(struct tmpfs *fs, struct tmpnode *t, uint64_t mode)
{
	if (fs == NULL || fs->readonly)
		return -EROFS;
	if (t != NULL)
		t->mode = (mode_t)(mode & 07777);
	else
		fs->rootmode = (mode_t)(mode & 07777);
	return 0;
}

static int64_t
do_chmod(struct vm *vm, uint64_t dirfd, uint64_t gpath, uint64_t mode)
{
	char canon[PATH_MAX];
	struct tmpfs *fs;
	struct tmpnode *t;
	struct stat st;
	int exists, e;

	if ((e = guest_path(vm, dirfd, gpath, 1, canon, &exists, 0)) < 0)
		return e;
	if ((e = stat_canon(vm, canon, exists, &st)) < 0)
		return e;
	/* The devices are not the guest's. */
	if (path_device(canon) != FD_NONE)
		return -EPERM;
	fs = tmpfs_of(vm, canon);
	t = fs != NULL && !tmpfs_root(fs, canon) ? tmp_find(vm, canon) : NULL;
	return do_chmod_node(fs, t, mode);
}

static int64_t
do_fchmod(struct vm *vm, uint64_t fd, uint64_t mode)
{
	struct ofile *f;

	if ((f = getf(vm, fd)) == NULL || (f->flags & O_PATH))
		return -EBADF;
	switch (f->kind) {
	case FD_TMPFILE:
	case FD_TMPDIR:
		return do_chmod_node(f->fs, f->node, mode);
	case FD_FILE:
	case FD_DIR:
		return -EROFS;
	default:
		/* Standard streams and devices: not the guest's. */
		return -EPERM;
	}
}

/*
 * rename(2) of a file within /tmp or within /output; the image and
 * /input are read-only, and a rename from one to another would cross
 * file systems.  Directories are not renamed.
 */
static int64_t
do_rename(struct vm *vm, uint64_t ofd, uint64_t op, uint64_t nfd,
    uint64_t np, uint64_t flags)
{
	char oc[PATH_MAX], nc[PATH_MAX];
	struct tmpfs *fs;
	struct tmpnode *o;
	int oex, nex, e;

	if (flags & ~(uint64_t)RENAME_NOREPLACE)
		return -EINVAL;
	if ((e = guest_path(vm, ofd, op, 0, oc, &oex, 0)) < 0 ||
	    (e = guest_path(vm, nfd, np, 0, nc, &nex, 0)) < 0)
		return e;
	if ((fs = tmpfs_of(vm, oc)) == NULL)
		return oex ? -EROFS : -ENOENT;
	if ((o = tmp_find(vm, oc)) == NULL)
		return tmpfs_root(fs, oc) ? -EBUSY : -ENOENT;
	if (tmpfs_of(vm, nc) != fs)
		return -EXDEV;
	if (fs->readonly)
		return -EROFS;
	if (tmpfs_root(fs, nc))
		return o->dir ? -EPERM : -EISDIR;
	return tmp_rename(vm, o, nc, (flags & RENAME_NOREPLACE) != 0);
}

static int64_t
do_chdir(struct vm *vm, const char *canon, int exists)
{
	struct stat st;
	int e;

	if ((e = stat_canon(vm, canon, exists, &st)) < 0)
		return e;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	strcpy(vm->cwd, canon);
	return 0;
}

int64_t
sys_file(struct vm *vm, int nr, const uint64_t a[6], int *handled)
{
	char canon[PATH_MAX];
	struct ofile *f;
	struct stat st;
	size_t n;
	int exists, e;

	*handled = 1;
	switch (nr) {
	case __NR_read:
		return do_rw(vm, 0, a[0], a[1], a[2], -1);
	case __NR_write:
		return do_rw(vm, 1, a[0], a[1], a[2], -1);
	case __NR_pread64:
		return (int64_t)a[3] < 0 ? -EINVAL :
		    do_rw(vm, 0, a[0], a[1], a[2], (int64_t)a[3]);
	case __NR_pwrite64:
		return (int64_t)a[3] < 0 ? -EINVAL :
		    do_rw(vm, 1, a[0], a[1], a[2], (int64_t)a[3]);
	case __NR_readv:
		return do_rwv(vm, 0, a[0], a[1], a[2]);
	case __NR_writev:
		return do_rwv(vm, 1, a[0], a[1], a[2]);
	case __NR_lseek:
		return do_lseek(vm, a[0], (int64_t)a[1], a[2]);
	case __NR_open:
		return do_open(vm, (uint64_t)AT_FDCWD, a[0], a[1], a[2]);
	case __NR_openat:
		return do_open(vm, a[0], a[1], a[2], a[3]);
	case __NR_close:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		vm->fds[a[0]] = NULL;
		ofile_put(f);
		return 0;
	case __NR_stat:
		return do_stat(vm, (uint64_t)AT_FDCWD, a[0], a[1], 0);
	case __NR_lstat:
		return do_stat(vm, (uint64_t)AT_FDCWD, a[0], a[1],
		    AT_SYMLINK_NOFOLLOW);
	case __NR_fstat:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		if ((e = stat_ofile(f, &st)) < 0)
			return e;
		return gm_copyout(vm, a[1], &st, sizeof(st));
	case __NR_newfstatat:
		return do_stat(vm, a[0], a[1], a[2], a[3]);
	case __NR_access:
		return do_access(vm, (uint64_t)AT_FDCWD, a[0], a[1]);
	case __NR_faccessat:
	case __NR_faccessat2:
		return do_access(vm, a[0], a[1], a[2]);
	case __NR_readlink:
		return do_readlink(vm, (uint64_t)AT_FDCWD, a[0], a[1], a[2]);
	case __NR_readlinkat:
		return do_readlink(vm, a[0], a[1], a[2], a[3]);
	case __NR_getdents64:
		return do_getdents(vm, a[0], a[1], a[2]);
	case __NR_fcntl:
		return do_fcntl(vm, a[0], a[1], a[2]);
	case __NR_ioctl:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		if (a[1] == FIOCLEX || a[1] == FIONCLEX) {
			vm->cloexec[a[0]] = a[1] == FIOCLEX;
			return 0;
		}
		/* No terminals and no devices: TCGETS and the rest. */
		return -ENOTTY;
	case __NR_dup:
		return do_dup(vm, a[0], 0, 0, 0);
	case __NR_dup2:
		return do_dup(vm, a[0], a[1], 1, 0);
	case __NR_dup3:
		if (a[0] == a[1] || (a[2] & ~(uint64_t)O_CLOEXEC))
			return -EINVAL;
		return do_dup(vm, a[0], a[1], 1, (a[2] & O_CLOEXEC) != 0);
	case __NR_getcwd:
		n = strlen(vm->cwd) + 1;
		if (a[1] < n)
			return -ERANGE;
		e = gm_copyout(vm, a[0], vm->cwd, n);
		return e != 0 ? e : (int64_t)n;
	case __NR_chdir:
		if ((e = guest_path(vm, (uint64_t)AT_FDCWD, a[0], 1, canon,
		    &exists, 0)) < 0)
			return e;
		return do_chdir(vm, canon, exists);
	case __NR_fchdir:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		if (f->kind != FD_DIR && f->kind != FD_TMPDIR)
			return -ENOTDIR;
		strcpy(vm->cwd, f->path);
		return 0;
	case __NR_poll:
		return do_poll(vm, a[0], a[1], a[2]);
	case __NR_select:
	case __NR_pselect6:
		return do_select(vm, a[0], a + 1);
	case __NR_statfs:
		if ((e = guest_path(vm, (uint64_t)AT_FDCWD, a[0], 1, canon,
		    &exists, 0)) < 0)
			return e;
		if ((e = stat_canon(vm, canon, exists, &st)) < 0)
			return e;
		return do_statfs(vm, canon, a[1]);
	case __NR_fstatfs:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		return do_statfs(vm, f->path != NULL ? f->path : "/", a[1]);
	case __NR_unlink:
		return do_unlink(vm, (uint64_t)AT_FDCWD, a[0], 0);
	case __NR_unlinkat:
		return do_unlink(vm, a[0], a[1], a[2]);
	case __NR_mkdir:
		return do_mkdir(vm, (uint64_t)AT_FDCWD, a[0], a[1]);
	case __NR_mkdirat:
		return do_mkdir(vm, a[0], a[1], a[2]);
	case __NR_rmdir:
		return do_unlink(vm, (uint64_t)AT_FDCWD, a[0], AT_REMOVEDIR);
	case __NR_rename:
		return do_rename(vm, (uint64_t)AT_FDCWD, a[0],
		    (uint64_t)AT_FDCWD, a[1], 0);
	case __NR_renameat:
		return do_rename(vm, a[0], a[1], a[2], a[3], 0);
	case __NR_renameat2:
		return do_rename(vm, a[0], a[1], a[2], a[3], a[4]);
	case __NR_chmod:
		return do_chmod(vm, (uint64_t)AT_FDCWD, a[0], a[1]);
	case __NR_fchmodat:
		/* The system call has no flags: glibc's are its own. */
		return do_chmod(vm, a[0], a[1], a[2]);
	case __NR_fchmod:
		return do_fchmod(vm, a[0], a[1]);
	case __NR_ftruncate:
		if ((f = getf(vm, a[0])) == NULL)
			return -EBADF;
		if (f->kind != FD_TMPFILE || (f->flags & O_ACCMODE) ==
		    O_RDONLY)
			return -EINVAL;
		if ((int64_t)a[1] < 0)
			return -EINVAL;
		return tmp_truncate(f->node, a[1]);
	case __NR_fsync:
	case __NR_fdatasync:
		return getf(vm, a[0]) == NULL ? -EBADF : 0;
	}
	*handled = 0;
	return -ENOSYS;
}
