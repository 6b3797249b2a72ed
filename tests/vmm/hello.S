/* write(1, "hello from the guest\n", 21); exit_group(7) */
	.globl	_start
	.text
_start:
	mov	$1, %eax		/* write */
	mov	$1, %edi
	lea	msg(%rip), %rsi
	mov	$len, %edx
	syscall
	mov	$231, %eax		/* exit_group */
	mov	$7, %edi
	syscall
	ud2
	.section .rodata
msg:	.ascii	"hello from the guest\n"
	len = . - msg
