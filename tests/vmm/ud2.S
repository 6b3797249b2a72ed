/* An invalid opcode: the run ends like SIGILL. */
	.globl	_start
	.text
_start:
	ud2
