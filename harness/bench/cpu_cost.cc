#include "cpu_cost.hpp"

#include "placement.hpp"
#include "trace.hpp"

#include <algorithm>
#include <ctime>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace bench {
namespace {

double tick_s(long ticks_per_second)
{
	return ticks_per_second > 0 ? 1.0 / static_cast<double>(ticks_per_second) : 0.01;
}

double seconds(const timeval &tv)
{
	return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double monotonic_s()
{
	timespec ts {};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

CpuSplit minus(const CpuSplit &a, const CpuSplit &b)
{
	return {std::max(0.0, a.user_s - b.user_s), std::max(0.0, a.system_s - b.system_s)};
}

nlohmann::json split_json(const CpuSplit &s)
{
	return {{"user_s", s.user_s}, {"system_s", s.system_s}, {"total_s", s.total()}};
}

} // namespace

bool parse_proc_stat_busy(const std::string &text, long ticks_per_second, CpuSplit &out)
{
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		if (line.rfind("cpu ", 0) != 0)
			continue;
		std::istringstream f(line.substr(4));
		// user nice system idle iowait irq softirq [steal guest guest_nice]
		long long v[7];
		for (long long &x : v)
			if (!(f >> x) || x < 0)
				return false;
		const double t = tick_s(ticks_per_second);
		out.user_s = static_cast<double>(v[0] + v[1]) * t;
		out.system_s = static_cast<double>(v[2] + v[5] + v[6]) * t;
		return true;
	}
	return false;
}

bool parse_pid_stat_times(const std::string &text, long ticks_per_second, CpuSplit &out)
{
	ThreadSample s; // a process's stat reads like one of its threads'
	if (!parse_task_stat(text, s))
		return false;
	const double t = tick_s(ticks_per_second);
	out.user_s = static_cast<double>(s.utime_ticks) * t;
	out.system_s = static_cast<double>(s.stime_ticks) * t;
	return true;
}

nlohmann::json CpuCost::to_json() const
{
	nlohmann::json j = {{"window_s", window_s},
			    {"cpus", cpus},
			    {"machine", split_json(machine)},
			    {"app", split_json(app)},
			    {"daemon", split_json(daemon)},
			    {"other_s", other_s},
			    {"ops", ops}};
	if (window_s > 0 && cpus > 0)
		j["utilization"] = machine.total() / (window_s * cpus); // of all the CPUs there were
	return j;
}

void CpuCost::add_metrics(nlohmann::json &metrics) const
{
	if (ops <= 0)
		return;
	auto us = [&](double s) { return nlohmann::json {{"value", s * 1e6 / ops}, {"unit", "us"}}; };
	metrics["cpu.us_per_op"] = us(machine.total());
	metrics["cpu.app_us_per_op"] = us(app.total());
	metrics["cpu.daemon_us_per_op"] = us(daemon.total());
	metrics["cpu.other_us_per_op"] = us(other_s);
	if (machine.total() > 0)
		metrics["cpu.ops_per_cpu_s"] = {{"value", ops / machine.total()}, {"unit", "ops/CPU-s"}};
}

CpuMeter::CpuMeter(pid_t daemon_pid, int participants)
	: daemon_pid_(daemon_pid), participants_(std::max(1, participants))
{
	first_ = snapshot();
}

void CpuMeter::begin()
{
	std::lock_guard<std::mutex> g(lock_);
	if (begun_)
		return;
	begun_ = true;
	first_ = snapshot();
}

void CpuMeter::end()
{
	std::lock_guard<std::mutex> g(lock_);
	if (ended_ >= participants_)
		return;
	if (++ended_ == participants_)
		last_ = snapshot();
}

TimedWindow CpuMeter::window()
{
	return {[this] { begin(); }, [this] { end(); }};
}

CpuCost CpuMeter::cost(double ops)
{
	{
		std::lock_guard<std::mutex> g(lock_);
		if (ended_ < participants_) {
			ended_ = participants_;
			last_ = snapshot();
		}
	}
	CpuCost c;
	c.window_s = std::max(0.0, last_.at_s - first_.at_s);
	c.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
	c.machine = minus(last_.machine, first_.machine);
	c.app = minus(last_.app, first_.app);
	if (first_.daemon_seen && last_.daemon_seen)
		c.daemon = minus(last_.daemon, first_.daemon);
	c.other_s = std::max(0.0, c.machine.total() - c.app.total() - c.daemon.total());
	c.ops = ops;
	return c;
}

CpuSnapshot CpuMeter::snapshot() const
{
	const long hz = sysconf(_SC_CLK_TCK);
	CpuSnapshot s;
	s.at_s = monotonic_s();
	parse_proc_stat_busy(slurp("/proc/stat"), hz, s.machine);
	rusage self {}, children {};
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	s.app.user_s = seconds(self.ru_utime) + seconds(children.ru_utime);
	s.app.system_s = seconds(self.ru_stime) + seconds(children.ru_stime);
	if (daemon_pid_ > 0)
		s.daemon_seen = parse_pid_stat_times(slurp("/proc/" + std::to_string(daemon_pid_) + "/stat"), hz, s.daemon);
	return s;
}

} // namespace bench
