/* Integer division by zero: the run ends like SIGFPE. */
	.globl	_start
	.text
_start:
	xor	%ecx, %ecx
	mov	$1, %eax
	cqto
	idiv	%rcx
	ud2
