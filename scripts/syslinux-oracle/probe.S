/*
 * probe.S - a stand-in "Linux kernel" for the syslinux oracle.
 *
 * A minimal bzImage (Linux boot protocol 2.06): boot sector + 1 setup sector
 * + 512 bytes of (unused) protected-mode part.  syslinux loads it like any
 * kernel and jumps to the real-mode setup code at offset 0x200 with
 * DS = ES = SS = the setup segment.  The code prints to COM1 (already set up
 * by syslinux's SERIAL directive):
 *
 *   HBPROBE-BEGIN
 *   SELF:<tag at offset 0x10 of this file, written by the oracle: HBFILE:<path>>
 *   CMDLINE:<the NUL-terminated string at cmd_line_ptr>
 *   INITRD:<ramdisk_image hex> <ramdisk_size hex>
 *   DATA:<hex of the first min(size,16 KiB) bytes of the initrd>
 *   HBPROBE-END
 *
 * then resets the machine through the keyboard controller, so syslinux comes
 * back.  Bytes above 1 MiB (the initrd) are read with the BIOS block move
 * (INT 15h AH=87h).  Assembled with GNU as (.code16), linked at 0, raw binary.
 */
	.code16
	.text
	.globl _start
_start:
	.org 0x10
tag:	.ascii "HBFILE:?"
	.byte 0
	.org 0x1f1
setup_sects:	.byte 1
root_flags:	.word 0
syssize:	.long 512/16
ram_size:	.word 0
vid_mode:	.word 0xffff
root_dev:	.word 0
boot_flag:	.word 0xAA55
	/* 0x200: entry point (CS = setup segment + 0x20, IP = 0) */
	jmp	main
	.org 0x202
	.ascii	"HdrS"
	.word	0x0206			/* protocol version */
	.long	0			/* realmode_swtch */
	.word	0			/* start_sys_seg */
	.word	0			/* kernel_version */
type_of_loader:	.byte 0
loadflags:	.byte 0x81		/* LOADED_HIGH | CAN_USE_HEAP */
	.word	0			/* setup_move_size */
	.long	0x100000		/* code32_start */
	.org 0x218
ramdisk_image:	.long 0
ramdisk_size:	.long 0
	.long	0			/* bootsect_kludge */
	.word	0x0400			/* heap_end_ptr (set by loader) */
	.byte	0, 0			/* ext_loader_ver/type */
	.org 0x228
cmd_line_ptr:	.long 0
initrd_addr_max: .long 0x00ffffff	/* keep the initrd below 16 MiB */
	.long	0x1000			/* kernel_alignment */
	.byte	0			/* relocatable_kernel */
	.byte	0			/* min_alignment */
	.word	0			/* xloadflags */
	.long	2047			/* cmdline_size */

	.org 0x240
main:
	cli
	mov	%cs, %ax
	sub	$0x20, %ax
	mov	%ax, %ds
	mov	%ax, %es
	cld
	mov	$msg_begin, %si
	call	puts
	mov	$tag, %si
	call	puts
	mov	$msg_cmdline, %si
	call	puts
	/* cmdline: linear address -> segment:offset */
	mov	cmd_line_ptr, %eax
	mov	%ax, %si
	and	$0x0f, %si
	shr	$4, %eax
	push	%ds
	mov	%ax, %ds
	mov	$4096, %cx
1:	lodsb
	test	%al, %al
	jz	2f
	call	putc
	loop	1b
2:	pop	%ds
	mov	$msg_initrd, %si
	call	puts
	mov	ramdisk_image, %eax
	call	hex32
	mov	$' ', %al
	call	putc
	mov	ramdisk_size, %eax
	call	hex32
	mov	$msg_data, %si
	call	puts
	/* dump the initrd: up to 16 KiB, 256 bytes at a time */
	mov	ramdisk_size, %eax
	cmp	$16384, %eax
	jbe	3f
	mov	$16384, %eax
3:	mov	%eax, remaining
	mov	ramdisk_image, %eax
	mov	%eax, srcaddr
	/* destination: linear address of buf */
	xor	%eax, %eax
	mov	%ds, %ax
	shl	$4, %eax
	add	$buf, %eax
	mov	%eax, %ebx
	mov	%bx, gdt_dst+2
	shr	$16, %ebx
	mov	%bl, gdt_dst+4
	mov	%bh, gdt_dst+7
4:	mov	remaining, %eax
	test	%eax, %eax
	jz	6f
	mov	srcaddr, %ebx
	mov	%bx, gdt_src+2
	shr	$16, %ebx
	mov	%bl, gdt_src+4
	mov	%bh, gdt_src+7
	mov	$gdt, %si
	mov	$128, %cx		/* words */
	mov	$0x87, %ah
	push	%ds
	pop	%es
	int	$0x15
	mov	remaining, %ecx
	cmp	$256, %ecx
	jbe	5f
	mov	$256, %ecx
5:	sub	%ecx, remaining
	addl	$256, srcaddr
	mov	$buf, %si
7:	lodsb
	call	hex8
	loop	7b
	jmp	4b
6:	mov	$msg_end, %si
	call	puts
	/* reset through the keyboard controller */
	mov	$0xfe, %al
	out	%al, $0x64
8:	hlt
	jmp	8b

puts:	lodsb
	test	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

putc:	push	%dx
	push	%ax
	mov	$0x3fd, %dx
1:	in	%dx, %al
	test	$0x20, %al
	jz	1b
	pop	%ax
	mov	$0x3f8, %dx
	out	%al, %dx
	pop	%dx
	ret

hex32:	push	%eax
	shr	$16, %eax
	call	hex16
	pop	%eax
hex16:	push	%ax
	mov	%ah, %al
	call	hex8
	pop	%ax
hex8:	push	%ax
	shr	$4, %al
	call	hex4
	pop	%ax
hex4:	push	%ax
	and	$0x0f, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	1f
	add	$('a'-'0'-10), %al
1:	call	putc
	pop	%ax
	ret

msg_begin:	.asciz "\r\nHBPROBE-BEGIN\r\nSELF:"
msg_cmdline:	.asciz "\r\nCMDLINE:"
msg_initrd:	.asciz "\r\nINITRD:"
msg_data:	.asciz "\r\nDATA:"
msg_end:	.asciz "\r\nHBPROBE-END\r\n"

	.balign 4
remaining:	.long 0
srcaddr:	.long 0
	.balign 8
gdt:	.quad 0, 0
gdt_src: .word 0xffff, 0
	.byte 0, 0x93, 0, 0
gdt_dst: .word 0xffff, 0
	.byte 0, 0x93, 0, 0
	.quad 0, 0
	.org 0x400
buf:	/* 256 bytes; the protected-mode part is never run */
	.org 0x600
