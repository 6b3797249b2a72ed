/*
 * Answers that must be Linux's for lengths, counts and addresses a
 * hostile program chooses: wrapped lengths are EINVAL (never a VMM
 * failure), empty buffers at NULL are no fault.  Each case exits with its
 * number if the answer differs; all answered right, exit 0.
 */
	.globl	_start
	.text
#include "check.inc"

_start:
	/* Two pages to work on: mmap(0, 8192, RW, PRIVATE|ANON, -1, 0). */
	mov	$9, %eax
	xor	%edi, %edi
	mov	$8192, %esi
	mov	$3, %edx
	mov	$0x22, %r10d
	mov	$-1, %r8
	xor	%r9d, %r9d
	syscall
	mov	%rax, %r12
	lea	4096(%r12), %r13
	/* munmap(p, -1), madvise(p, -4095, DONTNEED): EINVAL. */
	check	1, 11, %r12, $-1, $0, $-22
	check	2, 28, %r12, $-4095, $4, $-22
	/* madvise that page rounding would wrap to 0 bytes: EINVAL. */
	check	3, 28, $0x400000, $0xfffffffffffff001, $4, $-22
	/* Advice Linux does not know: EINVAL. */
	check	4, 28, %r12, $4096, $999, $-22
	/* mprotect(p, -1, 0): the range wraps, ENOMEM. */
	check	5, 10, %r12, $-1, $0, $-12
	/* mremap(p, 4096, -1, 0): EINVAL. */
	check	6, 25, %r12, $4096, $-1, $-22
	/* poll(NULL, 0, 0), getrandom(NULL, 0, 0), read(0, NULL, 0): 0. */
	check	7, 7, $0, $0, $0, $0
	check	8, 318, $0, $0, $0, $0
	check	9, 0, $0, $0, $0, $0
	/* The second page unmapped, then advice on it: ENOMEM. */
	check	10, 11, %r13, $4096, $0, $0
	check	11, 28, %r13, $4096, $4, $-12
	/* munmap of the VMM's own first pages: nothing there to unmap. */
	check	12, 11, $0x1000, $4096, $0, $0
	xor	%edi, %edi
out:
	mov	$231, %eax
	syscall
