// What a report needs to say about the machine it was measured on.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace bench {

// kernel, CPU model and count, the CPU order used, memory, native or VM,
// tool versions (fio, libfuse, compiler), the source tree's git commit.
nlohmann::json collect_environment(const std::vector<int> &cpu_order, const std::string &source_dir);

} // namespace bench
