#include "placement.hpp"

#include "trace.hpp"

#include <map>
#include <sstream>
#include <unistd.h>

namespace bench {
bool parse_task_stat(const std::string &text, ThreadSample &s)
{
	// "TID (COMM) STATE PPID ...": the comm may hold spaces and ')'.
	size_t open = text.find('('), close = text.rfind(')');
	if (open == std::string::npos || close == std::string::npos || close < open)
		return false;
	s.comm = text.substr(open + 1, close - open - 1);
	std::istringstream rest(text.substr(close + 1));
	std::vector<std::string> f;
	for (std::string tok; rest >> tok;)
		f.push_back(tok);
	// f[0] is field 3 (state): utime 14, stime 15, processor 39.
	if (f.size() < 37)
		return false;
	try {
		s.utime_ticks = std::stoll(f[11]);
		s.stime_ticks = std::stoll(f[12]);
		s.cpu_ticks = s.utime_ticks + s.stime_ticks;
		s.last_cpu = std::stoi(f[36]);
	} catch (const std::exception &) {
		return false;
	}
	return true;
}

void parse_task_status(const std::string &text, ThreadSample &s)
{
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);) {
		size_t colon = line.find(':');
		if (colon == std::string::npos)
			continue;
		std::string key = line.substr(0, colon);
		std::string val = line.substr(colon + 1);
		val.erase(0, val.find_first_not_of(" \t"));
		try {
			if (key == "Cpus_allowed_list")
				s.cpus_allowed = val;
			else if (key == "voluntary_ctxt_switches")
				s.voluntary = std::stoll(val);
			else if (key == "nonvoluntary_ctxt_switches")
				s.involuntary = std::stoll(val);
		} catch (const std::exception &) {
			// a malformed count stays 0
		}
	}
}

std::vector<ThreadSample> sample_threads(pid_t pid)
{
	std::vector<ThreadSample> out;
	if (pid <= 0)
		return out;
	for (pid_t tid : threads_of(pid)) {
		std::string dir = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
		ThreadSample s;
		s.tid = tid;
		if (!parse_task_stat(slurp(dir + "/stat"), s))
			continue; // the thread ended meanwhile
		parse_task_status(slurp(dir + "/status"), s);
		out.push_back(s);
	}
	return out;
}

nlohmann::json thread_placement(const std::vector<ThreadSample> &before, const std::vector<ThreadSample> &after,
				long ticks_per_second)
{
	std::map<pid_t, const ThreadSample *> earlier;
	for (const ThreadSample &s : before)
		earlier[s.tid] = &s;
	const double tick = ticks_per_second > 0 ? 1.0 / static_cast<double>(ticks_per_second) : 0.01;
	nlohmann::json threads = nlohmann::json::array();
	std::map<int, double> by_cpu;
	for (const ThreadSample &s : after) {
		auto it = earlier.find(s.tid);
		const ThreadSample *b = it == earlier.end() ? nullptr : it->second;
		double cpu_s = static_cast<double>(s.cpu_ticks - (b ? b->cpu_ticks : 0)) * tick;
		threads.push_back({{"tid", s.tid},
				   {"comm", s.comm},
				   {"cpus_allowed", s.cpus_allowed},
				   {"last_cpu", s.last_cpu},
				   {"cpu_s", cpu_s},
				   {"voluntary_switches", s.voluntary - (b ? b->voluntary : 0)},
				   {"involuntary_switches", s.involuntary - (b ? b->involuntary : 0)},
				   {"new", b == nullptr}});
		by_cpu[s.last_cpu] += cpu_s;
	}
	nlohmann::json sums = nlohmann::json::object();
	for (const auto &[cpu, secs] : by_cpu)
		sums[std::to_string(cpu)] = secs;
	return {{"threads", threads}, {"cpu_s_by_last_cpu", sums}, {"ticks_per_second", ticks_per_second}};
}

} // namespace bench
