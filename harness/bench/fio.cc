#include "fio.hpp"

#include <cstring>
#include <stdexcept>

namespace bench {

using nlohmann::json;

std::string render_template(const std::string &text, const std::map<std::string, std::string> &vars)
{
	std::string out;
	size_t pos = 0;
	for (;;) {
		size_t open = text.find("${", pos);
		if (open == std::string::npos) {
			out += text.substr(pos);
			return out;
		}
		size_t close = text.find('}', open);
		if (close == std::string::npos)
			throw std::invalid_argument("unterminated ${ in template");
		std::string name = text.substr(open + 2, close - open - 2);
		auto it = vars.find(name);
		if (it == vars.end())
			throw std::invalid_argument("template uses unknown variable ${" + name + "}");
		out += text.substr(pos, open - pos) + it->second;
		pos = close + 1;
	}
}

std::string layout_job(const std::string &job, const std::string &bs)
{
	std::string out;
	size_t pos = 0;
	while (pos < job.size()) {
		size_t end = job.find('\n', pos);
		size_t next = end == std::string::npos ? job.size() : end + 1;
		std::string line = job.substr(pos, next - pos);
		size_t key = line.find_first_not_of(" \t");
		if (key != std::string::npos &&
		    (line.compare(key, 3, "bs=") == 0 || line.compare(key, 10, "blocksize=") == 0))
			line = line.substr(0, key) + "bs=" + bs + (end == std::string::npos ? "" : "\n");
		out += line;
		pos = next;
	}
	return out;
}

namespace {

double num(const json &obj, const char *key)
{
	auto it = obj.find(key);
	return it != obj.end() && it->is_number() ? it->get<double>() : 0.0;
}

double percentile(const json &clat, const char *key)
{
	auto p = clat.find("percentile");
	if (p == clat.end() || !p->is_object())
		return 0;
	return num(*p, key);
}

} // namespace

FioResult parse_fio_json(const std::string &text)
{
	FioResult r;
	size_t brace = text.find('{');
	if (brace == std::string::npos) {
		r.error = "fio printed no JSON";
		return r;
	}
	json doc;
	try {
		doc = json::parse(text.substr(brace));
	} catch (const json::parse_error &e) {
		r.error = std::string("fio JSON does not parse: ") + e.what();
		return r;
	}
	r.fio_version = doc.value("fio version", "");
	if (!doc.contains("jobs") || !doc["jobs"].is_array() || doc["jobs"].empty()) {
		r.error = "fio JSON has no jobs";
		return r;
	}
	r.jobs = doc["jobs"];
	for (const json &job : r.jobs) {
		int err = job.value("error", 0);
		if (err != 0) {
			r.error = "fio job '" + job.value("jobname", std::string("?")) + "' failed: error " +
				  std::to_string(err) + " (" + std::strerror(err) + ")";
			return r;
		}
	}
	for (const char *dir : {"read", "write"}) {
		double bw = 0, iops = 0, io = 0, ios = 0, lat_weighted = 0, p50 = 0, p99 = 0, p999 = 0;
		for (const json &job : r.jobs) {
			if (!job.contains(dir))
				continue;
			const json &d = job[dir];
			bw += num(d, "bw_bytes");
			iops += num(d, "iops");
			io += num(d, "io_bytes");
			double n = num(d, "total_ios");
			ios += n;
			if (d.contains("clat_ns")) {
				const json &clat = d["clat_ns"];
				lat_weighted += num(clat, "mean") * n;
				p50 = std::max(p50, percentile(clat, "50.000000"));
				p99 = std::max(p99, percentile(clat, "99.000000"));
				p999 = std::max(p999, percentile(clat, "99.900000"));
			}
		}
		if (io <= 0)
			continue;
		std::string p = dir;
		r.metrics[p + ".bandwidth"] = {bw / (1024.0 * 1024.0), "MiB/s"};
		r.metrics[p + ".iops"] = {iops, "ops/s"};
		r.metrics[p + ".io"] = {io / (1024.0 * 1024.0), "MiB"};
		r.metrics[p + ".lat_mean"] = {ios > 0 ? lat_weighted / ios / 1000.0 : 0, "us"};
		r.metrics[p + ".lat_p50"] = {p50 / 1000.0, "us"};
		r.metrics[p + ".lat_p99"] = {p99 / 1000.0, "us"};
		r.metrics[p + ".lat_p99_9"] = {p999 / 1000.0, "us"};
	}
	if (r.metrics.empty()) {
		r.error = "fio moved no data";
		return r;
	}
	r.ok = true;
	return r;
}

double fio_total_ios(const nlohmann::json &jobs)
{
	double n = 0;
	if (!jobs.is_array())
		return 0;
	for (const nlohmann::json &job : jobs)
		for (const char *dir : {"read", "write", "trim"})
			if (job.is_object() && job.contains(dir) && job[dir].is_object()) {
				const nlohmann::json &ios = job[dir].value("total_ios", nlohmann::json());
				if (ios.is_number())
					n += ios.get<double>();
			}
	return n;
}

} // namespace bench
