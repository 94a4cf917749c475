// Lazily unmounts everything below a directory: the CTest fixture that
// cleans up after tests that were killed (timeout, crash) mid-mount.
#include "mount.hpp"

#include <cstdio>

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: mount_sweep DIR\n");
		return 2;
	}
	int n = harness::unmount_all_under(argv[1]);
	if (n > 0)
		std::printf("mount_sweep: unmounted %d leftover mount(s) under %s\n", n, argv[1]);
	return 0;
}
