/* A load from where a device would be (the local APIC): no such memory. */
	.globl	_start
	.text
_start:
	mov	$0xfee00000, %rax
	mov	(%rax), %rax
	ud2
