/* An x32 system call number (getpid | 0x40000000): a violation. */
	.globl	_start
	.text
_start:
	mov	$0x40000027, %eax
	syscall
	mov	$231, %eax
	xor	%edi, %edi
	syscall
