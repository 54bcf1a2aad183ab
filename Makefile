# hopboot — see README.md. `make qemu` boots the demo, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

MUSL      := x86_64-unknown-linux-musl
TARGET    := target
MUSL_BIN  := $(TARGET)/$(MUSL)/release
HOST_BIN  := $(TARGET)/debug
HOPBOOT   := $(MUSL_BIN)/hopboot
QEMU_CLI  := $(HOST_BIN)/hopboot-qemu
IMAGE_CLI := $(HOST_BIN)/hopboot-image-build
INITRAMFS := $(TARGET)/hopboot-initramfs.cpio.gz
DEMO_DISK := $(TARGET)/demo.img
# The firmware payload: a kernel from Debian's linux-source-6.1 with hopboot built in.
PAYLOAD   := $(TARGET)/payload/hopboot-payload.bzImage
PAYLOAD_CPIO := $(TARGET)/payload/initramfs.cpio
# Storage modules shipped in the initramfs: minimal (virtio), server or all-storage
# (see `hopboot-image-build --help`); hopboot loads those a device matches.
PROFILE   ?= minimal
# Extra modules, comma-separated, loaded at every boot whatever the hardware.
MODULES   ?=
# Filesystem modules, comma-separated (xfs,btrfs,ext4), shipped for read-only kernel mounts
# of what hopboot cannot read in userspace; each is loaded only when a partition needs it.
FS        ?=
COMPRESSION ?= gzip
APPEND    ?= console=ttyS0 panic=-1
# cargo test threads for the QEMU tests: each QEMU takes a core under TCG.
QEMU_TEST_THREADS ?= 2

.PHONY: all deps build initramfs demo-disk qemu payload qemu-payload test unit-test qemu-test lint fmt clean deb

all: build

deps:
	./scripts/install-deps.sh

# The PID 1 binary and the target's /init are static musl builds; the host
# tools (image builder, QEMU harness) are ordinary debug builds.
# The image builder is also built static, for the .deb, in a cargo run of its own so that
# its dependencies' features are not unified into the hopboot binary's.
build: deps
	cargo build --release --target $(MUSL) -p hopboot -p hopboot-target-init
	cargo build --release --target $(MUSL) -p hopboot-image-build
	cargo build -p hopboot-image-build -p hopboot-qemu

kernel-info: build
	$(QEMU_CLI) kernel > $(TARGET)/kernel.env
	cat $(TARGET)/kernel.env

initramfs: kernel-info
	source $(TARGET)/kernel.env && $(IMAGE_CLI) --binary $(HOPBOOT) --modules-dir "$$modules_dir" \
	    --profile $(PROFILE) $(if $(MODULES),--module $(MODULES)) $(if $(FS),--fs $(FS)) \
	    --compression $(COMPRESSION) \
	    --output $(INITRAMFS)

demo-disk: build
	$(QEMU_CLI) demo-disk --variant grub $(DEMO_DISK)

# Boots the demo disk through hopboot on this terminal (Ctrl-A X quits).
qemu: initramfs demo-disk
	$(QEMU_CLI) run --interactive --initrd $(INITRAMFS) --disk $(DEMO_DISK) --append "$(APPEND)"

# One bzImage (also a UEFI application) with hopboot and every driver built in:
# see README "Put it in firmware". The kernel tree is cached under target/payload,
# keyed by the source and payload/kernel.config; the first build takes minutes.
payload: build
	$(IMAGE_CLI) --binary $(HOPBOOT) --compression none --output $(PAYLOAD_CPIO)
	$(HOST_BIN)/hopboot-payload --initramfs $(PAYLOAD_CPIO) --output $(PAYLOAD)

# Boots the demo disk through the payload under SeaBIOS (-kernel, no initrd).
qemu-payload: payload demo-disk
	$(QEMU_CLI) run --interactive --kernel $(PAYLOAD) --no-initrd --append "" --disk $(DEMO_DISK)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

unit-test: build
	cargo test --workspace --exclude hopboot-tests

qemu-test: build payload
	cargo test -p hopboot-tests -- --test-threads=$(QEMU_TEST_THREADS)

test: build lint unit-test qemu-test deb fuzz-smoke test-distro

# target/deb/hopboot_<version>_amd64.deb, built with dpkg-deb (scripts/build-deb.sh;
# docs/packaging.md). dist/debian/static-crates (the crates linked into the static
# binaries, for the copyright file) is refreshed first; commit it when it changes.
DEB_CRATES := dist/debian/static-crates
deb: build
	{ echo "# Crates linked into the static binaries (make deb rewrites this file; commit it)."; \
	  cargo tree --locked -e normal,no-proc-macro --target $(MUSL) -p hopboot -p hopboot-image-build \
	    --prefix none --format '{p}: {l}' | grep -v ' (/' | sed -e 's/ (\*)$$//' -e 's/ v\([0-9]\)/ \1/' \
	    | grep . | LC_ALL=C sort -u; } >$(TARGET)/static-crates.new
	@if ! cmp -s $(TARGET)/static-crates.new $(DEB_CRATES); then \
	    mv $(TARGET)/static-crates.new $(DEB_CRATES); \
	    echo "deb: $(DEB_CRATES) changed (the linked crates did): commit it"; \
	else rm -f $(TARGET)/static-crates.new; fi
	scripts/build-deb.sh

fmt:
	cargo fmt --all

clean:
	cargo clean

# Boot timings through hopboot (decision window = "Run /init" -> "Starting new kernel"),
# interleaved with a minimal C reference loader (bench/minimal-kexec, built with gcc) and a
# direct-boot baseline, sizes and the smallest guest memory that still boots (through hopboot
# and directly); the firmware payload's sizes and its time to the menu against Debian's
# kernel: see docs/bench.md. Not part of `make test`; about 12-15 minutes under TCG on 2 cores.
BENCH_RUNS ?= 5
BENCH_OUT  ?= $(TARGET)/bench
BENCH_ARGS ?= --baseline-direct --reference-minimal --enter-runs 3 --menu-runs 5
.PHONY: bench
bench: build payload
	$(QEMU_CLI) bench --runs $(BENCH_RUNS) --out $(BENCH_OUT) --payload $(PAYLOAD) $(BENCH_ARGS)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory bench-net; \
	else echo "bench-net: skipped: network namespaces need root"; fi

# The network's figures (tests/tests/netboot.rs, bench_network; root): hopboot's HTTP client
# against curl on the same nginx, TFTP blksize 1468 against 512, and PID 1's link → lease →
# entries in QEMU; about 4 minutes. Writes target/bench-net/results.md.
.PHONY: bench-net
bench-net: build
	cargo test -p hopboot-tests --test netboot -- --ignored --nocapture --test-threads=1 bench_network

# The smallest guest memory that boots the real Debian 12 install of `make test-distro`
# through hopboot and directly (its own kernel and initrd, GRUB's command line): see
# docs/bench.md. Root only when the disk is not built yet; about 15 minutes under TCG.
.PHONY: bench-distro
bench-distro: build
	$(QEMU_CLI) bench --distro --out $(TARGET)/bench-distro

# Re-check the golden corpus against the real loaders: GRUB (grub-emu), systemd-boot
# (bootctl list, and systemd-boot 252 and 254 themselves booted under OVMF) and syslinux
# (booted in QEMU). Not part of `make test`: the tools come from Debian packages (see
# each script's README); about 30 minutes.
.PHONY: oracles
oracles:
	scripts/grub-oracle/check-corpus
	scripts/bls-oracle/check-corpus
	scripts/syslinux-oracle/check-corpus
	scripts/sdboot-oracle/check-corpus

# Every cargo-fuzz target in fuzz/ for a few seconds each (nightly, installs
# cargo-fuzz if missing); fails on any crash. See fuzz/README.md for long runs.
.PHONY: fuzz-smoke
fuzz-smoke:
	./scripts/fuzz-smoke.sh

# A real Debian 12 installation (debootstrap, its own update-initramfs and grub-mkconfig;
# scripts/build-distro-rootfs.sh) booted through hopboot until its systemd prints a marker:
# tests/tests/distro.rs, booted three ways (Debian kernel + initramfs, the payload under SeaBIOS and
# under OVMF), and tests/tests/distro/netboot.rs, its kernel and initrd served over HTTP to
# hopboot's network boot (issue 13; also in `make test-netboot`). Root only (debootstrap,
# chroot; skipped otherwise); part of `make test`. About 4 minutes with the cache in
# target/distro/cache, 6-7 minutes on a cold cache (2026-12-03: 6.5 min), before the network
# boot (its boot: about 2 minutes more; the disk is built once for the test binary).
.PHONY: test-distro
test-distro: build payload deb
	@if [ "$$(id -u)" != 0 ]; then \
	    echo "test-distro: skipped: debootstrap and chroot need root"; \
	else \
	    cargo test -p hopboot-tests --test distro -- --include-ignored --nocapture \
	        --test-threads=1 \
	        --skip debian12_systemctl_kexec_on_uefi --skip debian12_systemctl_kexec_on_systemd_254 \
	        --skip debian12_systemctl_kexec_with_boot_on_the_root; \
	fi

# The network transfers (loader/src/net: TFTP, HTTP, DNS into memfds) against real dnsmasq
# (TFTP, DNS) and nginx that each test starts in a network namespace of its own, with only
# its loopback in it (loader/tests/netboot.rs, about 15 s); PID 1 booting from them in QEMU
# (tests/tests/netboot.rs); and the real Debian 12 install of `make test-distro` served over
# HTTP (tests/tests/distro/netboot.rs: builds that disk first, needs the Debian mirror; a few
# minutes). Root only (ip netns, setns): otherwise each test says it is skipped and passes.
# `make test` as root already runs them all: the first through `make unit-test` (cargo test
# --workspace), the second through `make qemu-test`, the last through `make test-distro`.
.PHONY: test-netboot
test-netboot: build
	@if [ "$$(id -u)" != 0 ]; then \
	    echo "test-netboot: skipped: ip netns and setns need root"; \
	else \
	    cargo test -p hopboot-loader --test netboot --test net_dhcp -- --nocapture --test-threads=1 && \
	    cargo test -p hopboot-tests --test netboot -- --test-threads=$(QEMU_TEST_THREADS) && \
	    cargo test -p hopboot-tests --test distro -- --include-ignored --nocapture --test-threads=1 netboot::; \
	fi

# Signed boot (issue 14, docs/trust.md): the manifest and key units (loader), minisign
# interoperability (loader/tests/trust_minisign.rs: Debian's minisign), and hopboot as PID 1
# under enforce/warn images booting tampered, unsigned and signed disks (tests/tests/trust.rs,
# 3 tests, about 1.5 minutes under TCG). The menu lock: the password hash (hopboot-password),
# the prompt (init lock::), the image builder's --hash-password/--password-hash, and PID 1
# asking before the editor and the shell (tests/tests/menu_lock.rs, 2 boots, ~30 s under TCG).
# TPM 2.0 measurements (docs/trust.md "Measured boot"): hopboot as PID 1 with swtpm's TPM on
# the TIS interface; the target prints PCRs 8 and 9 and the event log, which the test
# recomputes from the files and the command line; the rescue shell's event; no TPM boots
# anyway (tests/tests/trust_tpm.rs, about 1 minute; swtpm from install-deps, as root;
# without it each test says it is skipped).
# `make test` runs all of them already (unit-test, qemu-test); this target is the short way
# to run only them.
.PHONY: test-trust
test-trust: build
	cargo test -p hopboot-loader --lib trust::
	cargo test -p hopboot-loader --test trust_minisign
	cargo test -p hopboot-password
	cargo test -p hopboot --bin hopboot lock::
	cargo test -p hopboot-image-build --test image password
	cargo test -p hopboot-loader --lib tpm::
	cargo test -p hopboot-tests --test trust --test menu_lock --test trust_tpm -- --test-threads=$(QEMU_TEST_THREADS)

# What the signature check before kexec costs on the Debian kernel and a 30 MB initrd:
# on the host, median of 15 runs (loader/tests/trust_bench.rs, release build), and in the
# guest under TCG, three boots (tests/tests/trust.rs bench_signature_check_in_qemu).
.PHONY: bench-trust
bench-trust: build
	cargo test --release -p hopboot-loader --test trust_bench -- --ignored --nocapture
	cargo test -p hopboot-tests --test trust -- --ignored --nocapture bench_signature_check_in_qemu

# Kexec over and over (tests/tests/soak.rs): hopboot as PID 1 booting the demo disk, and
# the installed Debian 12 kexecing itself through hopboot-kexec.service (root: debootstrap),
# HOPBOOT_SOAK_RUNS times each (default 100). Counts silent resets and hangs; failing
# serial logs stay in target/soak/. Not part of `make test`: about 2 hours under TCG.
.PHONY: soak
soak: build deb
	cargo test -p hopboot-tests --test soak -- --ignored --nocapture --test-threads=1

# Reboot time of the installed Debian 12 (tests/tests/reboot_bench.rs, root): systemctl
# kexec through hopboot-kexec.service against systemctl reboot through SeaBIOS and GRUB,
# interleaved in one VM; HOPBOOT_BENCH_REBOOTS each way (default 5). About 15 minutes.
.PHONY: bench-reboot
bench-reboot: build deb
	cargo test -p hopboot-tests --test reboot_bench -- --ignored --nocapture --test-threads=1

# systemctl kexec through hopboot-kexec.service on the installed Debian 12, four layouts
# (tests/tests/distro.rs, issue 12's tests 1-4; the filter matches them all): BIOS with
# /boot on its own partition; BIOS with /boot on the root filesystem; UEFI (OVMF) with
# systemd-boot + a type #1 entry on the ESP; UEFI with GRUB and an ESP; and the first
# one again with systemd 254 from backports. Root.
# About 6-11 minutes per layout under TCG. The BIOS one
# is also part of `make test-distro` since the silent resets `make soak` found (about 1
# kexec in 7: the decompressor ran on the old kernel's page tables) were fixed; the others
# (the UEFI ones need another debootstrapped base, ~20 minutes more) only run here, to keep
# `make test` within CI's time.
.PHONY: test-distro-kexec
test-distro-kexec: build deb
	cargo test -p hopboot-tests --test distro -- --include-ignored --nocapture --test-threads=1 debian12_systemctl_kexec
