#include "trace.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bench {
namespace {

namespace stdfs = std::filesystem;

bool all_digits(const std::string &s, size_t from, size_t to)
{
	if (from >= to)
		return false;
	for (size_t i = from; i < to; ++i)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

std::vector<std::string> split_ws(const std::string &s)
{
	std::vector<std::string> out;
	std::istringstream in(s);
	std::string tok;
	while (in >> tok)
		out.push_back(tok);
	return out;
}

long long to_ll(const std::string &s)
{
	return std::strtoll(s.c_str(), nullptr, 10);
}

// "comm-PID [CPU] FLAGS SECS.USECS: EVENT: FIELDS" -> event; false for
// anything else (comments, LOST lines). The comm may hold '-' and spaces,
// so the line is anchored on "[CPU]" preceded by "-PID".
bool parse_line(const std::string &line, TraceEvent &ev)
{
	for (size_t b = line.find('['); b != std::string::npos; b = line.find('[', b + 1)) {
		size_t close = line.find(']', b);
		if (close == std::string::npos || !all_digits(line, b + 1, close))
			continue;
		size_t e = b;
		while (e > 0 && line[e - 1] == ' ')
			--e;
		size_t s = e;
		while (s > 0 && line[s - 1] >= '0' && line[s - 1] <= '9')
			--s;
		if (s == e || s == 0 || line[s - 1] != '-')
			continue;
		ev.pid = static_cast<int>(to_ll(line.substr(s, e - s)));
		ev.cpu = static_cast<int>(to_ll(line.substr(b + 1, close - b - 1)));
		// Tokens after "]": optional flags, then "SECS.USECS:", then "EVENT:".
		size_t pos = close + 1;
		for (int tries = 0; tries < 3; ++tries) {
			while (pos < line.size() && line[pos] == ' ')
				++pos;
			size_t end = line.find(' ', pos);
			if (end == std::string::npos)
				return false;
			std::string tok = line.substr(pos, end - pos);
			pos = end;
			size_t dot = tok.find('.');
			if (tok.size() > 1 && tok.back() == ':' && dot != std::string::npos &&
			    all_digits(tok, 0, dot) && all_digits(tok, dot + 1, tok.size() - 1)) {
				std::string frac = tok.substr(dot + 1, tok.size() - dot - 2);
				frac.resize(9, '0');
				ev.ts_ns = static_cast<uint64_t>(to_ll(tok.substr(0, dot))) * 1000000000ULL +
					   static_cast<uint64_t>(to_ll(frac));
				while (pos < line.size() && line[pos] == ' ')
					++pos;
				size_t colon = line.find(':', pos);
				if (colon == std::string::npos)
					return false;
				ev.name = line.substr(pos, colon - pos);
				std::vector<std::string> f = split_ws(line.substr(colon + 1));
				for (size_t i = 0; i < f.size(); ++i) {
					const std::string &t = f[i];
					size_t eq = t.find('=');
					bool has_next = i + 1 < f.size();
					if (eq != std::string::npos && eq > 0) {
						std::string key = t.substr(0, eq), val = t.substr(eq + 1);
						if (key == "prev_pid")
							ev.prev_pid = to_ll(val);
						else if (key == "next_pid")
							ev.next_pid = to_ll(val);
						else if (key == "pid")
							ev.wakee = to_ll(val);
						else if (key == "prev_state")
							ev.prev_state = val.empty() || val[0] == 'R' ? 0 : 1;
						else if (key == "unique")
							ev.unique = to_ll(val);
						else if (key == "opcode")
							ev.opcode = to_ll(val);
						else if (key == "error")
							ev.error = to_ll(val);
						else if (key == "req")
							ev.req = std::strtoull(val.c_str(), nullptr, 0);
						else if (key == "fetched_ns")
							ev.fetched_ns = std::strtoull(val.c_str(), nullptr, 10);
						else if (key == "replied_ns")
							ev.replied_ns = std::strtoull(val.c_str(), nullptr, 10);
					} else if (has_next) {
						if (t == "NR")
							ev.id = to_ll(f[i + 1]);
						else if (t == "=")
							ev.ret = to_ll(f[i + 1]);
						else if (t == "req")
							ev.unique = to_ll(f[i + 1]);
						else if (t == "len")
							ev.len = to_ll(f[i + 1]);
						else if (t == "opcode")
							ev.opcode = to_ll(f[i + 1]);
						else if (t == "error")
							ev.error = to_ll(f[i + 1]);
					}
				}
				return !ev.name.empty();
			}
		}
		return false;
	}
	return false;
}

// "PID CPU TS_NS type: N" (options/raw).
bool parse_raw_line(const std::string &line, int &pid, int &cpu, uint64_t &ts)
{
	std::vector<std::string> f = split_ws(line);
	if (f.size() < 3 || !all_digits(f[0], 0, f[0].size()) || !all_digits(f[1], 0, f[1].size()) ||
	    !all_digits(f[2], 0, f[2].size()))
		return false;
	pid = static_cast<int>(to_ll(f[0]));
	cpu = static_cast<int>(to_ll(f[1]));
	ts = std::strtoull(f[2].c_str(), nullptr, 10);
	return true;
}

std::string read_file(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

} // namespace

ParsedTrace parse_trace(const std::string &trace, const std::string &raw)
{
	ParsedTrace out;
	std::istringstream in(trace);
	std::string line;
	while (std::getline(in, line)) {
		if (line.empty() || line[0] == '#')
			continue;
		size_t lost = line.find("[LOST ");
		if (lost != std::string::npos && line.find(" EVENTS]") != std::string::npos) {
			out.lost_events += to_ll(line.substr(lost + 6));
			continue;
		}
		TraceEvent ev;
		if (parse_line(line, ev))
			out.events.push_back(ev);
	}
	if (raw.empty())
		return out;
	std::istringstream rin(raw);
	size_t i = 0;
	while (std::getline(rin, line)) {
		int pid = 0, cpu = 0;
		uint64_t ts = 0;
		if (line.empty() || line[0] == '#' || !parse_raw_line(line, pid, cpu, ts))
			continue;
		if (i >= out.events.size() || out.events[i].pid != pid || out.events[i].cpu != cpu ||
		    std::llabs(static_cast<long long>(ts / 1000) - static_cast<long long>(out.events[i].ts_ns / 1000)) > 1)
			throw std::runtime_error("raw trace line " + std::to_string(i) + " does not match the trace: " +
						 line);
		out.events[i++].ts_ns = ts;
	}
	if (i != out.events.size())
		throw std::runtime_error("raw trace has " + std::to_string(i) + " events, the trace " +
					 std::to_string(out.events.size()));
	out.ns_timestamps = true;
	return out;
}

std::string tracefs_root(std::string &why)
{
	why.clear();
	if (const char *env = std::getenv("RFUSE_BENCH_TRACEFS"); env != nullptr && *env) {
		if (access((std::string(env) + "/instances").c_str(), F_OK) == 0)
			return env;
		why = std::string("RFUSE_BENCH_TRACEFS=") + env + " is not a tracefs (no instances/)";
		return "";
	}
	const std::string root = "/sys/kernel/tracing";
	if (access((root + "/instances").c_str(), F_OK) == 0)
		return root;
	if (access(root.c_str(), F_OK) != 0) {
		why = root + " does not exist (kernel without tracing)";
		return "";
	}
	if (mount("nodev", root.c_str(), "tracefs", 0, nullptr) != 0) {
		why = "tracefs is not mounted at " + root + " and cannot be mounted: " + std::strerror(errno);
		return "";
	}
	if (access((root + "/instances").c_str(), F_OK) != 0) {
		why = root + " has no instances/";
		return "";
	}
	return root;
}

std::string missing_events(const std::string &root, const std::vector<std::string> &events)
{
	std::string missing;
	for (const std::string &e : events)
		if (access((root + "/events/" + e + "/enable").c_str(), F_OK) != 0)
			missing += (missing.empty() ? "" : ", ") + e;
	return missing;
}

TraceSession::TraceSession(const std::string &root, const std::vector<std::string> &events, size_t buffer_kb_per_cpu)
	: events_(events)
{
	static std::atomic<int> counter{0};
	dir_ = root + "/instances/rfuse-bench-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
	if (mkdir(dir_.c_str(), 0755) != 0)
		throw std::runtime_error("mkdir " + dir_ + ": " + std::strerror(errno));
	try {
		write("tracing_on", "0");
		try {
			write("trace_clock", "mono");
		} catch (const std::exception &) {
			write("trace_clock", "global"); // older kernels
		}
		write("buffer_size_kb", std::to_string(buffer_kb_per_cpu));
		write("options/event-fork", "1");
		for (const std::string &e : events_)
			write("events/" + e + "/enable", "1");
	} catch (...) {
		rmdir(dir_.c_str());
		throw;
	}
}

TraceSession::~TraceSession()
{
	try {
		write("tracing_on", "0");
		for (const std::string &e : events_)
			write("events/" + e + "/enable", "0");
	} catch (const std::exception &) {
		// rmdir below still frees the instance
	}
	for (int tries = 0; tries < 50 && rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++tries)
		usleep(10000);
}

void TraceSession::write(const std::string &file, const std::string &value)
{
	std::string path = dir_ + "/" + file;
	int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		throw std::runtime_error("open " + path + ": " + std::strerror(errno));
	ssize_t n = ::write(fd, value.data(), value.size());
	int err = errno;
	close(fd);
	if (n != static_cast<ssize_t>(value.size()))
		throw std::runtime_error("write '" + value + "' to " + path + ": " + std::strerror(err));
}

void TraceSession::filter_pids(const std::vector<pid_t> &pids)
{
	std::string list;
	for (pid_t p : pids)
		list += (list.empty() ? "" : " ") + std::to_string(p);
	write("set_event_pid", list);
}

void TraceSession::start()
{
	write("trace", ""); // clear
	write("tracing_on", "1");
}

void TraceSession::stop()
{
	write("tracing_on", "0");
}

void TraceSession::read(std::string &trace, std::string &raw)
{
	trace = read_file(dir_ + "/trace");
	write("options/raw", "1");
	raw = read_file(dir_ + "/trace");
	write("options/raw", "0");
}

namespace {

// Appends to a tracefs control file: kprobe_events opened with O_TRUNC
// would drop every kprobe event on the system, not only ours.
int append_control(const std::string &path, const std::string &line)
{
	int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = ::write(fd, line.data(), line.size());
	int err = n == static_cast<ssize_t>(line.size()) ? 0 : (n < 0 ? errno : EIO);
	close(fd);
	return err;
}

// The pid in "<prefix><pid><sep>...", or -1.
pid_t pid_after(const std::string &name, const std::string &prefix, char sep)
{
	if (name.compare(0, prefix.size(), prefix) != 0)
		return -1;
	size_t end = name.find(sep, prefix.size());
	if (end == std::string::npos || !all_digits(name, prefix.size(), end))
		return -1;
	return static_cast<pid_t>(to_ll(name.substr(prefix.size(), end - prefix.size())));
}

bool process_gone(pid_t pid)
{
	return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

} // namespace

std::string kprobe_line(const std::string &group, const KprobeDef &def)
{
	std::string line = "p:" + group + "/" + def.event + " " + def.symbol;
	if (!def.fetch.empty())
		line += " " + def.fetch;
	return line;
}

KprobeGroup::KprobeGroup(const std::string &root, const std::vector<KprobeDef> &defs) : root_(root)
{
	static std::atomic<int> counter{0};
	group_ = "rfuse_bench_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
	for (const KprobeDef &d : defs) {
		std::string line = kprobe_line(group_, d);
		if (int err = append_control(root_ + "/kprobe_events", line + "\n")) {
			remove_all();
			throw std::runtime_error("defining kprobe event '" + line + "' in " + root_ +
						 "/kprobe_events: " + std::strerror(err));
		}
		names_.push_back(d.event);
		lines_.push_back(line);
	}
}

KprobeGroup::~KprobeGroup()
{
	remove_all();
}

void KprobeGroup::remove_all()
{
	for (const std::string &name : names_) {
		std::string line = "-:" + group_ + "/" + name + "\n";
		// EBUSY while an instance that enabled it is still being torn down.
		for (int tries = 0; tries < 50 && append_control(root_ + "/kprobe_events", line) == EBUSY; ++tries)
			usleep(10000);
	}
	names_.clear();
}

std::vector<std::string> KprobeGroup::events() const
{
	std::vector<std::string> out;
	for (const std::string &name : names_)
		out.push_back(group_ + "/" + name);
	return out;
}

void remove_stale_tracing(const std::string &root)
{
	std::error_code ec;
	for (const auto &e : stdfs::directory_iterator(root + "/instances", ec)) {
		std::string name = e.path().filename().string();
		if (process_gone(pid_after(name, "rfuse-bench-", '-')))
			rmdir(e.path().c_str()); // disables its events
	}
	std::string defs;
	try {
		defs = read_file(root + "/kprobe_events");
	} catch (const std::exception &) {
		return; // no kprobe events on this kernel
	}
	// Lines read "p:GROUP/EVENT SYMBOL ARGS".
	std::istringstream in(defs);
	std::string line;
	while (std::getline(in, line)) {
		size_t colon = line.find(':'), space = line.find(' ');
		if (colon == std::string::npos || space == std::string::npos || space < colon)
			continue;
		std::string event = line.substr(colon + 1, space - colon - 1);
		if (process_gone(pid_after(event, "rfuse_bench_", '_')))
			append_control(root + "/kprobe_events", "-:" + event + "\n");
	}
}

bool find_kallsyms(const std::string &kallsyms, const std::string &symbol, std::string &module, std::string &why)
{
	// Lines read "ADDRESS TYPE NAME" or "ADDRESS TYPE NAME\t[MODULE]".
	int found = 0;
	std::istringstream in(kallsyms);
	std::string line;
	while (std::getline(in, line)) {
		std::vector<std::string> f = split_ws(line);
		if (f.size() < 3 || f[2] != symbol || (f[1] != "t" && f[1] != "T"))
			continue;
		++found;
		module.clear();
		if (f.size() > 3 && f[3].size() > 2 && f[3].front() == '[' && f[3].back() == ']')
			module = f[3].substr(1, f[3].size() - 2);
	}
	if (found == 1)
		return true;
	why = found == 0 ? symbol + " is not in /proc/kallsyms (inlined, or the module is not loaded)"
			 : symbol + " is in /proc/kallsyms " + std::to_string(found) + " times";
	return false;
}

std::string slurp(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

std::vector<pid_t> threads_of(pid_t pid)
{
	std::vector<pid_t> out;
	std::error_code ec;
	for (const auto &e : stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
		out.push_back(static_cast<pid_t>(std::atol(e.path().filename().c_str())));
	return out;
}

} // namespace bench
