# The entry trampoline (TRAMPOLINE in code.rs; the unit test
# trampoline_is_trampoline_s there assembles this file and compares).
# It sits at TRAMPOLINE_OFF in the boot page; the verifier jumps here once
# its checks pass. Position independent except for four absolute fields,
# assembled as 0 and patched by plan(): boot_params, entry, page_tables and
# gdtr's base.
#
# First it moves off the page tables the old kernel built for the jump onto
# hopboot's own identity map, kept in the boot page (a kexec segment): the
# old kernel keeps its tables out of segments only, so they may lie in the
# new kernel's decompression room, which the decompressor overwrites (its
# stack, the copy of itself, its BSS) before it builds tables of its own.
# Instructions are written in the forms that give the bytes in the
# comments (GNU as picks these encodings for them).
	.code64
	.text
trampoline:
	cli				# 00: fa
	cld				# 01: fc
	mov	page_tables(%rip), %rax	# 02: 48 8b 05 57 00 00 00
	mov	%rax, %cr3		# 09: 0f 22 d8              hopboot's identity map
	lgdt	gdtr(%rip)		# 0c: 0f 01 15 75 00 00 00
	mov	$0x18, %eax		# 13: b8 18 00 00 00        __BOOT_DS
	mov	%eax, %ds		# 18: 8e d8
	mov	%eax, %es		# 1a: 8e c0
	mov	%eax, %ss		# 1c: 8e d0
	mov	%eax, %fs		# 1e: 8e e0
	mov	%eax, %gs		# 20: 8e e8
	lea	stack_top(%rip), %rsp	# 22: 48 8d 25 a7 00 00 00
	push	$0x10			# 29: 6a 10                 __BOOT_CS
	lea	1f(%rip), %rax		# 2b: 48 8d 05 03 00 00 00
	push	%rax			# 32: 50
	lretq				# 33: 48 cb                 reload %cs
1:	mov	boot_params(%rip), %rsi	# 35: 48 8b 35 14 00 00 00
	mov	entry(%rip), %rax	# 3c: 48 8b 05 15 00 00 00
	xor	%ebx, %ebx		# 43: 31 db
	xor	%ebp, %ebp		# 45: 31 ed
	xor	%edi, %edi		# 47: 31 ff
	jmp	*%rax			# 49: ff e0
	.balign	8, 0			# 4b: zeros, not nops

boot_params:				# 50: T_BOOT_PARAMS
	.quad	0			# patched: the zero page's address
entry:					# 58: T_ENTRY
	.quad	0			# patched: kernel load address + 0x200
page_tables:				# 60: T_PAGE_TABLES
	.quad	0			# patched: the top-level table's address (CR3)
gdt:					# 68: T_GDT
	.quad	0			# null
	.quad	0			# unused
	.quad	0x00af9a000000ffff	# 0x10 __BOOT_CS: 64-bit code
	.quad	0x00cf92000000ffff	# 0x18 __BOOT_DS: flat data
gdtr:					# 88
	.word	gdtr - gdt - 1		# limit 31: 4 descriptors
gdtr_base:				# 8a: T_GDTR_BASE
	.quad	0			# patched: gdt's address
	# TRAMPOLINE is 0x90 bytes, so it stops 6 bytes into gdtr_base:
	# plan() writes all 8 bytes of the field into the boot page, the last
	# two past the array (they are 0: the boot page is below 4 GiB).

# The stack: nothing is emitted for it, the boot page is zero up to here.
stack_top = trampoline + 0xd0		# d0
