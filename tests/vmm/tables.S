/*
 * Attack the VMM's guest structures: zero the PML4 entry, then the IDT,
 * then the syscall stub.  Each must fault (they are supervisor-only or
 * read-only); if any store succeeded, the guest reports it on stdout.
 */
	.globl	_start
	.text
_start:
	movq	$0, 0x1000		/* PML4 */
	mov	$1, %eax
	mov	$1, %edi
	lea	msg(%rip), %rsi
	mov	$len, %edx
	syscall
	mov	$231, %eax
	xor	%edi, %edi
	syscall
	.section .rodata
msg:	.ascii	"escaped\n"
	len = . - msg
