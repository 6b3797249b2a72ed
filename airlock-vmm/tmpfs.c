/*
 * The file systems in the VMM's own memory: the guest's private /tmp, the
 * run's input files under /input (read-only for the guest) and /output,
 * whose files go back to airlock-snaft when a served run ends.  Each is
 * there whatever the image holds at its path, even in an image without
 * that directory; each holds files and directories within its own caps,
 * and all are gone when the VMM exits.
 *
 * A root is not a node; every other name is one, found in one hash table
 * by its file system, its directory and its own name, so path resolution
 * (path.c) pays one lookup of one name per component, whatever the number
 * and depth of the nodes (a scan of every node's whole path per component
 * made a 640-deep mkdir take 81 ms and a 1024-deep tree never finish).  A
 * directory counts its entries, so rmdir never scans.
 */
#include <sys/mman.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define TMP_INO_BASE	1000

/*
 * The three, with the caps they have unless a served run's request sets
 * others (airlock-vmm.c): /tmp 16 MiB and TMP_NODES_MAX nodes; /input
 * empty and nothing more; /output the intent table's default limits of
 * 16 files and 1 MiB.
 */
void
tmpfs_init(struct vm *vm)
{
	static const struct {
		const char	*path;
		uint64_t	 dev;
		mode_t		 rootmode, filemode, dirmode;
		int		 readonly;
		uint64_t	 cap;
		int		 nodes;
	} def[FS_MAX] = {
		[FS_TMP] = { "/tmp", VIEW_DEV_TMP, 01777, 0600, 0700, 0,
		    16ULL << 20, TMP_NODES_MAX },
		[FS_INPUT] = { "/input", DEV_INPUT, 0755, 0444, 0555, 1, 0, 0 },
		[FS_OUTPUT] = { "/output", DEV_OUTPUT, 0777, 0600, 0700, 0,
		    1ULL << 20, 16 },
	};
	struct tmpfs *fs;
	int i;

	for (i = 0; i < FS_MAX; i++) {
		fs = &vm->fs[i];
		memset(fs, 0, sizeof(*fs));
		fs->path = def[i].path;
		fs->pathlen = strlen(def[i].path);
		fs->dev = def[i].dev;
		fs->rootmode = def[i].rootmode;
		fs->filemode = def[i].filemode;
		fs->dirmode = def[i].dirmode;
		fs->readonly = def[i].readonly;
		tmpfs_setcaps(fs, def[i].cap, def[i].nodes);
	}
}

/*
 * Caps: bytes of file data, rounded up to whole pages as tmpfs rounds its
 * size= (a smaller cap could never hold a page), and files and
 * directories, at most TMP_NODES_MAX.
 */
void
tmpfs_setcaps(struct tmpfs *fs, uint64_t bytes, int nodes)
{
	if (bytes > UINT64_MAX - PAGE_SIZE)
		bytes = UINT64_MAX - PAGE_SIZE;
	fs->cap = (bytes + PAGE_SIZE - 1) & PAGE_MASK;
	fs->max_nodes = nodes < 0 ? 0 : nodes > TMP_NODES_MAX ?
	    TMP_NODES_MAX : nodes;
}

/* The file system a canonical path is in (its root or below), or NULL. */
struct tmpfs *
tmpfs_of(struct vm *vm, const char *canon)
{
	struct tmpfs *fs;
	int i;

	for (i = 0; i < FS_MAX; i++) {
		fs = &vm->fs[i];
		if (strncmp(canon, fs->path, fs->pathlen) == 0 &&
		    (canon[fs->pathlen] == '\0' || canon[fs->pathlen] == '/'))
			return fs;
	}
	return NULL;
}

/* Whether canon is fs's root itself. */
int
tmpfs_root(const struct tmpfs *fs, const char *canon)
{
	return strcmp(canon, fs->path) == 0;
}

/* The hash chain of the name in the directory parent (NULL: fs's root). */
static struct tmpnode **
bucket(struct vm *vm, const struct tmpfs *fs, const struct tmpnode *parent,
    const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ULL;
	h ^= (uint64_t)(uintptr_t)parent ^ (uint64_t)(uintptr_t)fs;
	return &vm->tmphash[(h ^ (h >> 29)) % TMP_HASH];
}

/* The entry name of the directory dir (NULL: fs's root), or NULL. */
struct tmpnode *
tmp_lookup(struct vm *vm, const struct tmpfs *fs, const struct tmpnode *dir,
    const char *name)
{
	struct tmpnode *t;

	for (t = *bucket(vm, fs, dir, name); t != NULL; t = t->hnext)
		if (t->fs == fs && t->parent == dir &&
		    strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/*
 * A canonical path below one of the roots ("/tmp/a/b"), component by
 * component: NULL if it names nothing, or names a root itself.
 */
struct tmpnode *
tmp_find(struct vm *vm, const char *canon)
{
	char comp[NAME_MAX + 1];
	struct tmpnode *t = NULL;
	struct tmpfs *fs;
	const char *p, *slash;
	size_t n;

	if ((fs = tmpfs_of(vm, canon)) == NULL || tmpfs_root(fs, canon))
		return NULL;
	for (p = canon + fs->pathlen + 1; *p != '\0';
	    p = *slash ? slash + 1 : slash) {
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		if ((n = (size_t)(slash - p)) == 0 || n > NAME_MAX)
			return NULL;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if ((t = tmp_lookup(vm, fs, t, comp)) == NULL)
			return NULL;
	}
	return t;
}

static void
hash_remove(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **pp;

	for (pp = bucket(vm, n->fs, n->parent, n->name); *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == n) {
			*pp = n->hnext;
			break;
		}
}

static void
hash_insert(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **b = bucket(vm, n->fs, n->parent, n->name);

	n->hnext = *b;
	*b = n;
}

/*
 * The directory a new name canon ("/tmp/..."), in fs, would be in: NULL
 * in *dir for the root.  Returns 0 or -errno.
 */
static int
tmp_parent(struct vm *vm, const struct tmpfs *fs, const char *canon,
    struct tmpnode **dir)
{
	char parent[PATH_MAX];
	size_t n = (size_t)(strrchr(canon, '/') - canon);

	*dir = NULL;
	if (n >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, canon, n);
	parent[n] = '\0';
	if (tmpfs_root(fs, parent))
		return 0;
	if ((*dir = tmp_find(vm, parent)) == NULL)
		return -ENOENT;
	return (*dir)->dir ? 0 : -ENOTDIR;
}

/* A new node name in fs's directory parent, within fs's node cap. */
static struct tmpnode *
tmp_add(struct vm *vm, struct tmpfs *fs, struct tmpnode *parent,
    const char *name, int dir, int *e)
{
	struct tmpnode *t;

	if (fs->nodes >= fs->max_nodes) {
		*e = -ENOSPC;
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL) {
		free(t);
		*e = -ENOMEM;
		return NULL;
	}
	t->dir = dir;
	t->mode = dir ? fs->dirmode : fs->filemode;
	t->fs = fs;
	t->ino = TMP_INO_BASE + ++fs->ino;
	t->parent = parent;
	if (parent != NULL)
		parent->nchild++;
	t->next = fs->list;
	fs->list = t;
	hash_insert(vm, t);
	fs->nodes++;
	*e = 0;
	return t;
}

/* creat(2) or mkdir(2) of canon, as the guest asks: not on /input. */
struct tmpnode *
tmp_create(struct vm *vm, const char *canon, int dir, int *e)
{
	struct tmpnode *parent;
	struct tmpfs *fs;

	if ((fs = tmpfs_of(vm, canon)) == NULL || tmpfs_root(fs, canon)) {
		*e = -EEXIST;
		return NULL;
	}
	if ((*e = tmp_parent(vm, fs, canon, &parent)) != 0)
		return NULL;
	if (fs->readonly) {
		*e = -EROFS;
		return NULL;
	}
	return tmp_add(vm, fs, parent, strrchr(canon, '/') + 1, dir, e);
}

static void
tmp_free(struct tmpnode *n)
{
	n->fs->bytes -= n->cap;
	free(n->data);
	free(n->name);
	free(n);
}

/*
 * Take a node out of its file system.  It stops counting against the
 * node cap now, once; its memory goes with the last open description
 * (tmp_release()).
 */
static void
tmp_unlink(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **pp;

	for (pp = &n->fs->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	hash_remove(vm, n);
	if (n->parent != NULL)
		n->parent->nchild--;
	n->parent = NULL;
	n->unlinked = 1;
	n->fs->nodes--;
	if (n->refs == 0)
		tmp_free(n);
}

/* An open description of n went away. */
void
tmp_release(struct tmpnode *n)
{
	if (--n->refs == 0 && n->unlinked)
		tmp_free(n);
}

/* unlink(2) (rmdir 0) and rmdir(2) (rmdir 1) of a node. */
int
tmp_remove(struct vm *vm, struct tmpnode *t, int rmdir)
{
	if (!t->dir && rmdir)
		return -ENOTDIR;
	if (t->dir && !rmdir)
		return -EISDIR;
	if (t->dir && t->nchild != 0)
		return -ENOTEMPTY;
	tmp_unlink(vm, t);
	return 0;
}

/*
 * rename(2) of the file o to the name nc in the same file system; n is
 * what nc names now, or NULL.  Directories are not renamed (their
 * children's paths would change).
 */
int
tmp_rename(struct vm *vm, struct tmpnode *o, const char *nc, int noreplace)
{
	struct tmpnode *n = tmp_find(vm, nc), *parent;
	char *p;
	int e;

	if (o->dir)
		return -EPERM;
	if (n == o)
		return 0;
	if (n != NULL && noreplace)
		return -EEXIST;
	if (n != NULL && n->dir)
		return -EISDIR;
	if ((e = tmp_parent(vm, o->fs, nc, &parent)) != 0)
		return e;
	if ((p = strdup(strrchr(nc, '/') + 1)) == NULL)
		return -ENOMEM;
	if (n != NULL)
		tmp_unlink(vm, n);
	hash_remove(vm, o);
	if (o->parent != NULL)
		o->parent->nchild--;
	free(o->name);
	o->name = p;
	o->parent = parent;
	if (parent != NULL)
		parent->nchild++;
	hash_insert(vm, o);
	return 0;
}

/*
 * Make room for size bytes of file data, within the file system's cap.
 * Bytes between the old size and size read as zeros.
 */
static int
tmp_reserve(struct tmpnode *t, uint64_t size)
{
	struct tmpfs *fs = t->fs;
	uint64_t ncap;
	uint8_t *d;

	if (size > fs->cap)
		return -ENOSPC;
	if (size > t->cap) {
		ncap = (size + PAGE_SIZE - 1) & PAGE_MASK;
		if (ncap - t->cap > fs->cap - fs->bytes)
			return -ENOSPC;
		if ((d = realloc(t->data, ncap)) == NULL)
			return -ENOMEM;
		memset(d + t->cap, 0, ncap - t->cap);
		fs->bytes += ncap - t->cap;
		t->data = d;
		t->cap = ncap;
	}
	/*
	 * What lies beyond size may be bytes from before an O_TRUNC or a
	 * shrinking ftruncate: a hole must read as zeros.
	 */
	if (size > t->size)
		memset(t->data + t->size, 0, size - t->size);
	return 0;
}

/*
 * One of the run's input files, into the root of /input (airlock-vmm.c
 * checked its name): the VMM's own write, which the guest's read-only
 * view does not stop.  Returns 0 or -errno (-ENOSPC over the caps).
 */
int
tmp_put(struct vm *vm, struct tmpfs *fs, const char *name, const void *data,
    uint64_t len)
{
	struct tmpnode *t;
	int e;

	if (tmp_lookup(vm, fs, NULL, name) != NULL)
		return -EEXIST;
	if ((t = tmp_add(vm, fs, NULL, name, 0, &e)) == NULL)
		return e;
	if (len > 0 && (e = tmp_reserve(t, len)) != 0) {
		tmp_unlink(vm, t);
		return e;
	}
	if (len > 0)
		memcpy(t->data, data, len);
	t->size = len;
	return 0;
}

int64_t
tmp_read(struct tmpnode *t, void *dst, uint64_t len, uint64_t off)
{
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = t->size - off;
	memcpy(dst, t->data + off, len);
	return (int64_t)len;
}

int64_t
tmp_write(struct tmpnode *t, const void *src, uint64_t len, uint64_t off)
{
	int e;

	/*
	 * Nothing to write: a file that never held a byte has no data
	 * buffer, and NULL + off is undefined even for 0 bytes.
	 */
	if (len == 0)
		return 0;
	if (t->fs->readonly)
		return -EROFS;
	if (off > t->fs->cap || len > t->fs->cap - off)
		return -ENOSPC;
	if ((e = tmp_reserve(t, off + len)) != 0)
		return e;
	memcpy(t->data + off, src, len);
	if (off + len > t->size)
		t->size = off + len;
	return (int64_t)len;
}

/* ftruncate(2): a file grows with zeros, within the cap, or shrinks. */
int
tmp_truncate(struct tmpnode *t, uint64_t size)
{
	int e;

	if (t->fs->readonly)
		return -EROFS;
	if (size > t->size && (e = tmp_reserve(t, size)) != 0)
		return e == -ENOSPC ? -EFBIG : e;
	t->size = size;
	return 0;
}

/*
 * getdents64(2) in the directory dir of fs (NULL: its root): ".", ".."
 * and the entries, *off = index.  The guest's buffer may have any
 * alignment, as Linux allows: each record is built in an aligned one of
 * ours and copied out as bytes.
 */
int64_t
tmp_getdents(struct tmpfs *fs, struct tmpnode *dir, uint64_t *off,
    uint8_t *buf, uint64_t len)
{
	struct tmpnode *t;
	const char *name;
	uint64_t i = 0, used = 0, reclen;
	struct dirent64 d;

	for (t = NULL;; i++) {
		if (i == 0)
			name = ".";
		else if (i == 1)
			name = "..";
		else {
			do
				t = t == NULL ? fs->list : t->next;
			while (t != NULL && t->parent != dir);
			if (t == NULL)
				break;
			name = t->name;
		}
		if (i < *off)
			continue;
		/* Names are path components, at most NAME_MAX bytes. */
		if (strlen(name) >= sizeof(d.d_name))
			return -EIO;
		reclen = (offsetof(struct dirent64, d_name) + strlen(name) +
		    1 + 7) & ~7ULL;
		if (used + reclen > len)
			break;
		memset(&d, 0, sizeof(d));
		if (t != NULL)
			d.d_ino = t->ino;
		else if (i == 0 && dir != NULL)
			d.d_ino = dir->ino;
		else if (i == 1 && dir != NULL && dir->parent != NULL)
			d.d_ino = dir->parent->ino;
		else
			d.d_ino = VIEW_INO_TMP;
		d.d_off = (int64_t)i + 1;
		d.d_reclen = (unsigned short)reclen;
		d.d_type = t == NULL || t->dir ? DT_DIR : DT_REG;
		strcpy(d.d_name, name);
		memcpy(buf + used, &d, reclen);
		used += reclen;
		*off = i + 1;
	}
	if (used == 0 && (t != NULL || i < *off))
		return -EINVAL;
	return (int64_t)used;
}
