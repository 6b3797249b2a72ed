/*
 * Memory system calls: mmap, munmap, mprotect, madvise, brk, mremap,
 * mbind.
 *
 * The guest's address space is the VMM's page map (mem.c); the page tables
 * stay as built.  Free pages always read as zeros (gm_unmap() discards
 * them), which is what a new anonymous mapping must hold.
 *
 * Every length and address is a guest register: a length is rounded up to
 * whole pages only through pglen(), which refuses what would wrap around
 * 2^64 (page rounding once turned madvise's 0xfffffffffffff001 into 0 and
 * the run into a VMM failure), and every range is checked against guest
 * memory before a page of it is touched.  Errors are Linux's.
 */
#include <sys/mman.h>

#include <asm/unistd_64.h>

#include <errno.h>
#include <string.h>

#include "vmm.h"

#define PROT_ALL	(PROT_READ | PROT_WRITE | PROT_EXEC)

static int
pgprot(uint64_t prot)
{
	return ((prot & PROT_READ) ? PG_READ : 0) |
	    ((prot & PROT_WRITE) ? PG_WRITE : 0) |
	    ((prot & PROT_EXEC) ? PG_EXEC : 0);
}

static uint64_t
pgup(uint64_t len)
{
	return (len + PAGE_SIZE - 1) & PAGE_MASK;
}

/*
 * A guest length rounded up to whole pages in *out; -1 if it is 0 or the
 * rounding would wrap.
 */
static int
pglen(uint64_t len, uint64_t *out)
{
	if (len == 0 || len > UINT64_MAX - (PAGE_SIZE - 1))
		return -1;
	*out = pgup(len);
	return 0;
}

/*
 * munmap(2): Linux's checks, then whatever part of the range lies in
 * guest program memory is unmapped; the rest was never mapped.
 */
static int64_t
sys_munmap(struct vm *vm, uint64_t addr, uint64_t len)
{
	uint64_t end, lo, hi;

	if ((addr & ~PAGE_MASK) != 0 || addr > USER_TOP ||
	    len > USER_TOP - addr || pglen(len, &len) != 0)
		return -EINVAL;
	end = addr + len;
	lo = addr < GPA_USER ? GPA_USER : addr;
	hi = end > vm->memsize ? vm->memsize : end;
	if (lo < hi)
		gm_unmap(vm, lo, hi - lo);
	return 0;
}

/* madvise(2): the advice Linux knows, on memory that is all mapped. */
static int64_t
sys_madvise(struct vm *vm, uint64_t addr, uint64_t len, uint64_t advice)
{
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL:
	case MADV_WILLNEED: case MADV_DONTNEED: case MADV_FREE:
	case MADV_REMOVE: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE: case MADV_DONTDUMP: case MADV_DODUMP:
	case MADV_WIPEONFORK: case MADV_KEEPONFORK: case MADV_COLD:
	case MADV_PAGEOUT: case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
		break;
	default:
		return -EINVAL;
	}
	if ((addr & ~PAGE_MASK) != 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (pglen(len, &len) != 0 || addr > UINT64_MAX - len)
		return -EINVAL;
	/* Every page must be mapped; the range is checked whole. */
	if (gm_ptr(vm, addr, len, 0) == NULL)
		return -ENOMEM;
	/* Anonymous private memory reads as zeros after these two. */
	if (advice == MADV_DONTNEED || advice == MADV_FREE)
		gm_zero(vm, addr, len);
	return 0;
}

static int64_t
sys_mmap(struct vm *vm, const uint64_t a[6])
{
	uint64_t addr = a[0], len = a[1], prot = a[2], flags = a[3];
	uint64_t off = a[5], type = flags & MAP_TYPE;
	int fd = (int)a[4], anon = (flags & MAP_ANONYMOUS) != 0;
	int64_t n;
	void *dst;

	if (len == 0 || (off & ~PAGE_MASK) != 0 ||
	    (prot & ~(uint64_t)PROT_ALL) != 0)
		return -EINVAL;
	/* MAP_FIXED may replace mapped pages: gm_map() counts exactly. */
	if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
	    gm_over_limit(vm, len))
		return -ENOMEM;
	if (len > vm->memsize)
		return -ENOMEM;
	if (off > (uint64_t)INT64_MAX - len)
		return -EOVERFLOW;
	if (type != MAP_SHARED && type != MAP_PRIVATE &&
	    type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	len = pgup(len);
	/*
	 * Files are never written back: a shared writable mapping of one
	 * cannot be honoured (image files are read-only, as Linux says with
	 * EACCES for a file opened O_RDONLY).
	 */
	if (!anon && type != MAP_PRIVATE && (prot & PROT_WRITE))
		return -EACCES;
	if (!anon && (n = fs_mappable(vm, fd)) != 0)
		return n;

	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if ((addr & ~PAGE_MASK) != 0)
			return -EINVAL;
		if (!gm_range_ok(vm, addr, len))
			return -ENOMEM;
		if (!gm_is_free(vm, addr, len)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return -EEXIST;
			gm_unmap(vm, addr, len);
		}
	} else if (addr != 0 && (addr & ~PAGE_MASK) == 0 &&
	    gm_range_ok(vm, addr, len) && addr >= vm->brk_max &&
	    gm_is_free(vm, addr, len)) {
		/* The hint is free: take it, as Linux does. */
	} else if ((addr = gm_find_free(vm, len)) == 0)
		return -ENOMEM;

	if (gm_map(vm, addr, len, pgprot(prot)) != 0)
		return -ENOMEM;
	if (!anon) {
		/* The file's bytes are copied in: a private snapshot. */
		dst = vm->mem + addr;	/* mapped just above, range checked */
		n = fs_pread_host(vm, fd, dst, len, off);
		if (n < 0) {
			gm_unmap(vm, addr, len);
			return n;
		}
	}
	return (int64_t)addr;
}

static int64_t
sys_brk(struct vm *vm, uint64_t want)
{
	uint64_t cur = pgup(vm->brk_cur), next;

	/* brk(2): on failure the current break is returned unchanged. */
	if (want < vm->brk_start || want > vm->brk_max)
		return (int64_t)vm->brk_cur;
	next = pgup(want);
	if (next > cur) {
		if (!gm_is_free(vm, cur, next - cur) ||
		    gm_map(vm, cur, next - cur, PG_READ | PG_WRITE) != 0)
			return (int64_t)vm->brk_cur;
	} else if (next < cur)
		gm_unmap(vm, next, cur - next);
	vm->brk_cur = want;
	return (int64_t)want;
}

static int64_t
sys_mremap(struct vm *vm, const uint64_t a[6])
{
	uint64_t old = a[0], olen, nlen, na;
	int prot;

	if ((old & ~PAGE_MASK) != 0 || pglen(a[1], &olen) != 0 ||
	    pglen(a[2], &nlen) != 0 ||
	    (a[3] & ~(uint64_t)MREMAP_MAYMOVE) != 0)
		return -EINVAL;
	if (nlen > olen && gm_over_limit(vm, nlen - olen))
		return -ENOMEM;
	if (nlen > vm->memsize)
		return -ENOMEM;
	if (gm_ptr(vm, old, olen, 0) == NULL)
		return -EFAULT;
	if (nlen <= olen) {
		if (nlen < olen)
			gm_unmap(vm, old + nlen, olen - nlen);
		return (int64_t)old;
	}
	prot = vm->pages[old / PAGE_SIZE] & (PG_READ | PG_WRITE | PG_EXEC);
	if (gm_range_ok(vm, old + olen, nlen - olen) &&
	    gm_is_free(vm, old + olen, nlen - olen)) {
		if (gm_map(vm, old + olen, nlen - olen, prot) != 0)
			return -ENOMEM;
		return (int64_t)old;
	}
	if (!(a[3] & MREMAP_MAYMOVE))
		return -ENOMEM;
	if ((na = gm_find_free(vm, nlen)) == 0 ||
	    gm_map(vm, na, nlen, prot) != 0)
		return -ENOMEM;
	memcpy(vm->mem + na, vm->mem + old, olen);
	gm_unmap(vm, old, olen);
	return (int64_t)na;
}

/* The NUMA policies and flags of <linux/mempolicy.h>. */
#define MPOL_DEFAULT		0
#define MPOL_PREFERRED		1
#define MPOL_BIND		2
#define MPOL_LOCAL		4
#define MPOL_MAX		7	/* MPOL_WEIGHTED_INTERLEAVE + 1 */
#define MPOL_F_NUMA_BALANCING	(1U << 13)
#define MPOL_F_RELATIVE_NODES	(1U << 14)
#define MPOL_F_STATIC_NODES	(1U << 15)
#define MPOL_MF_STRICT		(1U << 0)
#define MPOL_MF_MOVE		(1U << 1)
#define MPOL_MF_MOVE_ALL	(1U << 2)
#define NODEMASK_MAX_BITS	(PAGE_SIZE * 8)	/* Linux's cap on maxnode */
#define NUMNODES_MAX		1024	/* Debian's kernels' MAX_NUMNODES */

/*
 * mbind(2).  The guest has one NUMA node, node 0, which holds all its
 * memory, so every policy Linux would accept places memory where it
 * already is and there is nothing to record: what is left is Linux's
 * checks and errors, in its order (mm/mempolicy.c: sanitize_mpol_flags,
 * get_nodes, do_mbind, mpol_new), so that a program sees what it would
 * see on a one-node machine.
 */
static int64_t
sys_mbind(struct vm *vm, const uint64_t a[6])
{
	uint64_t start = a[0], len, mode, flags = a[5], maxnode = a[4];
	uint64_t mask[NODEMASK_MAX_BITS / 64], nwords, i;
	int node0 = 0, others = 0;

	mode = a[2] & ~(uint64_t)(MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES |
	    MPOL_F_NUMA_BALANCING);
	/* The mode is an int to Linux: the upper half of the register goes. */
	mode = (uint32_t)mode;
	if (mode >= MPOL_MAX ||
	    ((a[2] & MPOL_F_STATIC_NODES) && (a[2] & MPOL_F_RELATIVE_NODES)) ||
	    ((a[2] & MPOL_F_NUMA_BALANCING) && mode != MPOL_BIND))
		return -EINVAL;
	/*
	 * The node mask, a guest pointer and a bit count: maxnode - 1 bits,
	 * at most a page of them, read whole words at a time as Linux reads
	 * them, through the accessor.
	 */
	if (maxnode > 0)
		maxnode--;
	if (maxnode != 0 && a[3] != 0) {
		if (maxnode > NODEMASK_MAX_BITS)
			return -EINVAL;
		nwords = (maxnode + 63) / 64;
		if (gm_copyin(vm, mask, a[3], nwords * 8) != 0)
			return -EFAULT;
		if (maxnode % 64 != 0)
			mask[nwords - 1] &= (1ULL << (maxnode % 64)) - 1;
		for (i = 0; i < nwords; i++) {
			if (mask[i] == 0)
				continue;
			/* Bits past MAX_NUMNODES are EINVAL to Linux. */
			if (i >= NUMNODES_MAX / 64)
				return -EINVAL;
			if (i == 0 && (mask[0] & 1))
				node0 = 1;
			if (mask[i] & (i == 0 ? ~1ULL : ~0ULL))
				others = 1;
		}
	}
	if (flags & ~(uint64_t)(MPOL_MF_STRICT | MPOL_MF_MOVE |
	    MPOL_MF_MOVE_ALL))
		return -EINVAL;
	/* MPOL_MF_MOVE_ALL needs CAP_SYS_NICE, which the guest has not. */
	if (flags & MPOL_MF_MOVE_ALL)
		return -EPERM;
	if ((start & ~PAGE_MASK) != 0)
		return -EINVAL;
	if (a[1] > UINT64_MAX - (PAGE_SIZE - 1))
		return -EINVAL;
	len = pgup(a[1]);
	if (start > UINT64_MAX - len)
		return -EINVAL;
	if (len == 0)
		return 0;
	/*
	 * mpol_new(): the default takes no nodes; an empty mask is the local
	 * node for MPOL_PREFERRED and an error for the rest; local takes no
	 * nodes.  Then the nodes are those with memory, node 0 alone here,
	 * onto which relative node numbers fold.
	 */
	if (mode == MPOL_DEFAULT) {
		if (node0 || others)
			return -EINVAL;
	} else if (mode == MPOL_LOCAL) {
		if (node0 || others || (a[2] & (MPOL_F_STATIC_NODES |
		    MPOL_F_RELATIVE_NODES)))
			return -EINVAL;
	} else if (!node0 && !others) {
		if (mode != MPOL_PREFERRED || (a[2] & (MPOL_F_STATIC_NODES |
		    MPOL_F_RELATIVE_NODES)))
			return -EINVAL;
	} else if (!node0 && !(a[2] & MPOL_F_RELATIVE_NODES))
		return -EINVAL;
	/* The whole range must be mapped: a hole is EFAULT. */
	if (gm_ptr(vm, start, len, 0) == NULL)
		return -EFAULT;
	return 0;
}

int64_t
sys_mem(struct vm *vm, int nr, const uint64_t a[6], int *handled)
{
	uint64_t len;

	*handled = 1;
	switch (nr) {
	case __NR_mmap:
		return sys_mmap(vm, a);
	case __NR_munmap:
		return sys_munmap(vm, a[0], a[1]);
	case __NR_mprotect:
		if ((a[0] & ~PAGE_MASK) != 0 ||
		    (a[2] & ~(uint64_t)(PROT_ALL | PROT_GROWSDOWN |
		    PROT_GROWSUP)) != 0)
			return -EINVAL;
		if (a[1] == 0)
			return 0;
		if (pglen(a[1], &len) != 0 || a[0] > UINT64_MAX - len)
			return -ENOMEM;
		return gm_protect(vm, a[0], len, pgprot(a[2]));
	case __NR_madvise:
		return sys_madvise(vm, a[0], a[1], a[2]);
	case __NR_brk:
		return sys_brk(vm, a[0]);
	case __NR_mremap:
		return sys_mremap(vm, a);
	case __NR_mbind:
		return sys_mbind(vm, a);
	}
	*handled = 0;
	return -ENOSYS;
}
