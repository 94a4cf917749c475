#!/bin/bash
# build-reference.sh COMMIT OUT_DIR
# Builds the filesystem daemons (and librfuse) of the source tree at COMMIT
# into OUT_DIR/<commit>, the reference a gate confirmation measures beside
# this tree (harness/gate/README.md). Prints the reference's bin directory
# as its last line of stdout; build output goes to stderr. A build of the
# same commit is reused. Exit 1 when COMMIT is not in this clone's history
# or does not build.
set -euo pipefail
commit=${1:?usage: build-reference.sh COMMIT OUT_DIR}
out=${2:?usage: build-reference.sh COMMIT OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "$out")

full=$(git -C "$root" rev-parse --verify --quiet "$commit^{commit}") || {
	echo "build-reference: commit $commit is not in the history of $root (a shallow clone?)" >&2
	exit 1
}
dir=$out/$full
bin=$dir/build/bin
targets=(nullfs-fuse memfs-fuse stackfs-fuse nullfs-rfuse memfs-rfuse stackfs-rfuse)

if [[ ! -f $dir/built ]]; then
	rm -rf "$dir"
	mkdir -p "$dir/src"
	git -C "$root" archive "$full" | tar -x -C "$dir/src"
	# The same build type and compiler flags as run.sh's own build.
	cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
		${CMAKE_ARGS:-} >&2
	cmake --build "$dir/build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}" >&2
	touch "$dir/built"
fi
for t in "${targets[@]}"; do
	[[ -x $bin/$t ]] || { echo "build-reference: $bin/$t was not built" >&2; exit 1; }
done
echo "build-reference: daemons of $full in $bin" >&2
echo "$bin"
