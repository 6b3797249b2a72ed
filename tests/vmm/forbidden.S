/* socket(AF_INET, SOCK_STREAM, 0): always dangerous, kills the VM. */
	.globl	_start
	.text
_start:
	mov	$41, %eax
	mov	$2, %edi
	mov	$1, %esi
	xor	%edx, %edx
	syscall
	mov	$231, %eax
	xor	%edi, %edi
	syscall
