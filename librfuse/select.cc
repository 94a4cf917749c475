// Which transport a session gets: the environment names it, this file
// builds it. The fallback to classic FUSE is decided in interpose.cc (before
// mounting, from Transport::probe()) or by a transport itself (after INIT).
#include "librfuse_internal.hpp"

#if __has_include("rfuse/rfuse_transport.hpp")
#include "rfuse/rfuse_transport.hpp"
#define LIBRFUSE_HAVE_RFUSE 1
#else
#define LIBRFUSE_HAVE_RFUSE 0
#endif

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace rfuse {
namespace {

constexpr const char *kDefaultTransport = "rfuse";
constexpr const char *kValidTransports = "fuse, rfuse, uring";

// The variable's value, or null when it is unset or empty (the default).
const char *env(const char *var)
{
	const char *text = std::getenv(var);
	return text != nullptr && *text != '\0' ? text : nullptr;
}

// Checks one variable; each failed check adds its complaint to the list.
class EnvCheck {
public:
	// An integer from min to max, decimal.
	void read_unsigned(const char *var, unsigned min, unsigned max, unsigned *out)
	{
		const char *text = env(var);
		if (text == nullptr)
			return;
		errno = 0;
		char *end = nullptr;
		unsigned long v = std::strtoul(text, &end, 10);
		if (errno != 0 || end == text || *end != '\0' || !std::isdigit(static_cast<unsigned char>(*text)) ||
		    v < min || v > max) {
			complain(std::string(var) + "=" + text + ": expected an integer from " + std::to_string(min) +
				 " to " + std::to_string(max));
			return;
		}
		*out = static_cast<unsigned>(v);
	}

	// 0 or 1.
	void read_switch(const char *var, bool *out)
	{
		const char *text = env(var);
		if (text == nullptr)
			return;
		if (std::strcmp(text, "0") != 0 && std::strcmp(text, "1") != 0) {
			complain(std::string(var) + "=" + text + ": expected 0 or 1");
			return;
		}
		*out = text[0] == '1';
	}

	// A file librfuse can create by renaming a temporary file next to it:
	// its directory must exist and be writable, and the path must not be
	// anything but a regular file (a rename over /dev/null would replace it).
	void read_stats_file(const char *var, std::string *out)
	{
		const char *text = env(var);
		if (text == nullptr)
			return;
		std::string path = text;
		std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
		if (dir.empty())
			dir = "/";
		struct stat st {};
		if (path.back() == '/') {
			complain(std::string(var) + "=" + path + ": names a directory, not a file");
		} else if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
			complain(std::string(var) + "=" + path + ": directory " + dir + " does not exist");
		} else if (access(dir.c_str(), W_OK) != 0) {
			complain(std::string(var) + "=" + path + ": directory " + dir + " is not writable (" +
				 std::strerror(errno) + ")");
		} else if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
			complain(std::string(var) + "=" + path + ": exists and is not a regular file");
		} else {
			*out = path;
		}
	}

	// Kernel mount options: name[=value],... (no spaces); not the ones
	// librfuse sets itself.
	void read_mount_options(const char *var, std::string *out)
	{
		const char *text = env(var);
		if (text == nullptr)
			return;
		std::string list = text, result;
		size_t start = 0;
		while (start <= list.size()) {
			size_t comma = list.find(',', start);
			std::string opt = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
			std::string name = opt.substr(0, opt.find('='));
			bool plain_name = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
										"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
									std::string::npos;
			if (!plain_name || opt.find_first_of(" \t\n") != std::string::npos) {
				complain(std::string(var) + "=" + list + ": expected name[=value],... without spaces");
				return;
			}
			if (name == "fd" || name == "rootmode" || name == "user_id" || name == "group_id") {
				complain(std::string(var) + "=" + list + ": " + name + "= is set by librfuse");
				return;
			}
			result += "," + opt;
			if (comma == std::string::npos)
				break;
			start = comma + 1;
		}
		*out = result;
	}

	void complain(const std::string &what)
	{
		if (!errors_.empty())
			errors_ += "; ";
		errors_ += what;
	}
	const std::string &errors() const { return errors_; }

private:
	std::string errors_;
};

} // namespace

bool TransportOptions::from_env(TransportOptions *out, std::string *error)
{
	TransportOptions o;
	EnvCheck check;
	const char *name = env("RFUSE_TRANSPORT");
	o.name = name != nullptr ? name : kDefaultTransport;
	if (o.name != "fuse" && o.name != "rfuse" && o.name != "uring")
		check.complain("unknown transport RFUSE_TRANSPORT=" + o.name + " (valid: " + kValidTransports + ")");
	check.read_switch("RFUSE_FALLBACK", &o.fallback);
	check.read_unsigned("RFUSE_WORKERS", 1, 64, &o.workers_per_ring);
	check.read_unsigned("RFUSE_RINGS", 1, 4096, &o.rings);
	check.read_unsigned("RFUSE_POLL_US", 0, 1000000, &o.poll_us);
	check.read_switch("RFUSE_PASSTHROUGH", &o.passthrough);
	check.read_mount_options("RFUSE_MOUNT_OPTIONS", &o.mount_options);
	check.read_stats_file("RFUSE_STATS_FILE", &o.stats_file);
	check.read_unsigned("RFUSE_URING_PAYLOAD_BYTES", 1, 1U << 30, &o.uring_payload_bytes);
	*out = o;
	*error = check.errors();
	return error->empty();
}

namespace detail {

std::unique_ptr<Transport> make_transport(const TransportOptions &opts, std::string *error)
{
	if (opts.name == "fuse")
		return make_fuse_transport(opts);
	if (opts.name == "uring")
		return make_uring_transport(opts);
	if (opts.name == "rfuse") {
#if LIBRFUSE_HAVE_RFUSE
		std::unique_ptr<Transport> t = make_rfuse_transport(opts);
		if (!t)
			*error = "the RFUSE transport could not be created";
		return t;
#else
		*error = "librfuse was built without the RFUSE transport (RFUSE_TRANSPORT=rfuse); "
			 "use RFUSE_TRANSPORT=fuse or uring";
		return nullptr;
#endif
	}
	*error = "unknown transport " + opts.name + " (valid: " + kValidTransports + ")";
	return nullptr;
}

} // namespace detail
} // namespace rfuse
