/*
 * The ELF loader: an x86-64 executable (ET_EXEC at its own addresses,
 * ET_DYN wherever the address-space map has room) and its interpreter.
 *
 * The file comes from the image and is treated as hostile like everything
 * else: every header field is checked before it is used as an address, a
 * length or an offset, and every byte lands in guest memory through the
 * checked range of gm_ptr().
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define PHNUM_MAX	64

static int
segprot(uint32_t f)
{
	return ((f & PF_R) ? PG_READ : 0) | ((f & PF_W) ? PG_WRITE : 0) |
	    ((f & PF_X) ? PG_EXEC : 0);
}

int
elf_load(struct vm *vm, int fd, int is_interp, uint64_t dyn_base,
    struct elfinfo *ei, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[PHNUM_MAX];
	uint64_t lo = UINT64_MAX, hi = 0, bias = 0, end, pg, a;
	uint8_t *dst;
	int i, nload = 0;

	memset(ei, 0, sizeof(*ei));
	if (preadall(fd, &eh, sizeof(eh), 0) == -1 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "not an ELF file");
		return -1;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
		snprintf(err, errlen, "not an x86-64 executable");
		return -1;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > PHNUM_MAX ||
	    preadall(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr),
	    eh.e_phoff) == -1) {
		snprintf(err, errlen, "bad program headers");
		return -1;
	}

	/* The span of all PT_LOAD segments, with no sum allowed to wrap. */
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz ||
		    ph[i].p_memsz > vm->memsize ||
		    ph[i].p_vaddr > vm->memsize ||
		    ph[i].p_offset > UINT64_MAX - ph[i].p_filesz) {
			snprintf(err, errlen, "bad PT_LOAD segment %d", i);
			return -1;
		}
		if ((ph[i].p_vaddr & PAGE_MASK) < lo)
			lo = ph[i].p_vaddr & PAGE_MASK;
		end = ph[i].p_vaddr + ph[i].p_memsz;
		if (end > hi)
			hi = end;
		nload++;
	}
	if (nload == 0) {
		snprintf(err, errlen, "no PT_LOAD segment");
		return -1;
	}
	hi = (hi + PAGE_SIZE - 1) & PAGE_MASK;

	if (eh.e_type == ET_DYN) {
		/*
		 * Position-independent: at dyn_base (a PIE program, below
		 * its break), or where the map has room (the interpreter).
		 */
		a = dyn_base != 0 ? dyn_base : gm_find_free(vm, hi - lo);
		if (a == 0) {
			snprintf(err, errlen, "no room for %llu bytes",
			    (unsigned long long)(hi - lo));
			return -1;
		}
		bias = a - lo;
	} else if (is_interp) {
		snprintf(err, errlen, "interpreter is not ET_DYN");
		return -1;
	}
	if (!gm_range_ok(vm, lo + bias, hi - lo) ||
	    !gm_is_free(vm, lo + bias, hi - lo)) {
		snprintf(err, errlen, "segments at 0x%llx-0x%llx do not fit",
		    (unsigned long long)(lo + bias),
		    (unsigned long long)(hi + bias));
		return -1;
	}

	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP && !is_interp) {
			if (ph[i].p_filesz < 2 ||
			    ph[i].p_filesz > sizeof(ei->interp) ||
			    preadall(fd, ei->interp, ph[i].p_filesz,
			    ph[i].p_offset) == -1 ||
			    ei->interp[ph[i].p_filesz - 1] != '\0') {
				snprintf(err, errlen, "bad PT_INTERP");
				return -1;
			}
		}
		if (ph[i].p_type == PT_PHDR)
			ei->phdr = ph[i].p_vaddr + bias;
		if (ph[i].p_type != PT_LOAD)
			continue;
		/* Inside [lo, hi), checked above, so these cannot wrap. */
		a = ph[i].p_vaddr + bias;
		end = (a + ph[i].p_memsz + PAGE_SIZE - 1) & PAGE_MASK;
		for (pg = (a & PAGE_MASK) / PAGE_SIZE; pg < end / PAGE_SIZE;
		    pg++) {
			if (!(vm->pages[pg] & PG_MAPPED))
				vm->mapped_pages++;
			vm->pages[pg] |= PG_MAPPED | segprot(ph[i].p_flags);
		}
		if ((dst = gm_ptr(vm, a, ph[i].p_filesz, 0)) == NULL ||
		    preadall(fd, dst, ph[i].p_filesz, ph[i].p_offset) == -1) {
			snprintf(err, errlen, "cannot read segment %d", i);
			return -1;
		}
		if (ei->phdr == 0 && eh.e_phoff >= ph[i].p_offset &&
		    eh.e_phoff - ph[i].p_offset < ph[i].p_filesz)
			ei->phdr = a + (eh.e_phoff - ph[i].p_offset);
	}
	ei->base = bias;
	ei->entry = eh.e_entry + bias;
	ei->phnum = eh.e_phnum;
	ei->phent = eh.e_phentsize;
	ei->end = hi + bias;
	if (gm_ptr(vm, ei->entry, 1, 0) == NULL) {
		snprintf(err, errlen, "entry point outside the segments");
		return -1;
	}
	return 0;
}
