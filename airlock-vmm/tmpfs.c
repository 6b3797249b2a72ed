/*
 * The guest's private /tmp: files and directories in the VMM's memory,
 * size-capped, at most TMP_NODES_MAX of them, gone when the VMM exits.
 * /tmp itself is not a node; every other name is one, found in a hash
 * table by its directory and its own name, so path resolution (path.c)
 * pays one lookup of one name per component, whatever the number and
 * depth of the nodes (a scan of every node's whole path per component
 * made a 640-deep mkdir take 81 ms and a 1024-deep tree never finish).
 * A directory counts its entries, so rmdir never scans.
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

/* The hash chain of the name in the directory parent (NULL: /tmp). */
static struct tmpnode **
bucket(struct vm *vm, const struct tmpnode *parent, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ULL;
	h ^= (uint64_t)(uintptr_t)parent;
	return &vm->tmphash[(h ^ (h >> 29)) % TMP_HASH];
}

/* The entry name of the directory dir (NULL: /tmp), or NULL. */
struct tmpnode *
tmp_lookup(struct vm *vm, const struct tmpnode *dir, const char *name)
{
	struct tmpnode *t;

	for (t = *bucket(vm, dir, name); t != NULL; t = t->hnext)
		if (t->parent == dir && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/*
 * A canonical path below /tmp ("/tmp/a/b"), component by component:
 * NULL if it names nothing, or names /tmp itself.
 */
struct tmpnode *
tmp_find(struct vm *vm, const char *canon)
{
	char comp[NAME_MAX + 1];
	struct tmpnode *t = NULL;
	const char *p, *slash;
	size_t n;

	if (strncmp(canon, "/tmp/", 5) != 0)
		return NULL;
	for (p = canon + 5; *p != '\0'; p = *slash ? slash + 1 : slash) {
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		if ((n = (size_t)(slash - p)) == 0 || n > NAME_MAX)
			return NULL;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if ((t = tmp_lookup(vm, t, comp)) == NULL)
			return NULL;
	}
	return t;
}

static void
hash_remove(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **pp;

	for (pp = bucket(vm, n->parent, n->name); *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == n) {
			*pp = n->hnext;
			break;
		}
}

static void
hash_insert(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **b = bucket(vm, n->parent, n->name);

	n->hnext = *b;
	*b = n;
}

/*
 * The directory a new name canon ("/tmp/..."), would be in: NULL in *dir
 * for /tmp itself.  Returns 0 or -errno.
 */
static int
tmp_parent(struct vm *vm, const char *canon, struct tmpnode **dir)
{
	char parent[PATH_MAX];
	size_t n = (size_t)(strrchr(canon, '/') - canon);

	*dir = NULL;
	if (n >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, canon, n);
	parent[n] = '\0';
	if (strcmp(parent, "/tmp") == 0)
		return 0;
	if ((*dir = tmp_find(vm, parent)) == NULL)
		return -ENOENT;
	return (*dir)->dir ? 0 : -ENOTDIR;
}

struct tmpnode *
tmp_create(struct vm *vm, const char *canon, int dir, int *e)
{
	struct tmpnode *t, *parent;

	if ((*e = tmp_parent(vm, canon, &parent)) != 0)
		return NULL;
	if (vm->tmp_nodes >= TMP_NODES_MAX) {
		*e = -ENOSPC;
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(strrchr(canon, '/') + 1)) == NULL) {
		free(t);
		*e = -ENOMEM;
		return NULL;
	}
	t->dir = dir;
	t->ino = TMP_INO_BASE + ++vm->tmp_ino;
	t->parent = parent;
	if (parent != NULL)
		parent->nchild++;
	t->next = vm->tmp;
	vm->tmp = t;
	hash_insert(vm, t);
	vm->tmp_nodes++;
	return t;
}

static void
tmp_free(struct vm *vm, struct tmpnode *n)
{
	vm->tmp_bytes -= n->cap;
	free(n->data);
	free(n->name);
	free(n);
}

/*
 * Take a node out of /tmp.  It stops counting against TMP_NODES_MAX now,
 * once; its memory goes with the last open description (tmp_release()).
 */
static void
tmp_unlink(struct vm *vm, struct tmpnode *n)
{
	struct tmpnode **pp;

	for (pp = &vm->tmp; *pp != NULL; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	hash_remove(vm, n);
	if (n->parent != NULL)
		n->parent->nchild--;
	n->parent = NULL;
	n->unlinked = 1;
	vm->tmp_nodes--;
	if (n->refs == 0)
		tmp_free(vm, n);
}

/* An open description of n went away. */
void
tmp_release(struct vm *vm, struct tmpnode *n)
{
	if (--n->refs == 0 && n->unlinked)
		tmp_free(vm, n);
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
 * rename(2) of the file o to the name nc, in /tmp; n is what nc names
 * now, or NULL.  Directories are not renamed (their children's paths
 * would change).
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
	if ((e = tmp_parent(vm, nc, &parent)) != 0)
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
 * Make room for size bytes of file data, within the cap.  Bytes between
 * the old size and size read as zeros.
 */
static int
tmp_reserve(struct vm *vm, struct tmpnode *t, uint64_t size)
{
	uint64_t ncap;
	uint8_t *d;

	if (size > vm->tmp_cap)
		return -ENOSPC;
	if (size > t->cap) {
		ncap = (size + PAGE_SIZE - 1) & PAGE_MASK;
		if (ncap - t->cap > vm->tmp_cap - vm->tmp_bytes)
			return -ENOSPC;
		if ((d = realloc(t->data, ncap)) == NULL)
			return -ENOMEM;
		memset(d + t->cap, 0, ncap - t->cap);
		vm->tmp_bytes += ncap - t->cap;
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
tmp_write(struct vm *vm, struct tmpnode *t, const void *src, uint64_t len,
    uint64_t off)
{
	int e;

	/*
	 * Nothing to write: a file that never held a byte has no data
	 * buffer, and NULL + off is undefined even for 0 bytes.
	 */
	if (len == 0)
		return 0;
	if (off > vm->tmp_cap || len > vm->tmp_cap - off)
		return -ENOSPC;
	if ((e = tmp_reserve(vm, t, off + len)) != 0)
		return e;
	memcpy(t->data + off, src, len);
	if (off + len > t->size)
		t->size = off + len;
	return (int64_t)len;
}

/* ftruncate(2): a file grows with zeros, within the cap, or shrinks. */
int
tmp_truncate(struct vm *vm, struct tmpnode *t, uint64_t size)
{
	int e;

	if (size > t->size && (e = tmp_reserve(vm, t, size)) != 0)
		return e == -ENOSPC ? -EFBIG : e;
	t->size = size;
	return 0;
}

/*
 * getdents64(2) in the /tmp directory dir (NULL: /tmp itself): ".", ".."
 * and the entries, *off = index.  The guest's buffer may have any
 * alignment, as Linux allows: each record is built in an aligned one of
 * ours and copied out as bytes.
 */
int64_t
tmp_getdents(struct vm *vm, struct tmpnode *dir, uint64_t *off,
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
				t = t == NULL ? vm->tmp : t->next;
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
