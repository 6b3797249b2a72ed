/*
 * A VMM-provided vDSO: one page holding a minimal ELF shared object that
 * exports __vdso_clock_gettime, so that glibc reads CLOCK_REALTIME and
 * CLOCK_MONOTONIC with `rdtsc` at native speed instead of a 30 µs exit
 * (Python makes about a hundred such calls just to start).
 *
 * The function computes base_ns[clock] + ((tsc - base_tsc) * mult >> 32)
 * from a data block on the same page; every other clock falls back to
 * the `syscall` instruction, as Linux's vDSO does.  The VMM re-bases the
 * data block at every exit (vdso_update()), never letting either clock go
 * backwards, so the extrapolation only ever covers the time between two
 * exits.  mult comes from KVM_GET_TSC_KHZ, and the guest's TSC offset from
 * the vCPU's IA32_TSC: on PVM the guest reads the host's TSC; on hardware
 * KVM the guest's TSC is offset, and the offset is measured once.
 *
 * glibc finds the page through AT_SYSINFO_EHDR.  The object has a hash
 * table, a symbol table and a dynamic section, and no version information,
 * which glibc accepts for its LINUX_2.6 lookups.  The guest can write the
 * page (all program memory is writable to the CPU); it only hurts itself.
 */
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include <elf.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "vmm.h"

#define MSR_IA32_TSC	0x10

/* Offsets inside the vDSO page. */
#define V_PHDR		0x040
#define V_DYN		0x0b0
#define V_HASH		0x120
#define V_SYMTAB	0x138
#define V_STRTAB	0x168
#define V_CODE		0x200
#define V_DATA		0x280

/* The data block the code reads; written only by vdso_update(). */
struct vdata {
	uint64_t	base_tsc;	/* guest TSC at the last re-base */
	uint64_t	mult;		/* ns per tick, 32.32 fixed point */
	uint64_t	base_ns[2];	/* CLOCK_REALTIME, CLOCK_MONOTONIC */
};

static const char strtab[] = "\0linux-vdso.so.1\0__vdso_clock_gettime";
#define STR_SONAME	1
#define STR_CLOCK	17

/*
 * __vdso_clock_gettime(clockid_t clk, struct timespec *ts), position-
 * independent; the data block is at V_DATA (the lea's displacement).
 */
static const uint8_t code[] = {
	0x83, 0xff, 0x01,			/* cmp $1,%edi */
	0x77, 0x35,				/* ja fallback */
	0x0f, 0x31,				/* rdtsc */
	0x48, 0xc1, 0xe2, 0x20,			/* shl $32,%rdx */
	0x48, 0x09, 0xd0,			/* or %rdx,%rax */
	0x4c, 0x8d, 0x05, 0x6b, 0x00, 0x00, 0x00, /* lea vdata(%rip),%r8 */
	0x49, 0x2b, 0x00,			/* sub (%r8),%rax */
	0x49, 0xf7, 0x60, 0x08,			/* mulq 8(%r8) */
	0x48, 0x0f, 0xac, 0xd0, 0x20,		/* shrd $32,%rdx,%rax */
	0x49, 0x03, 0x44, 0xf8, 0x10,		/* add 16(%r8,%rdi,8),%rax */
	0x31, 0xd2,				/* xor %edx,%edx */
	0xb9, 0x00, 0xca, 0x9a, 0x3b,		/* mov $1000000000,%ecx */
	0x48, 0xf7, 0xf1,			/* div %rcx */
	0x48, 0x89, 0x06,			/* mov %rax,(%rsi) */
	0x48, 0x89, 0x56, 0x08,			/* mov %rdx,8(%rsi) */
	0x31, 0xc0,				/* xor %eax,%eax */
	0xc3,					/* ret */
	0xb8, 0xe4, 0x00, 0x00, 0x00,		/* fallback: mov $228,%eax */
	0x0f, 0x05,				/* syscall */
	0xc3,					/* ret */
};

static uint64_t
tsc_offset(struct vm *vm)
{
	struct {
		struct kvm_msrs		hdr;
		struct kvm_msr_entry	e[1];
	} m;
	uint64_t h1, h2;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e[0].index = MSR_IA32_TSC;
	h1 = __rdtsc();
	if (ioctl(vm->vcpufd, KVM_GET_MSRS, &m) != 1)
		return 0;
	h2 = __rdtsc();
	return m.e[0].data - (h1 + (h2 - h1) / 2);
}

int
vdso_build(struct vm *vm)
{
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	Elf64_Dyn *dyn;
	Elf64_Sym *sym;
	uint32_t *hash;
	uint8_t *p;
	uint64_t base;
	int khz;

	if ((khz = ioctl(vm->vcpufd, KVM_GET_TSC_KHZ, 0)) <= 0)
		return -1;
	if ((base = gm_find_free(vm, PAGE_SIZE)) == 0 ||
	    gm_map(vm, base, PAGE_SIZE, PG_READ | PG_EXEC) != 0)
		return -1;
	p = vm->mem + base;	/* mapped just above, range checked */

	eh = (Elf64_Ehdr *)p;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_SYSV;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = V_PHDR;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;

	ph = (Elf64_Phdr *)(p + V_PHDR);
	ph[0].p_type = PT_LOAD;
	ph[0].p_flags = PF_R | PF_X;
	ph[0].p_filesz = ph[0].p_memsz = PAGE_SIZE;
	ph[0].p_align = PAGE_SIZE;
	ph[1].p_type = PT_DYNAMIC;
	ph[1].p_flags = PF_R;
	ph[1].p_offset = ph[1].p_vaddr = ph[1].p_paddr = V_DYN;
	ph[1].p_filesz = ph[1].p_memsz = 7 * sizeof(*dyn);
	ph[1].p_align = 8;

	dyn = (Elf64_Dyn *)(p + V_DYN);
	dyn[0].d_tag = DT_HASH;
	dyn[0].d_un.d_ptr = V_HASH;
	dyn[1].d_tag = DT_STRTAB;
	dyn[1].d_un.d_ptr = V_STRTAB;
	dyn[2].d_tag = DT_SYMTAB;
	dyn[2].d_un.d_ptr = V_SYMTAB;
	dyn[3].d_tag = DT_STRSZ;
	dyn[3].d_un.d_val = sizeof(strtab);
	dyn[4].d_tag = DT_SYMENT;
	dyn[4].d_un.d_val = sizeof(*sym);
	dyn[5].d_tag = DT_SONAME;
	dyn[5].d_un.d_val = STR_SONAME;
	dyn[6].d_tag = DT_NULL;

	/* One bucket, so no hash values need computing: 1 symbol + null. */
	hash = (uint32_t *)(p + V_HASH);
	hash[0] = 1;		/* nbucket */
	hash[1] = 2;		/* nchain */
	hash[2] = 1;		/* bucket[0]: the first symbol */
	hash[3] = 0;		/* chain[0] */
	hash[4] = 0;		/* chain[1]: end */

	sym = (Elf64_Sym *)(p + V_SYMTAB);
	sym[1].st_name = STR_CLOCK;
	sym[1].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
	sym[1].st_shndx = 1;
	sym[1].st_value = V_CODE;
	sym[1].st_size = sizeof(code);

	memcpy(p + V_STRTAB, strtab, sizeof(strtab));
	memcpy(p + V_CODE, code, sizeof(code));

	vm->vdso = base;
	vm->tsc_offset = tsc_offset(vm);
	((struct vdata *)(p + V_DATA))->mult = (1000000ULL << 32) /
	    (uint64_t)khz;
	vdso_update(vm);
	return 0;
}

static uint64_t
ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/*
 * Re-base the data block on the host's clocks now.  A clock never goes
 * backwards for the guest: the new base is at least what the old one
 * extrapolates to.
 */
void
vdso_update(struct vm *vm)
{
	struct vdata *d;
	uint64_t tsc, fresh[2], then;
	int i;

	if (vm->vdso == 0)
		return;
	d = (struct vdata *)(vm->mem + vm->vdso + V_DATA);
	fresh[0] = ns(CLOCK_REALTIME);
	fresh[1] = vm_mono_ns(vm);
	tsc = __rdtsc() + vm->tsc_offset;
	for (i = 0; i < 2; i++) {
		then = d->base_tsc == 0 ? 0 : d->base_ns[i] +
		    (uint64_t)(((unsigned __int128)(tsc - d->base_tsc) *
		    d->mult) >> 32);
		d->base_ns[i] = fresh[i] > then ? fresh[i] : then;
	}
	d->base_tsc = tsc;
}

/*
 * A VM restored from a snapshot has a new vCPU, whose TSC has nothing to do
 * with the one the data block was based on: take the new offset and
 * base the clocks on the host's afresh.  (After a host reboot the
 * monotonic clock may then read less than the program saw while the
 * snapshot was built; nothing a payload sees is affected.)
 */
void
vdso_restored(struct vm *vm)
{
	struct vdata *d;

	if (vm->vdso == 0)
		return;
	vm->tsc_offset = tsc_offset(vm);
	d = (struct vdata *)(vm->mem + vm->vdso + V_DATA);
	d->base_tsc = 0;
	vdso_update(vm);
}
