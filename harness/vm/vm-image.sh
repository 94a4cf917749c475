#!/usr/bin/env bash
# Prepares what harness/vm/vm.sh boots: one of the Debian kernels of
# rfuse-kmod/kernels.json (RFUSE_KERNEL: 6.1, 6.12 or 7, default the newest),
# unpacked (never installed) by harness/kernels/kernels.sh with a modules.dep,
# and a small initramfs (busybox-static, the virtio/9p modules, init.sh).
#
#   harness/vm/vm-image.sh          build what is missing or stale; print nothing
#   harness/vm/vm-image.sh --print  then print "KVER KERNEL INITRAMFS IMAGEROOT"
#                                   (KERNEL: the file to boot; IMAGEROOT holds
#                                   lib/modules/KVER)
#
# Inputs: RFUSE_BUILD_DIR (default ROOT/build), RFUSE_KERNEL. The kernel tree
# lands in $BUILD/kernels/<ABI>/root, the initramfs in $BUILD/vm/. Exit status
# 125 when the image cannot be made, 2 for an unsupported RFUSE_KERNEL.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(realpath -m "${RFUSE_BUILD_DIR:-$ROOT/build}")
VMDIR=$BUILD/vm
BUSYBOX=/bin/busybox

# The modules the initramfs loads, each after its dependencies (modprobe
# --show-depends): the virtio/9p stack that reaches the host's files (virtio_ring
# virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache
# 9pnet 9pnet_virtio 9p), then fuse, loop and ext4 for the guest's commands,
# loaded while the shares are mounted. Loading them from the initramfs beats
# reading them over 9p by a second or more under TCG.
BOOT_MODULES=(virtio_pci 9pnet_virtio 9p)
EXTRA_MODULES=(fuse loop ext4)

fail() {
	printf 'vm-image: %s\n' "$*" >&2
	exit 125
}

print_paths=0
[[ "${1:-}" == "--print" ]] && print_paths=1

KERNELS=$ROOT/harness/kernels/kernels.sh
kver=$("$KERNELS" abi) || exit $?
mkdir -p "$VMDIR"
kroot=$("$KERNELS" image) || exit 125
kernel=$kroot/lib/modules/$kver/vmlinuz
initramfs=$VMDIR/initramfs-$kver.cpio
[[ -f $kernel ]] || fail "no kernel image at $kernel"

# Parallel vm.sh runs (ctest -j) must not build the initramfs twice at once.
exec 9>"$VMDIR/.lock-$kver"
flock 9

# The module files (plain, .xz or .zst) that loading modules $@ takes, in
# load order. Built-in ones need no file.
module_files() {
	local m verb path
	for m in "$@"; do
		modprobe -d "$kroot" -S "$kver" --show-depends "$m" ||
			fail "module $m neither in the image nor built in"
	done | while read -r verb path _; do
		[[ "$verb" == insmod ]] && echo "$path"
	done
}

# add_modules LIST FILE...: copies the modules into the initramfs tree $tmp,
# uncompressed, and names them in $tmp/modules/LIST, skipping any already
# there.
add_modules() {
	local list=$tmp/modules/$1 f m
	shift
	: >"$list"
	for f in "$@"; do
		m=$(basename "$f")
		m=${m%%.ko*}
		[[ -f "$tmp/modules/$m.ko" ]] && continue
		case "$f" in
		*.xz) xz -dc "$f" >"$tmp/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$tmp/modules/$m.ko" ;;
		*) cp "$f" "$tmp/modules/$m.ko" ;;
		esac
		echo "$m" >>"$list"
	done
}

# Step 2: the initramfs, rebuilt when any input changes.
build_initramfs() {
	local stamp want m tmp boot extra
	want=$( {
		echo "$kver $(cat "$kroot/.stamp")"
		sha256sum "$HERE/init.sh" "$BUSYBOX" "$HERE/vm-image.sh"
		echo "${BOOT_MODULES[*]} ${EXTRA_MODULES[*]}"
	} | sha256sum | cut -d' ' -f1)
	stamp=$initramfs.stamp
	if [[ -f "$initramfs" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
		return
	fi
	[[ -x "$BUSYBOX" ]] || fail "$BUSYBOX missing: install busybox-static (./run.sh setup)"
	tmp=$(mktemp -d "$VMDIR/.initramfs.XXXXXX")
	mkdir -p "$tmp"/{bin,dev,proc,sys,host,ctl,modules}
	cp "$BUSYBOX" "$tmp/bin/busybox"
	# The applet links, made here: `busybox --install` in the guest takes a
	# second under TCG.
	for m in $("$BUSYBOX" --list); do
		[[ "$m" == busybox ]] || ln -s busybox "$tmp/bin/$m"
	done
	install -m 0755 "$HERE/init.sh" "$tmp/init"
	if ! boot=$(module_files "${BOOT_MODULES[@]}") || ! extra=$(module_files "${EXTRA_MODULES[@]}"); then
		rm -rf "$tmp"
		exit 125
	fi
	# shellcheck disable=SC2086 # one path a word
	add_modules boot.order $boot && add_modules extra.order $extra
	# Uncompressed: the kernel unpacks it faster than it could inflate it.
	(cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$initramfs.new" ||
		{ rm -rf "$tmp"; fail "cpio failed"; }
	mv "$initramfs.new" "$initramfs"
	echo "$want" >"$stamp"
	rm -rf "$tmp"
}

# Step 3: the uncompressed kernel. qemu boots an ELF vmlinux with a PVH entry
# point directly, skipping the real-mode setup and the xz decompressor, which
# take 3 s under TCG. Without one (another compression, no PVH note) the
# bzImage is booted instead.
extract_vmlinux() {
	local elf=$kroot/vmlinux
	if [[ -f "$elf" && "$elf" -nt "$kernel" ]]; then
		boot_kernel=$elf
		return
	fi
	boot_kernel=$kernel
	if ! /usr/bin/python3 - "$kernel" "$elf.new" <<-'PY' 2>/dev/null; then
		import lzma, sys
		data = open(sys.argv[1], "rb").read()
		start = data.find(b"\xfd7zXZ\x00")
		if start < 0:
		    sys.exit(1)
		out = lzma.LZMADecompressor().decompress(data[start:])
		if out[:4] != b"\x7fELF":
		    sys.exit(1)
		open(sys.argv[2], "wb").write(out)
	PY
		rm -f "$elf.new"
		return
	fi
	# Xen ELF note 18 is XEN_ELFNOTE_PHYS32_ENTRY, the PVH entry point.
	if readelf -n "$elf.new" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
		mv "$elf.new" "$elf"
		boot_kernel=$elf
	else
		rm -f "$elf.new"
	fi
}

build_initramfs
extract_vmlinux
if ((print_paths)); then
	printf '%s %s %s %s\n' "$kver" "$boot_kernel" "$initramfs" "$kroot"
fi
