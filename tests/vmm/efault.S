/*
 * write(2) with hostile buffers: a wrapping pointer, a huge length, a
 * pointer into the VMM's page tables, and NULL.  Each must be -EFAULT
 * (-14); the guest exits with 0 only if all four were.
 */
	.globl	_start
	.text
_start:
	xor	%ebx, %ebx
	mov	$1, %eax
	mov	$1, %edi
	mov	$0xfffffffffffff000, %rsi
	mov	$0x2000, %edx
	syscall
	cmp	$-14, %rax
	jne	bad
	mov	$1, %eax
	lea	_start(%rip), %rsi
	mov	$0x7fffffffffffffff, %rdx
	syscall
	cmp	$-14, %rax
	jne	bad
	mov	$1, %eax
	mov	$0x1000, %esi
	mov	$8, %edx
	syscall
	cmp	$-14, %rax
	jne	bad
	mov	$0, %eax		/* read(0, NULL, 8) */
	xor	%edi, %edi
	xor	%esi, %esi
	mov	$8, %edx
	syscall
	cmp	$-14, %rax
	jne	bad
	mov	$231, %eax
	xor	%edi, %edi
	syscall
bad:
	mov	$231, %eax
	mov	$1, %edi
	syscall
