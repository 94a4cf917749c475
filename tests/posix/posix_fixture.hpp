// The comparison layer: every test gets a fresh directory on the reference
// (tmpfs) and on the subject, runs the same calls on both with both(), and
// gets a failure naming the calls, the reference outcome and the subject
// outcome whenever they differ. Absolute expectations (expect_err, ...)
// are checked on the reference, so a wrong test fails on tmpfs already.
#pragma once

#include "ops.hpp"
#include "suite_env.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>

namespace posix {

template <class T> struct Pair {
	T ref;
	T sub;
};

using Loc = std::source_location;

class PosixTest : public ::testing::Test {
protected:
	void SetUp() override;
	void TearDown() override;

	// Runs fn(Dir&) on the reference, then on the subject; compares the
	// outcomes and returns both.
	template <class F> auto both(F &&fn, Loc loc = Loc::current())
	{
		using R = std::invoke_result_t<F, Dir &>;
		Pair<R> p{};
		std::string ref_trace;
		if (reference_enabled_) {
			trace_clear();
			p.ref = fn(dirs_.ref);
			ref_trace = joined_trace();
		}
		trace_clear();
		p.sub = fn(dirs_.sub);
		if (reference_enabled_)
			report_difference(p, ref_trace, loc);
		return p;
	}

	// Runs fn(T&) on each side's object of a pair (e.g. two open files).
	template <class T, class F> auto both(Pair<Res<T>> &objs, F &&fn, Loc loc = Loc::current())
	{
		using R = std::invoke_result_t<F, T &>;
		Pair<R> p{};
		std::string ref_trace;
		if (reference_enabled_) {
			trace_clear();
			p.ref = fn(objs.ref.val);
			ref_trace = joined_trace();
		}
		trace_clear();
		p.sub = fn(objs.sub.val);
		if (reference_enabled_)
			report_difference(p, ref_trace, loc);
		return p;
	}

	// Runs fn(Dir&, side name) on each side without comparing: for
	// properties that must hold on each side but need not be equal.
	void each(const std::function<void(Dir &, const char *side)> &fn)
	{
		if (reference_enabled_)
			fn(dirs_.ref, "reference");
		fn(dirs_.sub, "subject");
	}

	// The object of `p` that belongs to the side of `d` (inside both/each).
	template <class T> T &side_of(Pair<T> &p, const Dir &d) { return &d == &dirs_.ref ? p.ref : p.sub; }

	// The side absolute expectations are checked on: the reference, or the
	// subject when the reference lacks a feature (reference_enabled_ off).
	template <class R> const R &judged(const Pair<R> &p) const { return reference_enabled_ ? p.ref : p.sub; }
	const char *judged_name() const { return reference_enabled_ ? "reference" : "subject"; }

	template <class R> void expect_err(const Pair<R> &p, int err, Loc loc = Loc::current())
	{
		const R &r = judged(p);
		if (r.err != err)
			ADD_FAILURE_AT(loc.file_name(), loc.line())
				<< "last call: " << last_call() << "\n  " << judged_name() << " " << describe(r)
				<< ", the test expects failure with " << errno_name(err);
	}
	template <class R> void expect_ok(const Pair<R> &p, Loc loc = Loc::current())
	{
		const R &r = judged(p);
		if (!r.ok())
			ADD_FAILURE_AT(loc.file_name(), loc.line())
				<< "last call: " << last_call() << "\n  " << judged_name() << " " << describe(r)
				<< ", the test expects success";
	}
	void expect_val(const Pair<Status> &p, long long val, Loc loc = Loc::current())
	{
		const Status &r = judged(p);
		if (!r.ok() || r.val != val)
			ADD_FAILURE_AT(loc.file_name(), loc.line())
				<< "last call: " << last_call() << "\n  " << judged_name() << " " << describe(r)
				<< ", the test expects " << val;
	}
	void expect_data(const Pair<Res<std::string>> &p, const std::string &data, Loc loc = Loc::current())
	{
		const Res<std::string> &r = judged(p);
		if (!r.ok() || r.val != data)
			ADD_FAILURE_AT(loc.file_name(), loc.line())
				<< "last call: " << last_call() << "\n  " << judged_name() << " " << describe(r)
				<< ", the test expects " << data.size() << " bytes " << quoted(data, 24);
	}

	// Shorthands for what many tests do.
	void make_file(const std::string &name, const std::string &content, Loc loc = Loc::current())
	{
		expect_val(both([&](Dir &d) { return d.write_file(name, content); }, loc), static_cast<long long>(content.size()), loc);
	}
	void expect_content(const std::string &name, const std::string &content, Loc loc = Loc::current())
	{
		expect_data(both([&](Dir &d) { return d.read_file(name); }, loc), content, loc);
	}
	Pair<Res<struct stat>> same_stat(const std::string &name, Loc loc = Loc::current())
	{
		return both([&](Dir &d) { return d.lstat(name); }, loc);
	}
	void expect_listing_same(const std::string &name = "", Loc loc = Loc::current())
	{
		both([&](Dir &d) { return d.list(name); }, loc);
	}

	// A failure (not a crash) when the subject is gone, so the rest of the
	// suite still reports.
	bool subject_down() const { return !health_.empty(); }

	Pair<Dir> dirs_;
	bool reference_enabled_ = true;

private:
	static std::string joined_trace();
	static std::string last_call();
	template <class R> void report_difference(const Pair<R> &p, const std::string &ref_trace, const Loc &loc)
	{
		std::string why;
		if (same(p.ref, p.sub, &why))
			return;
		std::string sub_trace = joined_trace();
		ADD_FAILURE_AT(loc.file_name(), loc.line())
			<< "reference and subject differ: " << why << "\n  calls: " << sub_trace
			<< (ref_trace == sub_trace ? "" : "\n  calls on the reference: " + ref_trace)
			<< "\n  reference (tmpfs): " << describe(p.ref) << "\n  subject (" << suite().subject_name()
			<< "): " << describe(p.sub);
	}

	std::string test_dir_name_;
	std::string health_;
};

// Wall-clock time now, as a timespec.
struct timespec now_realtime();
// a - b in seconds.
double seconds_between(const struct timespec &a, const struct timespec &b);

} // namespace posix
