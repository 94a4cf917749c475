// What librfuse and libfuse say. librfuse's own lines go to stderr through
// log(); libfuse's go through its log function, which librfuse replaces
// with one that prints exactly as before (stderr, or the program's own
// function: fuse_set_log_func() is interposed here) and remembers errors.
// Both are remembered so that a failed mount can say why in the statistics
// file, whichever layer refused it (libfuse's INIT included).
#include "librfuse_internal.hpp"

#include <fuse_log.h>

#include <atomic>
#include <dlfcn.h>
#include <cstdio>
#include <mutex>
#include <string>

namespace rfuse::detail {
namespace {

struct LastMessage {
	std::mutex lock;
	std::uint64_t count = 0; // messages remembered so far
	std::string text;
};
LastMessage &last_message()
{
	static LastMessage *m = new LastMessage; // leaked: atexit writers may still ask
	return *m;
}

void remember(const char *line)
{
	std::string text = line;
	while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
		text.pop_back();
	LastMessage &m = last_message();
	std::lock_guard<std::mutex> g(m.lock);
	m.text = std::move(text);
	++m.count;
}

// The program's own log function (null: libfuse's default, stderr).
std::atomic<fuse_log_func_t> g_program_log{nullptr};

void libfuse_message(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (level <= FUSE_LOG_ERR) {
		va_list copy;
		va_copy(copy, ap);
		char line[1024];
		std::vsnprintf(line, sizeof(line), fmt, copy);
		va_end(copy);
		remember(line);
	}
	if (fuse_log_func_t program = g_program_log.load(std::memory_order_acquire))
		program(level, fmt, ap);
	else
		std::vfprintf(stderr, fmt, ap); // what libfuse's default does
}

void (*real_set_log_func())(fuse_log_func_t)
{
	static void (*fn)(fuse_log_func_t) =
		reinterpret_cast<void (*)(fuse_log_func_t)>(dlvsym(RTLD_NEXT, "fuse_set_log_func", "FUSE_3.7"));
	return fn;
}

} // namespace

void log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	std::fprintf(stderr, "librfuse: %s\n", line);
	remember(line);
}

void capture_libfuse_messages()
{
	static std::once_flag once;
	std::call_once(once, [] {
		if (auto set = real_set_log_func())
			set(libfuse_message);
	});
}

std::uint64_t message_mark()
{
	LastMessage &m = last_message();
	std::lock_guard<std::mutex> g(m.lock);
	return m.count;
}

std::string last_message_since(std::uint64_t mark)
{
	LastMessage &m = last_message();
	std::lock_guard<std::mutex> g(m.lock);
	return m.count > mark ? m.text : std::string();
}

} // namespace rfuse::detail

// libfuse3's fuse_set_log_func@FUSE_3.7: the program's function is kept
// behind librfuse's, which stays installed.
extern "C" __attribute__((symver("fuse_set_log_func@@FUSE_3.7")))
void rfuse_set_log_func(fuse_log_func_t func)
{
	rfuse::detail::g_program_log.store(func, std::memory_order_release);
	rfuse::detail::capture_libfuse_messages();
}
