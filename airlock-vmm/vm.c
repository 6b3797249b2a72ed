/*
 * The virtual machine: KVM setup in 64-bit long mode, the guest's fixed
 * structures, and the run loop with one case per KVM exit.
 *
 * Only three kinds of guest code exist besides the program itself, all
 * written here as bytes:
 *
 *   - the syscall stub at LSTAR, user-mode and read-only:
 *	out %al,$PORT_SYSCALL; sysretq; ud2
 *     On PVM, `syscall` from CPL3 stays at CPL3 and the stub's `out` is
 *     allowed by the TSS I/O bitmap; the VMM then returns by setting RIP to
 *     RCX.  On hardware KVM, `syscall` enters CPL0, where `out` is always
 *     allowed; the VMM then lets the stub run on into `sysretq`.  The VMM
 *     tells the two apart by the CPL in the exit's CS, so both behaviours
 *     are handled architecturally.
 *   - one ring-0 handler per exception vector v, 8 bytes each:
 *	mov $(PORT_EXC_BASE + v),%dx; out %al,%dx; hlt
 *     The CPU switches to the kernel stack from the TSS and pushes the
 *     exception frame; the `out` exits to the VMM, which reads the frame
 *     and ends the run.  Nothing returns from an exception.
 *
 * Page tables, GDT, IDT, TSS and the kernel stack are mapped supervisor-
 * only, so the program cannot touch them: a write to them is a #PF, which
 * ends the run like SIGSEGV.  Nothing inside the guest is trusted anyway;
 * the only way out of the guest is an exit, and every exit is checked.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <linux/kvm.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

/* Page table entry bits. */
#define PTE_P		0x001ULL
#define PTE_W		0x002ULL
#define PTE_U		0x004ULL
#define PTE_A		0x020ULL
#define PTE_D		0x040ULL
#define PTE_PS		0x080ULL

#define CR0_PE		0x00000001ULL
#define CR0_MP		0x00000002ULL
#define CR0_ET		0x00000010ULL
#define CR0_NE		0x00000020ULL
#define CR0_WP		0x00010000ULL
#define CR0_PG		0x80000000ULL
#define CR4_PAE		0x00000020ULL
#define CR4_OSFXSR	0x00000200ULL
#define CR4_OSXMMEXCPT	0x00000400ULL
#define CR4_FSGSBASE	0x00010000ULL
#define CR4_OSXSAVE	0x00040000ULL
#define EFER_SCE	0x001ULL
#define EFER_LME	0x100ULL
#define EFER_LMA	0x400ULL
#define EFER_NXE	0x800ULL

#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_CSTAR	0xc0000083
#define MSR_SFMASK	0xc0000084
#define MSR_FS_BASE	0xc0000100
#define MSR_GS_BASE	0xc0000101
#define MSR_KGS_BASE	0xc0000102

#define TSS_SIZE	104
#define IOBITMAP_SIZE	8192
#define TSS_LIMIT	(TSS_SIZE + IOBITMAP_SIZE)	/* with the 0xff byte */

/* RFLAGS bits the program may carry across a system call, as Linux's. */
#define RFLAGS_USER	0x00240dd5ULL	/* CF PF AF ZF SF TF DF OF AC ID */
#define RFLAGS_FIXED	0x00000202ULL	/* bit 1 and IF */

static struct vm *running_vm;

/* now_us() comes from lib/ (airlock.h). */

uint64_t
vm_host_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* The guest's monotonic clock: the time since the VM started. */
uint64_t
vm_mono_ns(struct vm *vm)
{
	return vm_host_mono_ns() - vm->mono_off;
}

/*
 * The run ends: outcome, the exit status or the signal, and for a killed
 * run why (enum kill_reason; NO_KILL otherwise), in lib/record.h's terms.
 */
void
vm_end(struct vm *vm, enum outcome o, int code, int kill, const char *fmt,
    ...)
{
	va_list ap;

	/* The first end wins: a run ends once. */
	if (vm->state != VM_RUNNING)
		return;
	vm->state = VM_ENDED;
	vm->outcome = o;
	if (o == OUTCOME_EXITED)
		vm->exit_code = code;
	else
		vm->signal = code;
	vm->kill = kill;
	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
}

/* -S: the program is about to read its payload; the VM is saved here. */
void
vm_snapshot_point(struct vm *vm)
{
	if (vm->state != VM_RUNNING)
		return;
	vm->state = VM_SNAPSHOT;
	snprintf(vm->reason, sizeof(vm->reason), "blocked reading its "
	    "payload");
}

static void
build_tables(struct vm *vm)
{
	uint64_t *pml4, *pdpt, *pd, *pt, *gdt, *idt, v, h, tss_lim;
	uint8_t *tss, *hnd, *stub;
	uint64_t ngb, i;

	pml4 = (uint64_t *)(vm->mem + GPA_PML4);
	pdpt = (uint64_t *)(vm->mem + GPA_PDPT);
	pt = (uint64_t *)(vm->mem + GPA_PT0);
	ngb = (vm->memsize + (1ULL << 30) - 1) >> 30;

	/*
	 * The upper levels carry U so that the leaf decides; the leaves for
	 * program memory are 2 MiB, user, writable and executable (the
	 * VMM tracks protections in its own map, mem.c says why).
	 */
	pml4[0] = GPA_PDPT | PTE_P | PTE_W | PTE_U | PTE_A;
	for (i = 0; i < ngb; i++)
		pdpt[i] = (GPA_PD + i * PAGE_SIZE) | PTE_P | PTE_W | PTE_U |
		    PTE_A;
	for (i = 0; i < vm->memsize / HUGE_SIZE; i++) {
		pd = (uint64_t *)(vm->mem + GPA_PD) + i;
		if (i == 0)
			*pd = GPA_PT0 | PTE_P | PTE_W | PTE_U | PTE_A;
		else
			*pd = (i * HUGE_SIZE) | PTE_P | PTE_W | PTE_U |
			    PTE_PS | PTE_A | PTE_D;
	}
	/* First 2 MiB: page 0 absent, structures supervisor, stub user RX. */
	for (v = PAGE_SIZE; v < GPA_STUB; v += PAGE_SIZE)
		pt[v / PAGE_SIZE] = v | PTE_P | PTE_W | PTE_A | PTE_D;
	pt[GPA_STUB / PAGE_SIZE] = GPA_STUB | PTE_P | PTE_U | PTE_A;

	/* GDT: Linux's layout, so selectors look familiar in dumps. */
	gdt = (uint64_t *)(vm->mem + GPA_GDT);
	gdt[SEL_KCODE >> 3] = 0x00af9b000000ffffULL;
	gdt[SEL_KDATA >> 3] = 0x00cf93000000ffffULL;
	gdt[SEL_UDATA >> 3] = 0x00cff3000000ffffULL;
	gdt[SEL_UCODE >> 3] = 0x00affb000000ffffULL;
	tss_lim = TSS_LIMIT;
	gdt[SEL_TSS >> 3] = (tss_lim & 0xffff) | ((GPA_TSS & 0xffffff) << 16) |
	    (0x89ULL << 40) | (((tss_lim >> 16) & 0xf) << 48) |
	    (((GPA_TSS >> 24) & 0xff) << 56);
	gdt[(SEL_TSS >> 3) + 1] = GPA_TSS >> 32;

	/*
	 * TSS: RSP0 for exceptions from CPL3, and an I/O bitmap that opens
	 * exactly one port, the syscall port, to CPL3 (IOPL stays 0, so
	 * cli/sti/hlt remain privileged).
	 */
	tss = vm->mem + GPA_TSS;
	v = GPA_KSTACK_TOP;
	memcpy(tss + 4, &v, 8);
	tss[102] = TSS_SIZE & 0xff;
	tss[103] = TSS_SIZE >> 8;
	memset(tss + TSS_SIZE, 0xff, IOBITMAP_SIZE + 1);
	tss[TSS_SIZE + PORT_SYSCALL / 8] &= ~(1 << (PORT_SYSCALL % 8));

	/*
	 * IDT: one interrupt gate per vector, to its handler.  DPL 0, so
	 * that `int $n` from CPL3 is #GP, except for #BP, which Linux also
	 * opens to user mode: `int3` then reaches its handler as #BP and
	 * ends the run like SIGTRAP, as it would under Linux.
	 */
	idt = (uint64_t *)(vm->mem + GPA_IDT);
	hnd = vm->mem + GPA_HANDLERS;
	for (i = 0; i < 256; i++) {
		h = GPA_HANDLERS + i * 8;
		idt[2 * i] = (h & 0xffff) | ((uint64_t)SEL_KCODE << 16) |
		    ((i == 3 ? 0xeeULL : 0x8eULL) << 40) |
		    (((h >> 16) & 0xffff) << 48);
		idt[2 * i + 1] = h >> 32;
		hnd[i * 8 + 0] = 0x66;		/* mov $port,%dx */
		hnd[i * 8 + 1] = 0xba;
		hnd[i * 8 + 2] = (PORT_EXC_BASE + i) & 0xff;
		hnd[i * 8 + 3] = (PORT_EXC_BASE + i) >> 8;
		hnd[i * 8 + 4] = 0xee;		/* out %al,%dx */
		hnd[i * 8 + 5] = 0xf4;		/* hlt: never resumed */
		hnd[i * 8 + 6] = 0xf4;
		hnd[i * 8 + 7] = 0xf4;
	}

	stub = vm->mem + GPA_STUB;
	stub[0] = 0xe6;				/* out %al,$PORT_SYSCALL */
	stub[1] = PORT_SYSCALL;
	stub[2] = 0x48;				/* sysretq (CPL0 only) */
	stub[3] = 0x0f;
	stub[4] = 0x07;
	stub[5] = 0x0f;				/* ud2 */
	stub[6] = 0x0b;
}

static void
seg(struct kvm_segment *s, uint16_t sel, int code, int dpl)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->present = 1;
	s->dpl = dpl;
	s->s = 1;
	s->g = 1;
	if (code) {
		s->type = 11;		/* execute/read, accessed */
		s->l = 1;
	} else {
		s->type = 3;		/* read/write, accessed */
		s->db = 1;
	}
}

static int
set_cpu(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct {
		struct kvm_msrs		hdr;
		struct kvm_msr_entry	e[7];
	} msrs;
	uint64_t xcr0 = 0x3;
	uint32_t i, nent = 256;
	int rc = -1;

	/*
	 * CPUID: what KVM supports.  (On PVM, CPL3 `cpuid` is not
	 * intercepted and the program sees the host's values; this table
	 * matters on hardware KVM.)  The XCR0 the program will find with
	 * xgetbv must match the features CPUID advertises, or glibc's
	 * AVX/AVX-512 string functions fault: take leaf 0xD's mask.
	 */
	cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
	if (cpuid == NULL)
		return -1;
	cpuid->nent = nent;
	if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == -1) {
		warn("KVM_GET_SUPPORTED_CPUID");
		goto out_cpuid;
	}
	for (i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0xd &&
		    cpuid->entries[i].index == 0)
			xcr0 = cpuid->entries[i].eax |
			    ((uint64_t)cpuid->entries[i].edx << 32);
	if (ioctl(vm->vcpufd, KVM_SET_CPUID2, cpuid) == -1) {
		warn("KVM_SET_CPUID2");
		goto out_cpuid;
	}

	if (ioctl(vm->vcpufd, KVM_GET_SREGS, &sregs) == -1) {
		warn("KVM_GET_SREGS");
		goto out_cpuid;
	}
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = GPA_PML4;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE |
	    CR4_FSGSBASE;
	sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	seg(&sregs.cs, SEL_UCODE, 1, 3);
	seg(&sregs.ss, SEL_UDATA, 0, 3);
	seg(&sregs.ds, SEL_UDATA, 0, 3);
	seg(&sregs.es, SEL_UDATA, 0, 3);
	seg(&sregs.fs, SEL_UDATA, 0, 3);
	seg(&sregs.gs, SEL_UDATA, 0, 3);
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.base = GPA_TSS;
	sregs.tr.limit = TSS_LIMIT;
	sregs.tr.type = 11;		/* 64-bit TSS, busy */
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.unusable = 1;
	sregs.gdt.base = GPA_GDT;
	sregs.gdt.limit = 10 * 8 - 1;
	sregs.idt.base = GPA_IDT;
	sregs.idt.limit = 256 * 16 - 1;
	if (ioctl(vm->vcpufd, KVM_SET_SREGS, &sregs) == -1) {
		warn("KVM_SET_SREGS");
		goto out_cpuid;
	}

	/*
	 * STAR: syscall enters CS 0x10 / SS 0x18, sysretq returns to CS
	 * 0x33 / SS 0x2b.  LSTAR: the stub.  SFMASK: Linux's, which clears
	 * TF, DF, IF, IOPL, NT and AC on entry.
	 */
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 7;
	msrs.e[0].index = MSR_STAR;
	msrs.e[0].data = (0x23ULL << 48) | ((uint64_t)SEL_KCODE << 32);
	msrs.e[1].index = MSR_LSTAR;
	msrs.e[1].data = GPA_STUB;
	msrs.e[2].index = MSR_CSTAR;
	msrs.e[2].data = GPA_STUB;
	msrs.e[3].index = MSR_SFMASK;
	msrs.e[3].data = 0x47700;
	msrs.e[4].index = MSR_FS_BASE;
	msrs.e[5].index = MSR_GS_BASE;
	msrs.e[6].index = MSR_KGS_BASE;
	if (ioctl(vm->vcpufd, KVM_SET_MSRS, &msrs) != 7) {
		warnx("KVM_SET_MSRS: not all MSRs set");
		goto out_cpuid;
	}

	memset(&xcrs, 0, sizeof(xcrs));
	xcrs.nr_xcrs = 1;
	xcrs.xcrs[0].xcr = 0;
	xcrs.xcrs[0].value = xcr0;
	if (ioctl(vm->vcpufd, KVM_SET_XCRS, &xcrs) == -1) {
		warn("KVM_SET_XCRS 0x%llx", (unsigned long long)xcr0);
		goto out_cpuid;
	}
	rc = 0;
out_cpuid:
	free(cpuid);
	return rc;
}

/*
 * Create the VM.  With memfd -1 its memory is fresh and the fixed
 * structures are built here; otherwise it is the snapshot memory in memfd
 * at mem_off, mapped copy-on-write, structures and all (snap.c then puts
 * the vCPU back as it was).
 */
int
vm_create(struct vm *vm, uint64_t memsize, int memfd, uint64_t mem_off)
{
	struct kvm_userspace_memory_region region;
	int n;

	if (memsize < 16 * HUGE_SIZE || memsize % HUGE_SIZE != 0 ||
	    memsize > (uint64_t)MEM_MAX_GB << 30) {
		warnx("guest memory must be 32 MiB to %d GiB in 2 MiB steps",
		    MEM_MAX_GB);
		return -1;
	}
	vm->memsize = memsize;
	vm->vmfd = vm->vcpufd = -1;
	vm->mono_off = vm_host_mono_ns();
	if ((vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1) {
		warn("open /dev/kvm");
		return -1;
	}
	if (ioctl(vm->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		warnx("/dev/kvm: unexpected API version");
		goto fail;
	}
	/*
	 * The sync-register area saves two ioctls per system call; the run
	 * loop depends on it.
	 */
	n = ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (n <= 0 || (n & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
	    (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
		warnx("/dev/kvm: no KVM_CAP_SYNC_REGS");
		goto fail;
	}
	if ((vm->vmfd = ioctl(vm->kvm, KVM_CREATE_VM, 0)) == -1) {
		warn("KVM_CREATE_VM");
		goto fail;
	}
	/*
	 * Guest memory: private, reserved lazily, so an unused gigabyte
	 * costs nothing.  Only this VM ever sees its writes: a snapshot's
	 * pages are shared with the other VMs of the snapshot until written.
	 */
	if (memfd < 0)
		vm->mem = mmap(NULL, memsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	else
		vm->mem = mmap(NULL, memsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_NORESERVE, memfd, (off_t)mem_off);
	vm->snapbacked = memfd >= 0;
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		warn("mmap guest memory");
		goto fail;
	}
	if ((vm->pages = calloc(memsize / PAGE_SIZE, 1)) == NULL) {
		warn("calloc");
		goto fail;
	}
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = memsize;
	region.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
	if (ioctl(vm->vmfd, KVM_SET_USER_MEMORY_REGION, &region) == -1) {
		warn("KVM_SET_USER_MEMORY_REGION");
		goto fail;
	}
	if ((vm->vcpufd = ioctl(vm->vmfd, KVM_CREATE_VCPU, 0)) == -1) {
		warn("KVM_CREATE_VCPU");
		goto fail;
	}
	if ((n = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0) {
		warn("KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	vm->runsize = (size_t)n;
	vm->run = mmap(NULL, vm->runsize, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm->vcpufd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		warn("mmap kvm_run");
		goto fail;
	}
	if (memfd < 0)
		build_tables(vm);
	if (set_cpu(vm) == -1)
		goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

void
vm_destroy(struct vm *vm)
{
	if (vm->run != NULL)
		munmap(vm->run, vm->runsize);
	if (vm->vcpufd != -1)
		close(vm->vcpufd);
	if (vm->vmfd != -1)
		close(vm->vmfd);
	if (vm->mem != NULL)
		munmap(vm->mem, vm->memsize);
	free(vm->pages);
	if (vm->kvm != -1)
		close(vm->kvm);
	vm->run = NULL;
	vm->mem = NULL;
	vm->pages = NULL;
	vm->vcpufd = vm->vmfd = vm->kvm = -1;
}

int
vm_start(struct vm *vm, uint64_t rip, uint64_t rsp)
{
	struct kvm_regs regs;

	/*
	 * The program starts at CPL3 with the System V process entry state:
	 * RSP at argc, RDX 0 (no atexit function from a kernel), all else 0.
	 */
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rflags = RFLAGS_FIXED;
	if (ioctl(vm->vcpufd, KVM_SET_REGS, &regs) == -1) {
		warn("KVM_SET_REGS");
		return -1;
	}
	return 0;
}

int
vm_set_fsbase(struct vm *vm, uint64_t base)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpufd, KVM_GET_SREGS, &sregs) == -1)
		return -1;
	sregs.fs.base = base;
	return ioctl(vm->vcpufd, KVM_SET_SREGS, &sregs);
}

uint64_t
vm_get_fsbase(struct vm *vm)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpufd, KVM_GET_SREGS, &sregs) == -1)
		return 0;
	return sregs.fs.base;
}

static int
canonical(uint64_t a)
{
	return a < 0x0000800000000000ULL || a >= 0xffff800000000000ULL;
}

/* Vectors for which the CPU pushes an error code. */
static int
has_errcode(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	    v == 29 || v == 30;
}

static const char *const excname[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO",
	"#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM",
	"#VE", "#CP", "22", "23", "24", "25", "26", "27", "#HV", "#VC", "#SX",
	"31",
};

/* The signal Linux would send for an exception from user mode. */
static int
exc_signal(int v)
{
	switch (v) {
	case 0: case 16: case 19:
		return SIGFPE;
	case 1: case 3:
		return SIGTRAP;
	case 6:
		return SIGILL;
	case 7:
		return SIGFPE;
	case 11: case 12: case 17:
		return SIGBUS;
	default:
		return SIGSEGV;
	}
}

/*
 * An exception reached ring-0 handler v.  The frame the CPU pushed is on
 * the kernel stack, found through the guest's RSP, so it is read through
 * the checked accessor for the VMM's own memory.
 */
static void
exception(struct vm *vm, int v, struct kvm_regs *r, struct kvm_sregs *s)
{
	const uint64_t *f;
	uint64_t err = 0, rip, args[6];
	const uint8_t *insn;
	char why[160];
	size_t n = has_errcode(v) ? 6 : 5;

	if ((f = gm_sys(vm, r->rsp, n * 8)) == NULL) {
		vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
		    "exception %d with a bad kernel stack 0x%llx", v,
		    (unsigned long long)r->rsp);
		return;
	}
	if (has_errcode(v))
		err = *f++;
	rip = f[0];

	/*
	 * An i386 system call (int $0x80) is a violation, however the CPU
	 * reports it: delivered to vector 0x80, as #GP with the IDT index
	 * of 0x80 (hardware: the gate's DPL is 0), or as #UD at an `int
	 * $0x80` instruction (PVM).  The instruction bytes are guest memory.
	 */
	insn = gm_ptr(vm, rip, 2, 0);
	if (v == 0x80 || (v == 13 && err == ((0x80 << 3) | 2)) ||
	    (v == 6 && insn != NULL && insn[0] == 0xcd && insn[1] == 0x80)) {
		memset(args, 0, sizeof(args));
		args[0] = r->rbx;
		args[1] = r->rcx;
		args[2] = r->rdx;
		sys_violation(vm, (int)(r->rax & 0x7fffffff), NULL,
		    FAMILY_FOREIGN_ABI, ABI_I386, args);
		return;
	}
	if (v == 14)
		snprintf(why, sizeof(why), "#PF at rip 0x%llx error 0x%llx "
		    "address 0x%llx", (unsigned long long)rip,
		    (unsigned long long)err, (unsigned long long)s->cr2);
	else if (v < 32 && has_errcode(v))
		snprintf(why, sizeof(why), "%s at rip 0x%llx error 0x%llx",
		    excname[v], (unsigned long long)rip,
		    (unsigned long long)err);
	else if (v < 32)
		snprintf(why, sizeof(why), "%s at rip 0x%llx", excname[v],
		    (unsigned long long)rip);
	else
		snprintf(why, sizeof(why),
		    "int 0x%x at rip 0x%llx", v, (unsigned long long)rip);
	sys_signal_end(vm, v < 32 ? exc_signal(v) : SIGSEGV, why);
}

/*
 * A system call from the stub.  Registers come from the sync area; the
 * result goes back in RAX, and the return path depends on where the stub
 * ran (see the top of this file).
 */
static void
syscall_exit(struct vm *vm)
{
	struct kvm_regs *r = &vm->run->s.regs.regs;
	struct kvm_sregs *s = &vm->run->s.regs.sregs;
	uint64_t flags;

	/*
	 * Building a snapshot: keep the registers as the call left the
	 * guest, so that a restored VM can make the same call again (the
	 * read of stdin that stopped us) with its payload there to read.
	 */
	if (vm->snap_mode) {
		vm->pend_regs = *r;
		vm->pend_sregs = *s;
	}
	sys_dispatch(vm, r);
	if (vm->state != VM_RUNNING)
		return;
	/* R11 is guest-controlled: keep only flags a program may set. */
	flags = (r->r11 & RFLAGS_USER) | RFLAGS_FIXED;
	if ((s->cs.selector & 3) == 3) {
		/* PVM: still at CPL3, return directly. */
		r->rip = r->rcx;
		r->rflags = flags;
	} else {
		/*
		 * Hardware: at CPL0 in the stub; sysretq follows and loads
		 * RIP from RCX and RFLAGS from R11.  A non-canonical RCX
		 * would fault in ring 0; only a guest that jumped into the
		 * stub can have one, and it ends here.
		 */
		if (!canonical(r->rcx)) {
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "non-canonical return address 0x%llx",
			    (unsigned long long)r->rcx);
			return;
		}
		r->r11 = flags;
	}
	vm->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	vdso_update(vm);
}

static void
on_alarm(int sig)
{
	if (running_vm != NULL) {
		if (sig == SIGXCPU)
			running_vm->cpu_out = 1;
		else
			running_vm->timed_out = 1;
		/* Makes the current or the next KVM_RUN return at once. */
		running_vm->run->immediate_exit = 1;
	}
}

/*
 * The limit timers, made before the jail, which allows only setting them:
 * one on the wall clock (SIGALRM) and one on this process's CPU time
 * (SIGXCPU).  Their signals interrupt KVM_RUN from outside, however the
 * guest spins.
 */
int
vm_timers(struct vm *vm)
{
	struct sigaction sa;
	struct sigevent sev;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(SIGALRM, &sa, NULL) == -1 ||
	    sigaction(SIGXCPU, &sa, NULL) == -1)
		return -1;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	if (timer_create(CLOCK_MONOTONIC, &sev, &vm->timer) == -1)
		return -1;
	vm->have_timer = 1;
	sev.sigev_signo = SIGXCPU;
	if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &vm->cputimer) == -1)
		return -1;
	vm->have_cputimer = 1;
	return 0;
}

static int
settimer(timer_t t, uint64_t ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	return timer_settime(t, 0, &its, NULL);
}

/* Start the clocks of the run's limits: wall_ms and cpu_ms (0: none). */
int
vm_arm(struct vm *vm)
{
	running_vm = vm;
	if (vm->wall_ms != 0 && (!vm->have_timer ||
	    settimer(vm->timer, vm->wall_ms) == -1))
		return -1;
	if (vm->cpu_ms != 0 && (!vm->have_cputimer ||
	    settimer(vm->cputimer, vm->cpu_ms) == -1))
		return -1;
	return 0;
}

/*
 * Page faults this process has taken: KVM faults a guest page in through
 * the VMM's own page tables on the guest's first touch of it, so during
 * a run these are the guest's first touches, and the few of the VMM.
 */
static uint64_t
faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

int
vm_run(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	int port;

	running_vm = vm;
	run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	vm->faults = faults();
	vm->start_us = now_us();
	vdso_update(vm);
	if (vm->resume) {
		/*
		 * A restored snapshot: finish the call it stopped in.  Its
		 * registers are as that exit left them, RIP on the stub's
		 * `out`.  KVM steps past a port-I/O instruction only while
		 * that exit is pending on the vCPU, and this vCPU is new, so
		 * the guest would run the `out` again with RAX = the result,
		 * a second system call named by the payload's length.  Step
		 * past it here (on PVM, at CPL3, syscall_exit() returns to
		 * RCX anyway).
		 */
		vm->resume = 0;
		run->s.regs.regs = vm->pend_regs;
		run->s.regs.sregs = vm->pend_sregs;
		if (run->s.regs.regs.rip == GPA_STUB)
			run->s.regs.regs.rip = GPA_STUB + STUB_OUT_LEN;
		syscall_exit(vm);
	}
	while (vm->state == VM_RUNNING) {
		if (vm->timed_out) {
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_WALL_TIME,
			    "wall time limit of %llu ms",
			    (unsigned long long)vm->wall_ms);
			break;
		}
		if (vm->cpu_out) {
			vm_end(vm, OUTCOME_KILLED, SIGXCPU, KILL_CPU_TIME,
			    "CPU time limit of %llu ms",
			    (unsigned long long)vm->cpu_ms);
			break;
		}
		if (ioctl(vm->vcpufd, KVM_RUN, 0) == -1) {
			if (errno == EINTR) {
				run->immediate_exit = 0;
				continue;
			}
			vm_end(vm, OUTCOME_FAILED, 0, NO_KILL, "KVM_RUN: %s",
			    strerror(errno));
			break;
		}
		vm->nexits++;
		run->kvm_dirty_regs = 0;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			/*
			 * Port I/O: the only exits the guest is meant to
			 * make.  Direction, size and count are guest-chosen
			 * and checked before the port means anything.
			 */
			port = run->io.port;
			if (run->io.direction != KVM_EXIT_IO_OUT ||
			    run->io.size != 1 || run->io.count != 1) {
				vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
				    "unexpected I/O on port 0x%x", port);
			} else if (port == PORT_SYSCALL) {
				syscall_exit(vm);
			} else if (port >= PORT_EXC_BASE &&
			    port < PORT_EXC_BASE + 256) {
				exception(vm, port - PORT_EXC_BASE,
				    &run->s.regs.regs, &run->s.regs.sregs);
			} else {
				vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
				    "unexpected I/O on port 0x%x", port);
			}
			break;
		case KVM_EXIT_MMIO:
			/*
			 * No device exists; all mapped memory is in the one
			 * memslot, so only a guest that rewrote its page
			 * tables could get here.
			 */
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "MMIO access at 0x%llx",
			    (unsigned long long)run->mmio.phys_addr);
			break;
		case KVM_EXIT_HLT:
			/* Only a ring-0 handler's trailing hlt gets here. */
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "hlt in ring 0");
			break;
		case KVM_EXIT_SHUTDOWN:
			/* A triple fault: the guest broke its own CPU state. */
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "guest shutdown (triple fault)");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			/* KVM could not emulate something (PVM: ring 0). */
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "KVM internal error, suberror %u",
			    run->internal.suberror);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			/* The VMM set up an invalid state: our failure. */
			vm_end(vm, OUTCOME_FAILED, 0, NO_KILL,
			    "VM entry failed, reason 0x%llx",
			    (unsigned long long)
			    run->fail_entry.hardware_entry_failure_reason);
			break;
		default:
			/* Any other exit is unexpected and ends the VM. */
			vm_end(vm, OUTCOME_KILLED, SIGKILL, KILL_VIOLATION,
			    "unexpected exit reason %u", run->exit_reason);
			break;
		}
	}
	vm->run_us = now_us() - vm->start_us;
	vm->faults = faults() - vm->faults;
	if (vm->have_timer)
		timer_delete(vm->timer);
	if (vm->have_cputimer)
		timer_delete(vm->cputimer);
	vm->have_timer = vm->have_cputimer = 0;
	running_vm = NULL;
	return 0;
}
