#include "timed_threads.hpp"

#include "cpu.hpp"

#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace bench {

using Clock = std::chrono::steady_clock;

void throw_errno(const std::string &call, const std::string &path)
{
	throw std::runtime_error(call + " " + path + ": " + std::strerror(errno));
}

TimedThreadsResult run_timed_threads(const std::vector<int> &cpus, double duration_s,
				     const std::function<bool()> &should_stop,
				     const std::function<void(int t, const std::atomic<bool> &stop)> &body,
				     const TimedWindow &window)
{
	int n = static_cast<int>(cpus.size());
	TimedThreadsResult r;
	r.elapsed_s.assign(n, 0.0);
	std::atomic<bool> stop{false};
	std::mutex error_lock;
	auto record_error = [&](const std::string &msg) {
		std::lock_guard<std::mutex> g(error_lock);
		if (r.error.empty())
			r.error = msg;
		stop.store(true);
	};
	// The coordinator joins the barrier too: it starts the clock.
	std::barrier start(n + 1);
	std::vector<std::thread> workers;
	for (int t = 0; t < n; ++t) {
		workers.emplace_back([&, t] {
			int pin_err = pin_current_thread(cpus[t]);
			start.arrive_and_wait();
			auto begin = Clock::now();
			try {
				if (pin_err != 0) {
					errno = pin_err;
					throw_errno("sched_setaffinity", "cpu " + std::to_string(cpus[t]));
				}
				body(t, stop);
			} catch (const std::exception &e) {
				record_error("thread " + std::to_string(t) + ": " + e.what());
			}
			r.elapsed_s[t] = std::chrono::duration<double>(Clock::now() - begin).count();
		});
	}
	if (window.begin)
		window.begin();
	start.arrive_and_wait();
	Clock::time_point deadline =
		Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
	while (Clock::now() < deadline && !stop.load()) {
		if (should_stop && should_stop()) {
			record_error("stopped early");
			break;
		}
		Clock::duration left = deadline - Clock::now();
		std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(10)));
	}
	stop.store(true);
	for (std::thread &w : workers)
		w.join();
	if (window.end)
		window.end();
	return r;
}

} // namespace bench
