#include "interrupt.hpp"

#include "mount.hpp"

#include <array>
#include <atomic>
#include <climits>
#include <csignal>
#include <cstdio>
#include <sys/mount.h>

namespace bench {
namespace {

std::atomic<int> g_signal{0};
struct sigaction g_chained[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

struct NativeMount {
	std::atomic<int> state{0}; // 0 free, 1 being filled, 2 live
	char path[PATH_MAX];
};
std::array<NativeMount, 16> g_native;

void on_signal(int sig)
{
	if (g_signal.exchange(sig) == 0)
		return;
	// Second signal: the user means it.
	for (NativeMount &m : g_native)
		if (m.state.load() == 2)
			umount2(m.path, MNT_DETACH);
	for (int i = 0; i < 3; ++i) {
		if (kSignals[i] != sig)
			continue;
		if (g_chained[i].sa_handler != SIG_DFL && g_chained[i].sa_handler != SIG_IGN &&
		    g_chained[i].sa_handler != nullptr)
			g_chained[i].sa_handler(sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

} // namespace

void install_interrupt_handler()
{
	harness::install_emergency_cleanup();
	struct sigaction sa {};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; ++i)
		sigaction(kSignals[i], &sa, &g_chained[i]);
}

bool stop_requested()
{
	return g_signal.load(std::memory_order_relaxed) != 0;
}

int stop_signal()
{
	return g_signal.load();
}

int register_native_mount(const std::string &mountpoint)
{
	for (size_t i = 0; i < g_native.size(); ++i) {
		int expect = 0;
		if (g_native[i].state.compare_exchange_strong(expect, 1)) {
			std::snprintf(g_native[i].path, sizeof(g_native[i].path), "%s", mountpoint.c_str());
			g_native[i].state.store(2);
			return static_cast<int>(i);
		}
	}
	return -1;
}

void unregister_native_mount(int slot)
{
	if (slot >= 0)
		g_native[slot].state.store(0);
}

} // namespace bench
