#include "cpu.hpp"

#include <algorithm>
#include <fstream>
#include <pthread.h>
#include <sched.h>
#include <sstream>
#include <tuple>

namespace bench {
namespace {

int read_int(const std::string &path, int fallback)
{
	std::ifstream in(path);
	int v;
	return (in >> v) ? v : fallback;
}

// Position of `cpu` among its SMT siblings ("0-1" or "0,40" lists).
int smt_index(int cpu)
{
	std::ifstream in("/sys/devices/system/cpu/cpu" + std::to_string(cpu) +
			 "/topology/thread_siblings_list");
	std::string text;
	if (!std::getline(in, text))
		return 0;
	std::vector<int> siblings;
	std::stringstream ss(text);
	std::string part;
	while (std::getline(ss, part, ',')) {
		size_t dash = part.find('-');
		int lo = std::stoi(part.substr(0, dash));
		int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
		for (int c = lo; c <= hi; ++c)
			siblings.push_back(c);
	}
	std::sort(siblings.begin(), siblings.end());
	auto it = std::find(siblings.begin(), siblings.end(), cpu);
	return it == siblings.end() ? 0 : static_cast<int>(it - siblings.begin());
}

} // namespace

std::vector<int> cpu_order()
{
	cpu_set_t set;
	CPU_ZERO(&set);
	std::vector<int> cpus;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; ++c)
			if (CPU_ISSET(c, &set))
				cpus.push_back(c);
	}
	if (cpus.empty())
		cpus.push_back(0);
	using Key = std::tuple<int, int, int, int>;
	std::vector<std::pair<Key, int>> keyed;
	for (int c : cpus) {
		std::string topo = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
		keyed.push_back({Key{smt_index(c), read_int(topo + "physical_package_id", 0),
				     read_int(topo + "core_id", c), c},
				 c});
	}
	std::sort(keyed.begin(), keyed.end());
	std::vector<int> order;
	for (auto &[key, c] : keyed)
		order.push_back(c);
	return order;
}

std::vector<int> scaling_thread_counts(int max_threads)
{
	std::vector<int> counts;
	for (int n = 1; n < max_threads; n *= 2)
		counts.push_back(n);
	if (max_threads >= 1)
		counts.push_back(max_threads);
	return counts;
}

int pin_current_thread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

std::string cpu_list(const std::vector<int> &order, int n)
{
	std::string out;
	for (int i = 0; i < n && i < static_cast<int>(order.size()); ++i) {
		if (!out.empty())
			out += ',';
		out += std::to_string(order[i]);
	}
	return out;
}

} // namespace bench
