/*
 * For served runs with files, in a root that has no /input or /output
 * (the test guests' own): read the payload (the snapshot point), copy the
 * input file /input/in to /output/out, and write the payload back.  Exits
 * 0, or the step that failed: 3 opening /input/in, 4 reading it, 5
 * creating /output/out, 6 writing it.
 */
	.globl	_start
	.text
_start:
	xor	%eax, %eax		/* read(0, buf, 65536) */
	xor	%edi, %edi
	lea	buf(%rip), %rsi
	mov	$65536, %edx
	syscall
	mov	%rax, %r12
	mov	$257, %eax		/* openat(AT_FDCWD, "/input/in", 0) */
	mov	$-100, %rdi
	lea	in(%rip), %rsi
	xor	%edx, %edx
	syscall
	mov	$3, %edi
	test	%rax, %rax
	js	out
	mov	%rax, %rdi		/* read(fd, file, 65536) */
	xor	%eax, %eax
	lea	file(%rip), %rsi
	mov	$65536, %edx
	syscall
	mov	$4, %edi
	test	%rax, %rax
	js	out
	mov	%rax, %r13
	mov	$257, %eax		/* openat(AT_FDCWD, "/output/out", */
	mov	$-100, %rdi		/*     O_WRONLY | O_CREAT | O_TRUNC, */
	lea	outname(%rip), %rsi	/*     0600) */
	mov	$0x241, %edx
	mov	$0600, %r10d
	syscall
	mov	$5, %edi
	test	%rax, %rax
	js	out
	mov	%rax, %rdi		/* write(fd, file, n) */
	mov	$1, %eax
	lea	file(%rip), %rsi
	mov	%r13, %rdx
	syscall
	mov	$6, %edi
	cmp	%r13, %rax
	jne	out
	mov	$1, %eax		/* write(1, buf, payload's n) */
	mov	$1, %edi
	lea	buf(%rip), %rsi
	mov	%r12, %rdx
	syscall
	xor	%edi, %edi
out:
	mov	$231, %eax
	syscall

	.section .rodata
in:	.asciz	"/input/in"
outname:
	.asciz	"/output/out"
	.lcomm	buf, 65536
	.lcomm	file, 65536
