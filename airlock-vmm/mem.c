/*
 * Guest memory: the one bounds-checked accessor and the guest's address
 * space map.
 *
 * Every guest pointer the VMM follows goes through gm_ptr() (or the
 * helpers built on it): a guest address and a length become a host
 * pointer only if the whole range lies inside guest program memory
 * (never the VMM's own structures below GPA_USER), the arithmetic cannot
 * wrap, and every page is mapped with the access asked for.  Anything else
 * is -EFAULT for the guest, never a crash of the VMM.
 *
 * The page tables are built once and never change (see vm.c): protections
 * live only here, in one byte per page.  The guest's mprotect() and
 * munmap() therefore change what system calls may do with a page, not
 * what the CPU lets the guest program do with it; that costs the program
 * some of its own hardening (RELRO, guard pages), never the sandbox any of
 * its.
 *
 * The run's memory limit counts the pages the run itself maps, as a
 * process sandbox's cgroup counts what its payload process allocates: in
 * a VM restored from a snapshot, the pages mapped at the snapshot point
 * (PG_BASE: the interpreter, its libraries, the preloaded modules) are
 * the snapshot's, shared copy-on-write by every VM of it, as a zygote's
 * memory is charged to the zygote and not to its forks.  A page the run
 * maps again (MAP_FIXED over it, or mremap() moving it) is the run's.
 */
#include <sys/mman.h>

#include <errno.h>
#include <string.h>

#include "vmm.h"

int
gm_range_ok(struct vm *vm, uint64_t gaddr, uint64_t len)
{
	/* Written so that no sum can wrap: len is checked first. */
	if (len > vm->memsize)
		return 0;
	if (gaddr < GPA_USER || gaddr > vm->memsize - len)
		return 0;
	return 1;
}

void *
gm_ptr(struct vm *vm, uint64_t gaddr, uint64_t len, int prot)
{
	uint64_t pg, last;

	/*
	 * No bytes: any user address will do, as for Linux's access_ok()
	 * (read(fd, NULL, 0) and getrandom(NULL, 0, 0) return 0).  The
	 * pointer is one that is never dereferenced for 0 bytes, and is
	 * valid all the same.
	 */
	if (len == 0)
		return gaddr < USER_TOP ? vm->mem + GPA_USER : NULL;
	if (!gm_range_ok(vm, gaddr, len))
		return NULL;
	last = (gaddr + len - 1) / PAGE_SIZE;
	for (pg = gaddr / PAGE_SIZE; pg <= last; pg++) {
		if (!(vm->pages[pg] & PG_MAPPED))
			return NULL;
		if ((vm->pages[pg] & prot) != prot)
			return NULL;
	}
	return vm->mem + gaddr;
}

int
gm_copyin(struct vm *vm, void *dst, uint64_t gaddr, uint64_t len)
{
	void *p;

	if ((p = gm_ptr(vm, gaddr, len, PG_READ)) == NULL)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int
gm_copyout(struct vm *vm, uint64_t gaddr, const void *src, uint64_t len)
{
	void *p;

	if ((p = gm_ptr(vm, gaddr, len, PG_WRITE)) == NULL)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

/*
 * Copy a NUL-terminated guest string into dst.  The string is read byte by
 * byte through the accessor, so it may end at the last mapped byte but not
 * run past it.  Returns 0, -EFAULT or -ENAMETOOLONG.
 */
int
gm_string(struct vm *vm, uint64_t gaddr, char *dst, size_t dstlen)
{
	const char *p;
	size_t i;

	for (i = 0; i < dstlen; i++) {
		if (gaddr > UINT64_MAX - i ||
		    (p = gm_ptr(vm, gaddr + i, 1, PG_READ)) == NULL)
			return -EFAULT;
		dst[i] = *p;
		if (*p == '\0')
			return 0;
	}
	return -ENAMETOOLONG;
}

/*
 * The VMM's own structures (page tables, GDT, IDT, TSS, kernel stack),
 * which the guest program cannot reach but which the VMM reads, for
 * example the exception frame the CPU pushed.  The address comes from a
 * guest register, so it is checked like any other.
 */
void *
gm_sys(struct vm *vm, uint64_t gaddr, uint64_t len)
{
	if (len > GPA_USER || gaddr > GPA_USER - len)
		return NULL;
	return vm->mem + gaddr;
}

/* The pages the run has mapped itself: see the top of this file. */
static uint64_t
run_pages(const struct vm *vm)
{
	return vm->mapped_pages - vm->base_pages;
}

int
gm_over_limit(struct vm *vm, uint64_t len)
{
	uint64_t pages = len / PAGE_SIZE + (len % PAGE_SIZE != 0);

	if (vm->mem_limit_pages == 0 ||
	    (run_pages(vm) <= vm->mem_limit_pages &&
	    pages <= vm->mem_limit_pages - run_pages(vm)))
		return 0;
	vm->mem_refused = 1;
	return 1;
}

/*
 * A VM restored from a snapshot: every page mapped now is the snapshot's,
 * and only bits this VMM sets are kept (the snapshot's digest was checked,
 * but a page's bits are still only bytes of it).
 */
void
gm_mark_base(struct vm *vm)
{
	uint64_t pg, npages = vm->memsize / PAGE_SIZE;

	vm->mapped_pages = vm->base_pages = 0;
	for (pg = 0; pg < npages; pg++) {
		vm->pages[pg] &= PG_MAPPED | PG_READ | PG_WRITE | PG_EXEC;
		if (vm->pages[pg] & PG_MAPPED) {
			vm->pages[pg] |= PG_BASE;
			vm->mapped_pages++;
			vm->base_pages++;
		}
	}
}

static int
page_span(struct vm *vm, uint64_t gaddr, uint64_t len, uint64_t *first,
    uint64_t *end)
{
	uint64_t hi;

	if (len == 0 || (gaddr & ~PAGE_MASK) != 0)
		return -EINVAL;
	if (len > vm->memsize)
		return -ENOMEM;
	hi = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!gm_range_ok(vm, gaddr, hi))
		return -ENOMEM;
	*first = gaddr / PAGE_SIZE;
	*end = (gaddr + hi) / PAGE_SIZE;
	return 0;
}

int
gm_map(struct vm *vm, uint64_t gaddr, uint64_t len, int prot)
{
	uint64_t pg, first, end, fresh = 0, base = 0;
	int e;

	if ((e = page_span(vm, gaddr, len, &first, &end)) != 0)
		return e;
	for (pg = first; pg < end; pg++) {
		if (!(vm->pages[pg] & PG_MAPPED))
			fresh++;
		else if (vm->pages[pg] & PG_BASE)
			base++;
	}
	/*
	 * The run's memory limit: pages the run has mapped, counted as
	 * Linux counts them against RLIMIT_AS, less the snapshot's (the top
	 * of this file says why); a snapshot page mapped again is the
	 * run's.  Hitting it is ENOMEM, which Python turns into MemoryError,
	 * and the run's verdict says why.
	 */
	if (vm->mem_limit_pages != 0 &&
	    run_pages(vm) + fresh + base > vm->mem_limit_pages) {
		vm->mem_refused = 1;
		return -ENOMEM;
	}
	vm->mapped_pages += fresh;
	vm->base_pages -= base;
	for (pg = first; pg < end; pg++)
		vm->pages[pg] = PG_MAPPED | (prot & (PG_READ | PG_WRITE |
		    PG_EXEC));
	return 0;
}

/*
 * Make guest pages read as zeros again and give their memory back.  For
 * private anonymous memory that is MADV_DONTNEED (KVM's MMU notifier
 * drops its shadow entries with it).  Memory restored from a snapshot is
 * a private mapping of the snapshot's file, where MADV_DONTNEED would
 * bring the snapshot's bytes back: there a fresh anonymous mapping
 * replaces the range instead.
 */
void
gm_zero(struct vm *vm, uint64_t gaddr, uint64_t len)
{
	void *p = vm->mem + gaddr;

	/*
	 * The vDSO's page is gone (unmapped, replaced, moved or cleared):
	 * the VMM stops writing its clock data there, which would land in
	 * whatever the guest put in its place.
	 */
	if (vm->vdso != 0 && gaddr < vm->vdso + PAGE_SIZE &&
	    vm->vdso < gaddr + len)
		vm->vdso = 0;

	if (!vm->snapbacked) {
		(void)madvise(p, len, MADV_DONTNEED);
		return;
	}
	if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		/* Cannot keep the promise of zeros: end the run. */
		vm_end(vm, OUTCOME_FAILED, 0, NO_KILL, "cannot clear guest memory");
}

/* Forget the pages; the next mapping of this range reads zeros. */
void
gm_unmap(struct vm *vm, uint64_t gaddr, uint64_t len)
{
	uint64_t pg, first, end;

	if (page_span(vm, gaddr, len, &first, &end) != 0)
		return;
	for (pg = first; pg < end; pg++)
		if (vm->pages[pg] & PG_MAPPED) {
			vm->mapped_pages--;
			if (vm->pages[pg] & PG_BASE)
				vm->base_pages--;
		}
	memset(vm->pages + first, 0, end - first);
	gm_zero(vm, first * PAGE_SIZE, (end - first) * PAGE_SIZE);
}

int
gm_protect(struct vm *vm, uint64_t gaddr, uint64_t len, int prot)
{
	uint64_t pg, first, end;
	int e;

	if ((e = page_span(vm, gaddr, len, &first, &end)) != 0)
		return e;
	for (pg = first; pg < end; pg++)
		if (!(vm->pages[pg] & PG_MAPPED))
			return -ENOMEM;
	/* Protections only: whose the page is stays as it was. */
	for (pg = first; pg < end; pg++)
		vm->pages[pg] = (vm->pages[pg] & PG_BASE) | PG_MAPPED |
		    (prot & (PG_READ | PG_WRITE | PG_EXEC));
	return 0;
}

int
gm_is_free(struct vm *vm, uint64_t gaddr, uint64_t len)
{
	uint64_t pg, end;

	if (page_span(vm, gaddr, len, &pg, &end) != 0)
		return 0;
	for (; pg < end; pg++)
		if (vm->pages[pg] & PG_MAPPED)
			return 0;
	return 1;
}

/*
 * A free range of len bytes for mmap() without a fixed address: the
 * highest one below mmap_top, as Linux searches top-down.  Returns 0 if
 * there is none (0 is never a valid guest program address).
 */
uint64_t
gm_find_free(struct vm *vm, uint64_t len)
{
	uint64_t need, run, pg, lo;

	if (len == 0 || len > vm->memsize)
		return 0;
	need = (len + PAGE_SIZE - 1) / PAGE_SIZE;
	lo = vm->brk_max / PAGE_SIZE;
	run = 0;
	for (pg = vm->mmap_top / PAGE_SIZE; pg > lo; pg--) {
		if (vm->pages[pg - 1] & PG_MAPPED) {
			run = 0;
			continue;
		}
		if (++run == need)
			return (pg - 1) * PAGE_SIZE;
	}
	return 0;
}
