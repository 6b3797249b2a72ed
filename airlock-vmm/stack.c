/*
 * The initial process stack of the System V x86-64 ABI: argc, argv,
 * envp and the auxiliary vector, with the strings and AT_RANDOM bytes
 * above them, as the Linux kernel builds it for a new program.
 */
#include <sys/auxv.h>
#include <sys/random.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define STACK_SIZE	(8ULL * 1024 * 1024)

/*
 * The environment is not the VMM's: a fixed, scrubbed one, so nothing of
 * the host (paths, tokens, user names) reaches the guest.
 */
static const char *const guest_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/tmp",
	"LANG=C.UTF-8",
	NULL
};

/* Push bytes below *sp; the stack range was mapped by the caller. */
static int
push(struct vm *vm, uint64_t *sp, const void *p, size_t len)
{
	if (*sp - vm->stack_lo < len)
		return -1;
	*sp -= len;
	return gm_copyout(vm, *sp, p, len);
}

int
stack_build(struct vm *vm, const struct elfinfo *prog,
    const struct elfinfo *interp, int argc, char **argv, uint64_t *rsp)
{
	uint64_t sp, at_random, at_platform, at_execfn, *vec, *argp, *envp;
	uint64_t auxv[2 * 24], nvec, i, n;
	uint8_t rnd[16];
	int nenv, a;

	vm->stack_lo = vm->memsize - STACK_SIZE;
	if (gm_map(vm, vm->stack_lo, STACK_SIZE, PG_READ | PG_WRITE) != 0)
		return -1;
	sp = vm->memsize;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -1;
	if (push(vm, &sp, rnd, sizeof(rnd)) == -1)
		return -1;
	at_random = sp;
	if (push(vm, &sp, "x86_64", 7) == -1)
		return -1;
	at_platform = sp;
	if (push(vm, &sp, vm->execfn, strlen(vm->execfn) + 1) == -1)
		return -1;
	at_execfn = sp;

	for (nenv = 0; guest_env[nenv] != NULL; nenv++)
		;
	if ((argp = calloc((size_t)argc + 1, sizeof(*argp))) == NULL)
		return -1;
	if ((envp = calloc((size_t)nenv + 1, sizeof(*envp))) == NULL) {
		free(argp);
		return -1;
	}
	for (a = nenv - 1; a >= 0; a--) {
		if (push(vm, &sp, guest_env[a], strlen(guest_env[a]) + 1) == -1)
			goto fail;
		envp[a] = sp;
	}
	for (a = argc - 1; a >= 0; a--) {
		if (push(vm, &sp, argv[a], strlen(argv[a]) + 1) == -1)
			goto fail;
		argp[a] = sp;
	}

	n = 0;
#define AUX(t, v)	do { auxv[n++] = (t); auxv[n++] = (v); } while (0)
	if (vm->vdso != 0)
		AUX(AT_SYSINFO_EHDR, vm->vdso);
	AUX(AT_PHDR, prog->phdr);
	AUX(AT_PHENT, prog->phent);
	AUX(AT_PHNUM, prog->phnum);
	AUX(AT_PAGESZ, PAGE_SIZE);
	AUX(AT_BASE, interp != NULL ? interp->base : 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, prog->entry);
	AUX(AT_UID, GUEST_ID);
	AUX(AT_EUID, GUEST_ID);
	AUX(AT_GID, GUEST_ID);
	AUX(AT_EGID, GUEST_ID);
	AUX(AT_SECURE, 0);
	/*
	 * The CPU features are the host's: on PVM the program's own cpuid
	 * sees the host anyway, so the VMM reports the same.
	 */
	AUX(AT_HWCAP, getauxval(AT_HWCAP));
	AUX(AT_HWCAP2, getauxval(AT_HWCAP2));
	AUX(AT_CLKTCK, 100);
	AUX(AT_RANDOM, at_random);
	AUX(AT_PLATFORM, at_platform);
	AUX(AT_EXECFN, at_execfn);
	AUX(AT_MINSIGSTKSZ, getauxval(AT_MINSIGSTKSZ));
	AUX(AT_NULL, 0);
#undef AUX

	/* argc, argv..., NULL, envp..., NULL, auxv: RSP 16-byte aligned. */
	nvec = 1 + (uint64_t)argc + 1 + (uint64_t)nenv + 1 + n;
	sp &= ~15ULL;
	if (nvec & 1)
		sp -= 8;
	if (sp - vm->stack_lo < nvec * 8 + 4096)
		goto fail;
	sp -= nvec * 8;
	if ((vec = gm_ptr(vm, sp, nvec * 8, PG_WRITE)) == NULL)
		goto fail;
	i = 0;
	vec[i++] = (uint64_t)argc;
	for (a = 0; a < argc; a++)
		vec[i++] = argp[a];
	vec[i++] = 0;
	for (a = 0; a < nenv; a++)
		vec[i++] = envp[a];
	vec[i++] = 0;
	memcpy(vec + i, auxv, n * 8);
	free(argp);
	free(envp);
	*rsp = sp;
	return 0;
fail:
	free(argp);
	free(envp);
	return -1;
}
