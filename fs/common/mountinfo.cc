#include "mountinfo.hpp"

#include <fstream>
#include <sstream>

namespace fs_common {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string &in)
{
	std::string out;
	for (size_t i = 0; i < in.size(); ++i) {
		if (in[i] == '\\' && i + 3 < in.size()) {
			out.push_back(static_cast<char>(std::stoi(in.substr(i + 1, 3), nullptr, 8)));
			i += 3;
		} else {
			out.push_back(in[i]);
		}
	}
	return out;
}

} // namespace

std::vector<MountEntry> read_mounts()
{
	std::vector<MountEntry> out;
	std::ifstream mi("/proc/self/mountinfo");
	std::string line;
	while (std::getline(mi, line)) {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		std::istringstream ls(line);
		std::string id, parent, devno, root, mp, field;
		if (!(ls >> id >> parent >> devno >> root >> mp))
			continue;
		while (ls >> field && field != "-") {
		}
		MountEntry e;
		e.mountpoint = unescape(mp);
		ls >> e.fstype >> e.source;
		e.source = unescape(e.source);
		out.push_back(std::move(e));
	}
	return out;
}

bool is_mountpoint(const std::string &path)
{
	return !mount_type(path).empty();
}

std::string mount_type(const std::string &path)
{
	std::string type;
	for (const MountEntry &e : read_mounts())
		if (e.mountpoint == path)
			type = e.fstype; // the last one listed is on top
	return type;
}

} // namespace fs_common
