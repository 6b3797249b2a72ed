/*
 * ia32: does this kernel run i386 system calls made with int 0x80 from a
 * 64-bit process?  Exits 0 if it does (getpid through the i386 entry
 * point answers our pid), 1 if the call answered something else.  A
 * kernel built or booted without IA32 emulation (ia32_emulation=0) makes
 * int 0x80 a general protection fault: this process then dies of SIGSEGV,
 * which is the answer "no".  The hostile tests ask, because the verdict
 * of an i386 call in a sandbox depends on it: a foreign-ABI violation
 * where the kernel has the entry point, the kernel's own SIGSEGV where it
 * has none.
 */
#include <unistd.h>

int
main(void)
{
	long r;

	/* 20 is getpid in the i386 table. */
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	return r == (long)getpid() ? 0 : 1;
}
