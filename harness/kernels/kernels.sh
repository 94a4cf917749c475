#!/usr/bin/env bash
# The Debian kernels rfuse.ko is built and tested for (rfuse-kmod/kernels.json):
# fetched and built without touching the host's packages.
#
#   kernels.sh lines                 the supported lines, one a line ("6.1 6.12 7")
#   kernels.sh line [LINE]           the line named by LINE, else $RFUSE_KERNEL, else
#                                    the default; refuses an unknown one
#   kernels.sh abi [LINE]            that line's kernel ABI (uname -r), e.g. 7.3.4+deb13-amd64
#   kernels.sh get LINE FIELD        one field of the line (version, release, archive, ...)
#   kernels.sh image [LINE]          unpack its image and modules; print the tree (holds
#                                    lib/modules/ABI with modules.dep, and the kernel at
#                                    lib/modules/ABI/vmlinuz)
#   kernels.sh source [LINE]         extract fs/fuse/*.h and checkpatch.pl from its
#                                    linux-source; print the folder
#   kernels.sh build LINE SRC OUT    build rfuse.ko from SRC (rfuse-kmod/) into OUT,
#                                    with kbuild running in the line's chroot
#   kernels.sh kbuild DIR            `make modules` for the out-of-tree module in DIR,
#                                    against the $RFUSE_KERNEL line's headers, in its chroot
#   kernels.sh chroot [LINE]         make the line's chroot; print it
#   kernels.sh abi-of-running        the line whose ABI is `uname -r`, or exit 1
#
# Everything lands in $RFUSE_KERNELS_DIR (default $RFUSE_BUILD_DIR/kernels, i.e.
# build/kernels; several build trees may share one): a chroot
# per Debian release (mmdebstrap, minbase, with the lines' linux-headers installed
# at their pinned versions; used for apt and kbuild), the downloaded packages'
# trees per ABI. The mirrors are the host apt's own (its sources' URIs). Exit 2
# on bad arguments, 125 when something cannot be fetched or built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(realpath -m "${RFUSE_BUILD_DIR:-$ROOT/build}")
DATA=$ROOT/rfuse-kmod/kernels.json
KDIR=$(realpath -m "${RFUSE_KERNELS_DIR:-$BUILD/kernels}")

say() { printf 'kernels: %s\n' "$*" >&2; }
usage_fail() { say "$*"; exit 2; }
fail() { say "$*"; exit 125; }

command -v jq >/dev/null || fail "jq is missing: run ./run.sh setup"
[[ -r $DATA ]] || fail "cannot read $DATA"

lines() { jq -r '.lines | keys_unsorted[]' "$DATA"; }

# resolve_line [LINE]: LINE, else $RFUSE_KERNEL, else the default; checked.
resolve_line() {
	local want=${1:-${RFUSE_KERNEL:-}}
	[[ -n $want ]] || want=$(jq -r '.default' "$DATA")
	# The line's name, its ABI, or a major.minor[.patch] its ABI starts with ("7.3").
	local l abi prefix=0
	[[ $want =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] && prefix=1
	for l in $(lines); do
		abi=$(field "$l" abi)
		if [[ $want == "$l" || $want == "$abi" ]] ||
			{ ((prefix)) && [[ $abi == "$want".* || $abi == "$want"+* || $abi == "$want"-* ]]; }; then
			echo "$l"
			return
		fi
	done
	usage_fail "unsupported kernel '$want': supported are $(lines | tr '\n' ' ')(RFUSE_KERNEL or --kernel; rfuse-kmod/kernels.json pins each)"
}

field() {
	jq -er --arg l "$1" --arg f "$2" '.lines[$l][$f] | if type == "array" then join(" ") else . end' "$DATA" ||
		fail "rfuse-kmod/kernels.json: line $1 has no field $2"
}

# The host apt's mirror URIs, in order: the first is the main archive, one
# ending in -security the security archive (deb822 or one-line sources).
mirrors() {
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | sed 's/^URIs:[[:space:]]*//' | tr ' ' '\n'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}'
	} | grep -E '^https?://' | awk '!seen[$0]++'
}

# chroot_dir RELEASE: makes (once) a minbase chroot of RELEASE for kbuild and
# apt, with every suite of the release (updates, security, backports).
chroot_dir() {
	local rel=$1 dir=$KDIR/chroot-$rel main sec suite src=() keyring
	if [[ -f $dir/.ready ]]; then
		echo "$dir"
		return
	fi
	command -v mmdebstrap >/dev/null || fail "mmdebstrap is missing: run ./run.sh setup"
	main=$(mirrors | grep -v -- '-security' | head -1)
	sec=$(mirrors | grep -- '-security' | head -1)
	[[ -n $main ]] || fail "no Debian mirror in the host's apt sources"
	for suite in $(jq -r --arg r "$rel" '.releases[$r][]' "$DATA"); do
		if [[ $suite == *-security ]]; then
			[[ -n $sec ]] && src+=("deb $sec $suite main")
		else
			src+=("deb $main $suite main")
		fi
	done
	((${#src[@]})) || fail "rfuse-kmod/kernels.json names no suites for $rel"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	say "making a $rel chroot for kbuild in $dir (once; a few minutes)"
	rm -rf "$dir" "$dir.new"
	mkdir -p "$KDIR"
	if ! mmdebstrap --mode=root --variant=minbase --quiet \
		--keyring="$keyring" --include=make,binutils,xz-utils --skip=cleanup/apt/lists \
		"$rel" "$dir.new" "${src[@]}" >"$KDIR/chroot-$rel.log" 2>&1; then
		tail -n 20 "$KDIR/chroot-$rel.log" >&2
		rm -rf "$dir.new"
		fail "mmdebstrap $rel failed (log: $KDIR/chroot-$rel.log)"
	fi
	mv "$dir.new" "$dir"
	touch "$dir/.ready"
	echo "$dir"
}

# in_chroot DIR CMD...: runs CMD in DIR with /proc and /dev/pts, in a mount
# namespace of its own, so the mounts vanish with it on every path.
in_chroot() {
	local dir=$1
	shift
	unshare --mount --propagation private --fork -- /bin/sh -c '
		d=$1; shift
		mount -t proc proc "$d/proc" && mount -t devpts devpts "$d/dev/pts" 2>/dev/null
		[ -n "${RFUSE_CHROOT_BIND:-}" ] && { mkdir -p "$d/build/bind" && mount --bind "$RFUSE_CHROOT_BIND" "$d/build/bind" || exit 125; }
		exec chroot "$d" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
			DEBIAN_FRONTEND=noninteractive "$@"' sh "$dir" "$@"
}

# apt_in CHROOT CWD ARGS...: apt-get ARGS in the chroot, in its folder CWD; an
# unknown version refreshes the lists once and tries again.
apt_in() {
	local dir=$1 cwd=$2 try
	shift 2
	for try in 1 2; do
		in_chroot "$dir" /bin/sh -c 'cd "$1" && shift && exec apt-get -qq -o APT::Sandbox::User=root "$@"' \
			sh "$cwd" "$@" >/dev/null 2>"$KDIR/apt.err" && return 0
		((try == 1)) && { in_chroot "$dir" apt-get -qq update >/dev/null 2>>"$KDIR/apt.err" || true; }
	done
	cat "$KDIR/apt.err" >&2
	return 1
}

# line_chroot LINE: the line's release chroot with its headers installed.
line_chroot() {
	local line=$1 rel dir hdr ver have
	rel=$(field "$line" release)
	hdr=$(field "$line" headers)
	ver=$(field "$line" version)
	dir=$(chroot_dir "$rel")
	have=$(in_chroot "$dir" dpkg-query -W -f='${Status} ${Version}' "$hdr" 2>/dev/null || true)
	if [[ $have != "install ok installed $ver" ]]; then
		say "installing $hdr=$ver in the $rel chroot"
		apt_in "$dir" / install -y --no-install-recommends "$hdr=$ver" ||
			fail "cannot install $hdr=$ver in the $rel chroot: is the pin in rfuse-kmod/kernels.json still in the archive ($(field "$line" archive))?"
	fi
	echo "$dir"
}

# download LINE DEST PKG...: the packages at the line's version, checked.
download() {
	local line=$1 dest=$2 ver dir p deb
	shift 2
	ver=$(field "$line" version)
	dir=$(line_chroot "$line")
	rm -rf "$dir/var/cache/rfuse-fetch"
	mkdir -p "$dir/var/cache/rfuse-fetch" "$dest"
	local want=()
	for p in "$@"; do want+=("$p=$ver"); done
	say "fetching ${want[*]}"
	apt_in "$dir" /var/cache/rfuse-fetch download "${want[@]}" ||
		fail "cannot download ${want[*]} (rfuse-kmod/kernels.json pins them; archive: $(field "$line" archive))"
	for p in "$@"; do
		deb=$(ls "$dir/var/cache/rfuse-fetch/${p}_"*.deb 2>/dev/null | head -1)
		[[ -n $deb && "$(dpkg-deb -f "$deb" Version)" == "$ver" ]] ||
			fail "downloaded $p is not version $ver: refusing it"
		mv "$deb" "$dest/"
	done
	rm -rf "$dir/var/cache/rfuse-fetch"
}

# image LINE: the unpacked image and modules, with modules.dep, kernel at
# lib/modules/ABI/vmlinuz. Cached per ABI with the version as stamp.
image_tree() {
	local line=$1 abi ver tree tmp deb k
	abi=$(field "$line" abi)
	ver=$(field "$line" version)
	tree=$KDIR/$abi/root
	if [[ "$(cat "$tree/.stamp" 2>/dev/null)" == "$ver" ]]; then
		echo "$tree"
		return
	fi
	mkdir -p "$KDIR/$abi"
	tmp=$(mktemp -d "$KDIR/$abi/.image.XXXXXX")
	# shellcheck disable=SC2046 # package names are words
	download "$line" "$tmp/debs" $(field "$line" image)
	mkdir -p "$tmp/root"
	for deb in "$tmp"/debs/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; fail "cannot unpack $deb"; }
	done
	# Debian 13 ships /usr/lib/modules (merged /usr); depmod and the rig want lib/.
	if [[ -d $tmp/root/usr/lib/modules/$abi && ! -e $tmp/root/lib/modules/$abi ]]; then
		mkdir -p "$tmp/root/lib/modules"
		mv "$tmp/root/usr/lib/modules/$abi" "$tmp/root/lib/modules/$abi"
	fi
	k=$tmp/root/lib/modules/$abi/vmlinuz
	[[ -f $k ]] || mv "$tmp/root/boot/vmlinuz-$abi" "$k" 2>/dev/null ||
		{ rm -rf "$tmp"; fail "no kernel image (vmlinuz) for $abi in $(field "$line" image)"; }
	[[ -f $tmp/root/lib/modules/$abi/config ]] || cp "$tmp/root/boot/config-$abi" "$tmp/root/lib/modules/$abi/config" 2>/dev/null || true
	depmod -b "$tmp/root" "$abi" || { rm -rf "$tmp"; fail "depmod $abi failed"; }
	rm -rf "$tmp/debs" "$tree"
	echo "$ver" >"$tmp/root/.stamp"
	mv "$tmp/root" "$tree"
	rm -rf "$tmp"
	echo "$tree"
}

# source LINE: fs/fuse/*.h (fuse_i.h and what it includes) and checkpatch.pl
# from linux-source of exactly the line's version.
source_tree() {
	local line=$1 abi ver dir tmp src deb major
	abi=$(field "$line" abi)
	ver=$(field "$line" version)
	dir=$KDIR/$abi/source
	if [[ "$(cat "$dir/VERSION" 2>/dev/null)" == "$ver" ]]; then
		echo "$dir"
		return
	fi
	src=$(field "$line" source)
	major=${src#linux-source-}
	mkdir -p "$KDIR/$abi"
	tmp=$(mktemp -d "$KDIR/$abi/.source.XXXXXX")
	download "$line" "$tmp" "$src"
	deb=$(ls "$tmp"/*.deb)
	mkdir -p "$tmp/src"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-source-$major.tar.xz" |
		tar -xJ -C "$tmp/src" --strip-components=1 --wildcards '*/fs/fuse/*.h' \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' ||
		{ rm -rf "$tmp"; fail "cannot extract fs/fuse from $deb"; }
	[[ -f $tmp/src/fs/fuse/fuse_i.h ]] || { rm -rf "$tmp"; fail "$deb has no fs/fuse/fuse_i.h"; }
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$tmp/src/fs/fuse" "$dir/fuse-internal"
	mv "$tmp/src/scripts" "$dir/scripts"
	echo "$ver" >"$dir/fuse-internal/VERSION"
	echo "$ver" >"$dir/VERSION"
	rm -rf "$tmp"
	echo "$dir"
}

# kbuild LINE DIR: `make modules` for the module in DIR, in the line's chroot.
kbuild() {
	local line=$1 dir
	dir=$(line_chroot "$line")
	RFUSE_CHROOT_BIND=$2 in_chroot "$dir" make -s -C "/usr/src/$(field "$line" headers)" M=/build/bind modules >&2
}

# build LINE SRC OUT: rfuse.ko for the line, from the sources in SRC, built in
# OUT (a copy: out-of-tree kbuild writes beside its sources).
build() {
	local line=$1 src=$2 out=$3 abi srcdir
	abi=$(field "$line" abi)
	srcdir=$(source_tree "$line")
	mkdir -p "$out/fuse-internal"
	cp -u "$src"/{Kbuild,*.c,*.h} "$out/"
	[[ -d $src/include ]] && cp -ru "$src/include" "$out/"
	if [[ "$(cat "$out/fuse-internal/VERSION" 2>/dev/null)" != "$(cat "$srcdir/VERSION")" ]]; then
		rm -rf "$out/fuse-internal"
		cp -r "$srcdir/fuse-internal" "$out/fuse-internal"
	fi
	kbuild "$line" "$out" || fail "building rfuse.ko for $abi failed"
	[[ "$(modinfo -F vermagic "$out/rfuse.ko" | awk '{print $1}')" == "$abi" ]] ||
		fail "$out/rfuse.ko is not built for $abi"
}

cmd=${1:-}
[[ -n $cmd ]] || usage_fail "usage: kernels.sh lines|line|abi|get|image|source|build|kbuild|chroot|abi-of-running (see the top of $0)"
shift
mkdir -p "$KDIR"
case $cmd in
lines) lines ;;
line) resolve_line "${1:-}" ;;
abi) line=$(resolve_line "${1:-}") && field "$line" abi ;;
get)
	(($# == 2)) || usage_fail "usage: kernels.sh get LINE FIELD"
	line=$(resolve_line "$1") && field "$line" "$2"
	;;
chroot | image | source)
	line=$(resolve_line "${1:-}")
	# One fetcher or builder at a time (parallel tests and builds share chroots).
	exec 9>"$KDIR/.lock"
	flock 9
	case $cmd in
	chroot) line_chroot "$line" ;;
	image) image_tree "$line" ;;
	source) source_tree "$line" ;;
	esac
	;;
kbuild)
	(($# == 1)) || usage_fail "usage: kernels.sh kbuild DIR"
	line=$(resolve_line "")
	exec 9>"$KDIR/.lock"
	flock 9
	kbuild "$line" "$(realpath "$1")" || fail "kbuild in $1 failed"
	;;
build)
	(($# == 3)) || usage_fail "usage: kernels.sh build LINE SRC OUT"
	line=$(resolve_line "$1")
	exec 9>"$KDIR/.lock"
	flock 9
	build "$line" "$(realpath "$2")" "$(realpath -m "$3")"
	;;
abi-of-running)
	for l in $(lines); do
		[[ "$(field "$l" abi)" == "$(uname -r)" ]] && { echo "$l"; exit 0; }
	done
	exit 1
	;;
*) usage_fail "unknown command '$cmd' (lines, line, abi, get, image, source, build, kbuild, chroot, abi-of-running)" ;;
esac
