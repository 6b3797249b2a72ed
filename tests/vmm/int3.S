/* A breakpoint: the run ends like SIGTRAP, as Linux ends it. */
	.globl	_start
	.text
_start:
	int3
	mov	$231, %eax
	xor	%edi, %edi
	syscall
