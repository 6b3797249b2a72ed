/*
 * SNAFT families and system call names (lib/families.c): what an allow
 * list may name, what no row may allow, and which family a call belongs
 * to given its arguments.
 */
#ifndef FAMILIES_H
#define FAMILIES_H

#include <stddef.h>
#include <stdint.h>

/* Number of x86-64 system call numbers we know (__NR_* < SYSCALL_MAX). */
#define SYSCALL_MAX	512

/* x86-64 system call numbers and names (generated from <asm/unistd_64.h>). */
int		 syscall_number(const char *name);	/* -1 if unknown */
const char	*syscall_name(int nr);			/* NULL if unknown */

/*
 * SNAFT families (airlock-snaft(1)): a family name expands to real system
 * calls.  family_expand() sets set[nr] = 1 for each member and returns the
 * number of members, or -1 for an unknown name (a plain system call name is
 * a family of one).  family_dangerous() is 1 for the always-dangerous
 * families, which no row can allow, and for a plain system call name that
 * is a member of one whatever its arguments ("clone3").
 */
int		 family_expand(const char *name, uint8_t set[SYSCALL_MAX]);
int		 family_dangerous(const char *name);

/* 1 if name is a family's (not a plain system call's), else 0. */
int		 family_known(const char *name);

/*
 * The always-dangerous family syscall nr is a member of whatever its
 * arguments, or NULL.
 */
const char	*family_always(int nr);

/* The i-th family name, always-dangerous ones first; NULL past the end. */
const char	*family_name(size_t i);

/*
 * 1 if syscall nr is allowable by name but dangerous for some arguments, so
 * a filter that allows it must also check those arguments (in the kernel in
 * fast mode, in the monitor in observe mode) and treat a match as a
 * violation of the family family_of_dangerous() names:
 *   mmap, mprotect, pkey_mprotect	arg2 & PROT_EXEC	"dlopen"
 *   prlimit64				arg0 != 0		"ptrace"
 * clone without CLONE_THREAD is "fork", but clone is always in "clone" and
 * never allowable, so family_argcheck() is 0 for it.
 */
int		 family_argcheck(int nr);

/*
 * The always-dangerous family that syscall nr belongs to, or NULL.  For
 * mmap/mprotect/pkey_mprotect, prot decides: PROT_EXEC makes it "dlopen".
 * For clone, flags decide: without CLONE_THREAD it is "fork".  For
 * prlimit64, naming another process (arg0 != 0) is "ptrace".  nr may be any value (it comes from the tracee's registers).
 */
const char	*family_of_dangerous(int nr, uint64_t arg0, uint64_t arg2);

/*
 * The same for a whole call: every argument register, so that the families
 * decided by other arguments (sigio: fcntl's and ioctl's command) are seen
 * too.  Monitors use this one; family_of_dangerous() passes 0 for arg1.
 */
const char	*family_of_call(int nr, const uint64_t args[6]);

/*
 * family_of_call() for a monitor that knows the caller's own pid as the
 * sandbox numbers it (0: unknown): a process naming itself by its pid
 * names itself, as with pid 0 (prlimit64).
 */
const char	*family_of_call_self(int nr, const uint64_t args[6],
		    uint64_t self);

/* The runner's measured base set, allowed in every row. */
extern const char *const policy_base[];

#endif
