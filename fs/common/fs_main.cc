#include "fs_main.hpp"
#include "mountinfo.hpp"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace fs_common {
namespace {

// A one-line reason why `mp` cannot be mounted on, or empty when it can.
std::string check_mountpoint(const char *mp)
{
	struct stat st {};
	if (stat(mp, &st) != 0) {
		if (errno == ENOTCONN)
			return std::string("mount point ") + mp +
			       " is busy: a disconnected FUSE mount is still there (umount it first)";
		return std::string("mount point ") + mp + ": " + std::strerror(errno);
	}
	if (!S_ISDIR(st.st_mode))
		return std::string("mount point ") + mp + " is not a directory";
	char *real = realpath(mp, nullptr);
	if (real == nullptr)
		return std::string("mount point ") + mp + ": " + std::strerror(errno);
	std::string canon(real);
	std::free(real);
	if (is_mountpoint(canon))
		return std::string("mount point ") + mp + " is busy: something is already mounted there";
	return {};
}

int note_nonoption(void *data, const char *arg, int key, fuse_args *)
{
	if (key == FUSE_OPT_KEY_NONOPT)
		*static_cast<std::string *>(data) = arg;
	return 1;
}

// The last argument that is not an option: the mount point, as
// fuse_parse_cmdline() will see it. Empty when there is none.
std::string last_nonoption(const fuse_args *args)
{
	std::string last;
	fuse_args copy = FUSE_ARGS_INIT(args->argc, args->argv);
	if (fuse_opt_parse(&copy, &last, nullptr, note_nonoption) != 0)
		last.clear();
	fuse_opt_free_args(&copy);
	return last;
}

} // namespace

FsOptions::FsOptions(std::initializer_list<const char *> valued, std::initializer_list<const char *> flags)
{
	for (const char *name : valued)
		options_.push_back(Option{name, std::string(name) + "=", std::nullopt});
	for (const char *name : flags)
		options_.push_back(Option{name, name, std::nullopt});
}

bool FsOptions::parse(fuse_args *args, bool take_nonopt)
{
	take_nonopt_ = take_nonopt;
	std::vector<fuse_opt> spec;
	for (size_t i = 0; i < options_.size(); ++i)
		spec.push_back(FUSE_OPT_KEY(options_[i].pattern.c_str(), static_cast<int>(i)));
	spec.push_back(FUSE_OPT_END);
	return fuse_opt_parse(args, this, spec.data(), take) == 0;
}

// fuse_opt_parse's callback: 0 takes the argument out, 1 leaves it.
int FsOptions::take(void *data, const char *arg, int key, fuse_args *)
{
	auto *self = static_cast<FsOptions *>(data);
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (!self->take_nonopt_ || self->nonopt_)
			return 1;
		self->nonopt_ = arg;
		return 0;
	}
	if (key < 0)
		return 1; // an option of libfuse's
	Option &o = self->options_[static_cast<size_t>(key)];
	o.value = std::string(arg + o.pattern.size());
	return 0;
}

const FsOptions::Option *FsOptions::find(std::string_view name) const
{
	for (const Option &o : options_)
		if (o.name == name)
			return &o;
	return nullptr;
}

const char *FsOptions::value(std::string_view name) const
{
	const Option *o = find(name);
	return o != nullptr && o->value ? o->value->c_str() : nullptr;
}

bool FsOptions::flag(std::string_view name) const
{
	const Option *o = find(name);
	return o != nullptr && o->value.has_value();
}

void print_usage(const Program &prog, std::FILE *out)
{
	std::fprintf(out, "usage: %s %s\n\n", prog.name, prog.synopsis);
	std::fprintf(out, "%s options:\n%s\n", prog.name, prog.fs_options_help);
	std::fprintf(out, "generic options:\n"
			  "    -h   --help            print help\n"
			  "    -V   --version         print version\n"
			  "    -d   -o debug          enable debug output (implies -f)\n"
			  "    -f                     foreground operation\n"
			  "    -s                     disable multi-threaded operation\n"
			  "    -o clone_fd            use separate fuse device fd for each thread\n"
			  "    -o max_idle_threads    the maximum number of idle worker threads\n"
			  "    -o max_threads         the maximum number of worker threads\n"
			  "    -o OPT[,OPT...]        mount options (allow_other, default_permissions, ...)\n");
}

int serve(const Program &prog, fuse_args *args, const fuse_lowlevel_ops *ops, void *userdata)
{
	// fuse_parse_cmdline() rejects a mount point it cannot resolve with a
	// usage error; a missing directory deserves one clear line instead.
	if (std::string named = last_nonoption(args); !named.empty()) {
		if (std::string why = check_mountpoint(named.c_str()); !why.empty()) {
			std::fprintf(stderr, "%s: %s\n", prog.name, why.c_str());
			return kExitFailure;
		}
	}
	// The mount shows up as fuse.<name> whatever the binary is called.
	std::string subtype = std::string("-osubtype=") + prog.name;
	fuse_opt_insert_arg(args, 1, subtype.c_str());

	fuse_cmdline_opts opts {};
	if (fuse_parse_cmdline(args, &opts) != 0) {
		print_usage(prog, stderr);
		return kExitUsage;
	}
	struct Cleanup {
		fuse_cmdline_opts &o;
		~Cleanup() { std::free(o.mountpoint); }
	} cleanup{opts};

	if (opts.show_help) {
		print_usage(prog, stdout);
		return kExitOk;
	}
	if (opts.show_version) {
		std::printf("%s (libfuse %d.%d)\n", prog.name, FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
		fuse_lowlevel_version();
		return kExitOk;
	}
	if (opts.mountpoint == nullptr) {
		std::fprintf(stderr, "%s: no mount point given\n", prog.name);
		print_usage(prog, stderr);
		return kExitUsage;
	}
	if (std::string why = check_mountpoint(opts.mountpoint); !why.empty()) {
		std::fprintf(stderr, "%s: %s\n", prog.name, why.c_str());
		return kExitFailure;
	}

	fuse_session *se = fuse_session_new(args, ops, sizeof(*ops), userdata);
	if (se == nullptr) {
		// libfuse has already said which option it did not understand.
		print_usage(prog, stderr);
		return kExitUsage;
	}
	int rc = kExitFailure;
	if (fuse_set_signal_handlers(se) != 0) {
		std::fprintf(stderr, "%s: cannot install signal handlers\n", prog.name);
		goto out_destroy;
	}
	if (fuse_session_mount(se, opts.mountpoint) != 0) {
		std::fprintf(stderr, "%s: cannot mount on %s\n", prog.name, opts.mountpoint);
		goto out_signals;
	}
	if (fuse_daemonize(opts.foreground) != 0) {
		std::fprintf(stderr, "%s: cannot daemonize\n", prog.name);
		goto out_unmount;
	}
	if (opts.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, static_cast<unsigned int>(opts.clone_fd));
		if (opts.max_idle_threads != UINT_MAX) // UINT_MAX = not given
			fuse_loop_cfg_set_idle_threads(cfg, opts.max_idle_threads);
		fuse_loop_cfg_set_max_threads(cfg, opts.max_threads);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	// A loop ended by a signal returns the signal number; that is a clean stop.
	rc = rc < 0 ? kExitFailure : kExitOk;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return rc;
}

bool parse_size(const char *text, unsigned long long *out)
{
	if (text == nullptr || *text == '\0' || *text == '-')
		return false;
	errno = 0;
	char *end = nullptr;
	unsigned long long v = std::strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; ++end; break;
	case 'm': case 'M': shift = 20; ++end; break;
	case 'g': case 'G': shift = 30; ++end; break;
	case 't': case 'T': shift = 40; ++end; break;
	default: return false;
	}
	if (*end != '\0')
		return false;
	if (shift != 0 && v > (~0ULL >> shift))
		return false;
	*out = v << shift;
	return true;
}

bool parse_seconds(const char *text, double *out)
{
	if (text == nullptr || *text == '\0')
		return false;
	char *end = nullptr;
	errno = 0;
	double v = std::strtod(text, &end);
	if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0)
		return false;
	*out = v;
	return true;
}

} // namespace fs_common
