/* A store to address 0: the run ends like SIGSEGV. */
	.globl	_start
	.text
_start:
	movq	$1, 0
	ud2
