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

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rfuse {
namespace {

constexpr const char *kDefaultTransport = "rfuse";
constexpr const char *kValidTransports = "fuse, rfuse, uring";

// Reads a positive integer variable; false with a message on garbage.
bool read_unsigned(const char *var, unsigned min, unsigned max, unsigned *out, std::string *error)
{
	const char *text = std::getenv(var);
	if (text == nullptr || *text == '\0')
		return true; // keep the default
	errno = 0;
	char *end = nullptr;
	unsigned long v = std::strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *text == '-' || v < min || v > max) {
		*error = std::string(var) + "=" + text + ": expected an integer from " + std::to_string(min) +
			 " to " + std::to_string(max);
		return false;
	}
	*out = static_cast<unsigned>(v);
	return true;
}

} // namespace

bool TransportOptions::from_env(TransportOptions *out, std::string *error)
{
	TransportOptions o;
	const char *name = std::getenv("RFUSE_TRANSPORT");
	o.name = (name != nullptr && *name != '\0') ? name : kDefaultTransport;
	if (o.name != "fuse" && o.name != "rfuse" && o.name != "uring") {
		*error = "unknown transport RFUSE_TRANSPORT=" + o.name + " (valid: " + kValidTransports + ")";
		return false;
	}
	const char *fallback = std::getenv("RFUSE_FALLBACK");
	if (fallback != nullptr && *fallback != '\0') {
		if (std::strcmp(fallback, "1") == 0) {
			o.fallback = true;
		} else if (std::strcmp(fallback, "0") != 0) {
			*error = std::string("RFUSE_FALLBACK=") + fallback + ": expected 0 or 1";
			return false;
		}
	}
	if (!read_unsigned("RFUSE_WORKERS", 1, 64, &o.workers_per_ring, error) ||
	    !read_unsigned("RFUSE_RINGS", 1, 4096, &o.rings, error) ||
	    !read_unsigned("RFUSE_POLL_US", 0, 1000000, &o.poll_us, error))
		return false;
	*out = o;
	return true;
}

namespace detail {

std::unique_ptr<Transport> make_transport(const TransportOptions &opts, std::string *error)
{
	if (opts.name == "fuse")
		return make_fuse_transport();
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
