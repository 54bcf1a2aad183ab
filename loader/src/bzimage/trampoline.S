# The entry trampoline (TRAMPOLINE in code.rs; the unit test
# trampoline_is_trampoline_s there assembles this file and compares).
# It sits at TRAMPOLINE_OFF in the boot page; the verifier jumps here once
# its checks pass. Position independent except for three absolute fields,
# assembled as 0 and patched by plan(): boot_params, entry and gdtr's base.
# Instructions are written in the forms that give the bytes in the
# comments (GNU as picks these encodings for them).
	.code64
	.text
trampoline:
	cli				# 00: fa
	cld				# 01: fc
	lgdt	gdtr(%rip)		# 02: 0f 01 15 6f 00 00 00
	mov	$0x18, %eax		# 09: b8 18 00 00 00        __BOOT_DS
	mov	%eax, %ds		# 0e: 8e d8
	mov	%eax, %es		# 10: 8e c0
	mov	%eax, %ss		# 12: 8e d0
	mov	%eax, %fs		# 14: 8e e0
	mov	%eax, %gs		# 16: 8e e8
	lea	stack_top(%rip), %rsp	# 18: 48 8d 25 b1 00 00 00
	push	$0x10			# 1f: 6a 10                 __BOOT_CS
	lea	1f(%rip), %rax		# 21: 48 8d 05 03 00 00 00
	push	%rax			# 28: 50
	lretq				# 29: 48 cb                 reload %cs
1:	mov	boot_params(%rip), %rsi	# 2b: 48 8b 35 16 00 00 00
	mov	entry(%rip), %rax	# 32: 48 8b 05 17 00 00 00
	xor	%ebx, %ebx		# 39: 31 db
	xor	%ebp, %ebp		# 3b: 31 ed
	xor	%edi, %edi		# 3d: 31 ff
	jmp	*%rax			# 3f: ff e0
	.balign	8, 0			# 41: zeros, not nops

boot_params:				# 48: T_BOOT_PARAMS
	.quad	0			# patched: the zero page's address
entry:					# 50: T_ENTRY
	.quad	0			# patched: kernel load address + 0x200
gdt:					# 58: T_GDT
	.quad	0			# null
	.quad	0			# unused
	.quad	0x00af9a000000ffff	# 0x10 __BOOT_CS: 64-bit code
	.quad	0x00cf92000000ffff	# 0x18 __BOOT_DS: flat data
gdtr:					# 78
	.word	gdtr - gdt - 1		# limit 31: 4 descriptors
gdtr_base:				# 7a: T_GDTR_BASE
	.quad	0			# patched: gdt's address
	# TRAMPOLINE is 0x80 bytes, so it stops 2 bytes into gdtr_base:
	# plan() writes all 8 bytes of the field into the boot page, the last
	# two past the array (they are 0: the boot page is below 4 GiB).

# The stack: nothing is emitted for it, the boot page is zero up to here.
stack_top = trampoline + 0xd0		# d0
