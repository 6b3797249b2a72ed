/*
 * Snapshots of a VM (issue 6; airlock-image(5) says how they are built).
 *
 * A snapshot is taken at one point only: the program has initialised and
 * makes its first read of stdin, where its payload will be.  The state
 * saved is the vCPU as that call left the guest (registers, segment and
 * control registers, FPU/SSE/AVX state), guest memory, and this VMM's
 * emulation state: the page map, break, mmap area, signal actions and
 * mask, working directory and descriptor table.  A restored VM makes the
 * same read again, which now finds the payload.
 *
 * What the VMM reads back from a snapshot is checked as strictly as what
 * a guest hands it: the file's digest is checked before anything in it is
 * used (lib/snapfile.c), and then every field again here.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"
#include "vmm.h"

#define STATE_MAGIC	0x33544e53534d4c41ULL	/* "ALMSSNT3" */
#define XSAVE_MAX	16384

void
ser_put(struct ser *s, const void *p, size_t len)
{
	size_t ncap;
	uint8_t *nb;

	if (s->bad)
		return;
	if (s->len + len > s->cap) {
		ncap = s->cap ? s->cap : 65536;
		while (ncap < s->len + len)
			ncap *= 2;
		if ((nb = realloc(s->buf, ncap)) == NULL) {
			s->bad = 1;
			return;
		}
		s->buf = nb;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
}

void
ser_get(struct ser *s, void *p, size_t len)
{
	if (s->bad || len > s->len - s->off) {
		s->bad = 1;
		memset(p, 0, len);
		return;
	}
	memcpy(p, s->buf + s->off, len);
	s->off += len;
}

void
ser_putstr(struct ser *s, const char *str)
{
	uint32_t n = (uint32_t)strlen(str);

	ser_put(s, &n, sizeof(n));
	ser_put(s, str, n);
}

void
ser_getstr(struct ser *s, char *dst, size_t dstlen)
{
	uint32_t n;

	ser_get(s, &n, sizeof(n));
	if (s->bad || n >= dstlen) {
		s->bad = 1;
		dst[0] = '\0';
		return;
	}
	ser_get(s, dst, n);
	dst[n] = '\0';
	/* A NUL inside would make the string mean something else. */
	if (strlen(dst) != n)
		s->bad = 1;
}


/* The size of the vCPU's XSAVE area: KVM_CAP_XSAVE2 knows, else 4096. */
static int
xsave_size(struct vm *vm)
{
	int n = ioctl(vm->vmfd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n < (int)sizeof(struct kvm_xsave) ? (int)sizeof(struct kvm_xsave) :
	    n;
}

/*
 * The emulation's address space and signal state, in the one order both
 * snap_save (save) and snap_restore (!save) use.
 */
static void
addrspace(struct vm *vm, struct ser *s, int save)
{
	const struct {
		void	*p;
		size_t	 len;
	} f[] = {
		{ &vm->brk_start, sizeof(vm->brk_start) },
		{ &vm->brk_cur, sizeof(vm->brk_cur) },
		{ &vm->brk_max, sizeof(vm->brk_max) },
		{ &vm->mmap_top, sizeof(vm->mmap_top) },
		{ &vm->stack_lo, sizeof(vm->stack_lo) },
		{ &vm->vdso, sizeof(vm->vdso) },
		{ &vm->sigmask, sizeof(vm->sigmask) },
		{ vm->sigacts, sizeof(vm->sigacts) },
		{ &vm->umask, sizeof(vm->umask) },
		{ vm->pages, vm->memsize / PAGE_SIZE },
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (save)
			ser_put(s, f[i].p, f[i].len);
		else
			ser_get(s, f[i].p, f[i].len);
	}
}

int
snap_save(struct vm *vm, int fd, char *digest, char *err, size_t errlen)
{
	struct ser s = { 0 };
	struct kvm_xcrs xcrs;
	struct kvm_xsave *xs = NULL;
	uint64_t magic = STATE_MAGIC, pg, npages = vm->memsize / PAGE_SIZE;
	uint64_t mono = vm_mono_ns(vm);
	uint32_t xlen;
	uint8_t *keep = NULL;
	int rc = -1;

	if (vm->state != VM_SNAPSHOT)
		return errorf(err, errlen, "the program did not reach its "
		    "payload: %s", vm->reason);
	xlen = (uint32_t)xsave_size(vm);
	if (xlen > XSAVE_MAX || (xs = calloc(1, xlen)) == NULL)
		return errorf(err, errlen, "XSAVE area of %u bytes", xlen);
	if (ioctl(vm->vcpufd, xlen > sizeof(*xs) ? KVM_GET_XSAVE2 :
	    KVM_GET_XSAVE, xs) == -1 ||
	    ioctl(vm->vcpufd, KVM_GET_XCRS, &xcrs) == -1) {
		errorf(err, errlen, "reading the vCPU: %s", strerror(errno));
		goto out;
	}
	if (vm->out[0].bytes != 0 || vm->out[1].bytes != 0)
		fprintf(stderr, "airlock-vmm: warning: the snapshot's program "
		    "wrote %llu bytes before its payload; they are not part "
		    "of any run\n", (unsigned long long)(vm->out[0].bytes +
		    vm->out[1].bytes));

	ser_put(&s, &magic, sizeof(magic));
	ser_put(&s, &vm->memsize, sizeof(vm->memsize));
	ser_put(&s, &vm->pend_regs, sizeof(vm->pend_regs));
	ser_put(&s, &vm->pend_sregs, sizeof(vm->pend_sregs));
	ser_put(&s, &xlen, sizeof(xlen));
	ser_put(&s, xs, xlen);
	ser_put(&s, &xcrs, sizeof(xcrs));
	ser_put(&s, &mono, sizeof(mono));
	addrspace(vm, &s, 1);
	ser_putstr(&s, vm->execfn != NULL ? vm->execfn : "");
	if (fs_save(vm, &s) != 0) {
		errorf(err, errlen, "files open at the snapshot point cannot be "
		    "saved (a file in /tmp or /output?)");
		goto out;
	}
	if (s.bad) {
		errorf(err, errlen, "out of memory");
		goto out;
	}
	/*
	 * Memory: the fixed structures of the first 2 MiB and every page
	 * the program has mapped; free pages read as zeros anyway.
	 */
	if ((keep = calloc(npages, 1)) == NULL) {
		errorf(err, errlen, "out of memory");
		goto out;
	}
	for (pg = 0; pg < npages; pg++)
		keep[pg] = pg < GPA_USER / PAGE_SIZE ||
		    (vm->pages[pg] & PG_MAPPED);
	rc = snap_write(fd, vm->memsize, s.buf, s.len, vm->mem, keep,
	    digest, err, errlen);
out:
	free(keep);
	free(xs);
	free(s.buf);
	return rc;
}

int
snap_restore(struct vm *vm, int memfd, char *digest, char *err,
    size_t errlen)
{
	struct snapmem hdr;
	struct ser s = { 0 };
	struct kvm_xcrs xcrs;
	struct kvm_xsave *xs = NULL;
	uint64_t magic, memsize, mono;
	uint32_t xlen;
	char execfn[PATH_MAX];
	ssize_t n;
	int rc = -1;

	if (snap_check(memfd, &hdr, err, errlen) != 0)
		return -1;
	memcpy(digest, hdr.digest, sizeof(hdr.digest));
	if ((s.buf = malloc(hdr.state_len ? hdr.state_len : 1)) == NULL)
		return errorf(err, errlen, "out of memory");
	s.len = hdr.state_len;
	if ((n = pread(memfd, s.buf, s.len, SNAP_PAGE)) != (ssize_t)s.len) {
		errorf(err, errlen, "reading the snapshot state");
		goto out;
	}
	ser_get(&s, &magic, sizeof(magic));
	ser_get(&s, &memsize, sizeof(memsize));
	if (s.bad || magic != STATE_MAGIC || memsize != hdr.memsize) {
		errorf(err, errlen, "not a snapshot of this VMM");
		goto out;
	}
	if (vm_create(vm, memsize, memfd, hdr.mem_off) == -1) {
		errorf(err, errlen, "cannot create the VM");
		goto out;
	}
	ser_get(&s, &vm->pend_regs, sizeof(vm->pend_regs));
	ser_get(&s, &vm->pend_sregs, sizeof(vm->pend_sregs));
	ser_get(&s, &xlen, sizeof(xlen));
	if (s.bad || xlen < sizeof(*xs) || xlen > XSAVE_MAX ||
	    xlen != (uint32_t)xsave_size(vm) || (xs = calloc(1, xlen)) == NULL) {
		errorf(err, errlen, "the snapshot's XSAVE area (%u bytes) does "
		    "not fit this host's", xlen);
		goto out;
	}
	ser_get(&s, xs, xlen);
	ser_get(&s, &xcrs, sizeof(xcrs));
	/* The guest's clock goes on from where the snapshot left it. */
	ser_get(&s, &mono, sizeof(mono));
	vm->mono_off = vm_host_mono_ns() - mono;
	addrspace(vm, &s, 0);
	ser_getstr(&s, execfn, sizeof(execfn));
	if (s.bad || fs_restore(vm, &s) != 0 || s.off != s.len) {
		errorf(err, errlen, "bad VMM state in the snapshot");
		goto out;
	}
	/* The addresses the emulation will trust, checked once here. */
	if (vm->brk_start > vm->brk_cur || vm->brk_cur > vm->brk_max ||
	    vm->brk_max > memsize || vm->mmap_top > memsize ||
	    vm->stack_lo > memsize || vm->vdso > memsize - 2 * PAGE_SIZE ||
	    (vm->vdso != 0 && vm->vdso < GPA_USER) ||
	    vm->brk_start < GPA_USER || (vm->umask & ~0777U) != 0) {
		errorf(err, errlen, "bad address space in the snapshot");
		goto out;
	}
	/* What is mapped now is the snapshot's, not the run's. */
	gm_mark_base(vm);
	if ((vm->execfn = strdup(execfn)) == NULL) {
		errorf(err, errlen, "out of memory");
		goto out;
	}
	if (ioctl(vm->vcpufd, KVM_SET_SREGS, &vm->pend_sregs) == -1 ||
	    ioctl(vm->vcpufd, KVM_SET_REGS, &vm->pend_regs) == -1 ||
	    ioctl(vm->vcpufd, KVM_SET_XCRS, &xcrs) == -1 ||
	    ioctl(vm->vcpufd, KVM_SET_XSAVE, xs) == -1) {
		errorf(err, errlen, "restoring the vCPU: %s", strerror(errno));
		goto out;
	}
	vdso_restored(vm);
	vm->resume = 1;
	rc = 0;
out:
	free(xs);
	free(s.buf);
	return rc;
}
