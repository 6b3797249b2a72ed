/* Overwrite the syscall stub (user, read-only): must fault. */
	.globl	_start
	.text
_start:
	movq	$0, 0x10000
	mov	$231, %eax
	xor	%edi, %edi
	syscall
