/*
 * The devices airlock-vmm provides itself, in a root without /dev (the
 * test guests' own): /dev/null reads nothing and takes every write,
 * /dev/urandom gives what is asked.  Exits 0, or the failing case.
 */
	.globl	_start
	.text
#include "check.inc"
_start:
	lea	null(%rip), %r12
	lea	urandom(%rip), %r13
	lea	buf(%rip), %r14
	/* open("/dev/null", O_RDWR) is 3, open("/dev/urandom") 4. */
	check	1, 2, %r12, $2, $0, $3
	check	2, 2, %r13, $0, $0, $4
	check	3, 0, $3, %r14, $16, $0
	check	4, 1, $3, %r14, $16, $16
	check	5, 0, $4, %r14, $16, $16
	/* stat("/dev/null", buf), and of /dev, a directory of ours. */
	check	6, 4, %r12, %r14, $0, $0
	lea	dev(%rip), %r15
	check	7, 4, %r15, %r14, $0, $0
	xor	%edi, %edi
out:
	mov	$231, %eax
	syscall
	.section .rodata
dev:	.asciz	"/dev"
null:	.asciz	"/dev/null"
urandom: .asciz	"/dev/urandom"
	.lcomm	buf, 256
