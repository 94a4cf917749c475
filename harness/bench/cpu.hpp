// Which CPUs benchmark threads run on, and in what order.
//
// Order (documented in README and in every report): the CPUs this process
// may use, sorted so that each physical core gets one thread before any core
// gets a second one (SMT siblings last), and within that package by package,
// then core by core. Thread i of a point with T threads runs on cpu_order()[i].
// This is fxmark's order: fill real cores socket by socket, then hyperthreads.
#pragma once

#include <string>
#include <vector>

namespace bench {

std::vector<int> cpu_order();

// 1, 2, 4, ... up to max_threads, always ending with max_threads itself
// (e.g. 6 -> 1 2 4 6).
std::vector<int> scaling_thread_counts(int max_threads);

// Pins the calling thread to one CPU; returns 0 or an errno value.
int pin_current_thread(int cpu);

// "0,1,5": the fio cpus_allowed list for the first `n` CPUs of `order`.
std::string cpu_list(const std::vector<int> &order, int n);

} // namespace bench
