/*
 * For snapshots (-S): read the payload (the snapshot point), write it
 * back, then madvise a range whose length page rounding would wrap, in
 * memory restored from the snapshot: EINVAL, never a VMM failure.  Exits
 * 0, or 3 if madvise answered otherwise.
 */
	.globl	_start
	.text
_start:
	xor	%eax, %eax		/* read(0, buf, 65536) */
	xor	%edi, %edi
	lea	buf(%rip), %rsi
	mov	$65536, %edx
	syscall
	mov	%rax, %rdx		/* write(1, buf, n) */
	mov	$1, %eax
	mov	$1, %edi
	lea	buf(%rip), %rsi
	syscall
	mov	$28, %eax		/* madvise(0x400000, -4095, DONTNEED) */
	mov	$0x400000, %edi
	mov	$0xfffffffffffff001, %rsi
	mov	$4, %edx
	syscall
	mov	$3, %edi
	cmp	$-22, %rax
	jne	out
	xor	%edi, %edi
out:
	mov	$231, %eax
	syscall
	.lcomm	buf, 65536
