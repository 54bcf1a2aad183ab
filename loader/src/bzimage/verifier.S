# The verifier (VERIFIER in code.rs; the unit test verifier_is_verifier_s
# there assembles this file and compares). The kernel's entry point: it
# sits at VERIFY_OFF in the boot page, 0x200 above the trampoline, and
# recomputes digest() of each table row's memory before jumping on.
# Paging is on with kexec's identity map, so physical addresses are read
# as they are. Instructions are written in the forms that give the bytes
# in the comments (GNU as picks these encodings for them; the jumps are
# all in short range except the one to the trampoline).
	.code64
	.text
verifier:
	cli				# 00: fa
	cld				# 01: fc
	lea	table(%rip), %rsi	# 02: 48 8d 35 77 00 00 00
next:	mov	8(%rsi), %rcx		# 09: 48 8b 4e 08        qwords; 0 ends the table
	test	%rcx, %rcx		# 0d: 48 85 c9
	jz	good			# 10: 74 21
	mov	(%rsi), %rdi		# 12: 48 8b 3e           address
	xor	%eax, %eax		# 15: 31 c0
1:	rol	$5, %rax		# 17: 48 c1 c0 05
	add	(%rdi), %rax		# 1b: 48 03 07
	add	$8, %rdi		# 1e: 48 83 c7 08
	dec	%rcx			# 22: 48 ff c9
	jnz	1b			# 25: 75 f0
	cmp	16(%rsi), %rax		# 27: 48 3b 46 10        digest
	jne	bad			# 2b: 75 0b
	add	$24, %rsi		# 2d: 48 83 c6 18
	jmp	next			# 31: eb d6
good:	jmp	trampoline		# 33: e9 c8 fd ff ff     -0x200

bad:	lea	msg(%rip), %rsi		# 38: 48 8d 35 c1 00 00 00
2:	movzbl	(%rsi), %ebx		# 3f: 0f b6 1e
	test	%ebx, %ebx		# 42: 85 db
	jz	reset			# 44: 74 20
	mov	$0x3fd, %edx		# 46: ba fd 03 00 00     COM1 line status
	mov	$0x100000, %ecx		# 4b: b9 00 00 10 00     bounded wait
3:	in	(%dx), %al		# 50: ec
	test	$0x20, %al		# 51: a8 20              transmitter empty
	jnz	4f			# 53: 75 04
	dec	%ecx			# 55: ff c9
	jnz	3b			# 57: 75 f7
4:	mov	$0x3f8, %edx		# 59: ba f8 03 00 00     COM1 data
	mov	%bl, %al		# 5e: 88 d8
	out	%al, (%dx)		# 60: ee
	inc	%rsi			# 61: 48 ff c6
	jmp	2b			# 64: eb d9

reset:	lidt	idtr(%rip)		# 66: 0f 01 1d 09 00 00 00  limit 0: the next
	int3				# 6d: cc                 exception triple-faults
	hlt				# 6e: f4
	jmp	reset			# 6f: eb f5
	# VERIFIER ends here (0x71 bytes). Everything below is data that is 0
	# in the boot page until plan() writes it: assembled as zeros.

	.org	0x76, 0
idtr:					# 76
	.word	0			# limit
	.quad	0			# base
table:					# 80: V_TABLE
	# 4 rows of { .quad address, qwords, digest }, then a row with qwords
	# = 0; filled in by plan().
	.org	0x100, 0
msg:					# 100: V_MSG
	# VERIFY_MESSAGE, NUL-terminated, written by plan().

# The trampoline, 0x200 below (VERIFY_OFF - TRAMPOLINE_OFF in mod.rs).
trampoline = verifier - 0x200
