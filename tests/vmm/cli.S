/* cli with IOPL 0 at CPL3: #GP, the run ends like SIGSEGV. */
	.globl	_start
	.text
_start:
	cli
	ud2
