/* hlt is privileged at CPL3: #GP, the run ends like SIGSEGV. */
	.globl	_start
	.text
_start:
	hlt
	ud2
