// A GoogleTest fixture for tests that need the kernel's enable_uring switch
// (kernel-wide) set one way for their duration: they are skipped without
// root or without the switch.
#pragma once

#include "librfuse_test_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace rfuse_test {

template <bool kUringEnabled>
class UringSwitchTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (geteuid() != 0)
			GTEST_SKIP() << "needs root (mounts, enable_uring)";
		if (!uring_.usable())
			GTEST_SKIP() << uring_.why();
	}
	UringSwitch uring_{kUringEnabled};
};

} // namespace rfuse_test
