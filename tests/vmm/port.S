/* An out to a port the TSS I/O bitmap does not open: #GP. */
	.globl	_start
	.text
_start:
	mov	$0x42, %al
	out	%al, $0x80
	mov	$0x3f8, %dx
	out	%al, (%dx)
	ud2
