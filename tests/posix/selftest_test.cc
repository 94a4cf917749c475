// Tests of the suite itself: the comparison layer must report a difference
// with both outcomes, and must stay quiet when there is none. They run
// against whatever subject is configured (they make the sides differ
// behind the layer's back).
#include "posix_fixture.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>

namespace posix {
namespace {

using ::testing::HasSubstr;
using SuiteSelfTest = PosixTest;

TEST_F(SuiteSelfTest, ReportsDifferencesWithBothOutcomes)
{
	ASSERT_TRUE(dirs_.ref.write_file("f", "reference data").ok());
	ASSERT_TRUE(dirs_.sub.write_file("f", "subject data!").ok());
	ASSERT_TRUE(dirs_.ref.write_file("only-ref", "x").ok());
	::testing::TestPartResultArray failures;
	{
		::testing::ScopedFakeTestPartResultReporter catcher(
			::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
		expect_content("f", "reference data");
		same_stat("f");
		expect_err(both([](Dir &d) { return d.open("only-ref", O_RDONLY); }), ENOENT);
		expect_listing_same();
	}
	ASSERT_EQ(failures.size(), 5);
	EXPECT_THAT(failures.GetTestPartResult(0).message(), HasSubstr("first difference at byte 0"));
	EXPECT_THAT(failures.GetTestPartResult(0).message(), HasSubstr("read file \"f\""));
	EXPECT_THAT(failures.GetTestPartResult(1).message(), HasSubstr("st_size: 14 vs 13"));
	EXPECT_THAT(failures.GetTestPartResult(2).message(), HasSubstr("subject ("));
	EXPECT_THAT(failures.GetTestPartResult(2).message(), HasSubstr("failed with ENOENT"));
	EXPECT_THAT(failures.GetTestPartResult(3).message(),
		    HasSubstr("reference ok (opened), the test expects failure with ENOENT"));
	EXPECT_THAT(failures.GetTestPartResult(4).message(), HasSubstr("only in reference: only-ref"));
	for (int i : {0, 1, 2, 4})
		EXPECT_THAT(failures.GetTestPartResult(i).message(), HasSubstr("reference and subject differ"));
}

TEST_F(SuiteSelfTest, QuietWhenBothAgree)
{
	::testing::TestPartResultArray failures;
	{
		::testing::ScopedFakeTestPartResultReporter catcher(
			::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
		make_file("f", "same");
		expect_content("f", "same");
		same_stat("f");
		expect_err(both([](Dir &d) { return d.open("missing", O_RDONLY); }), ENOENT);
	}
	EXPECT_EQ(failures.size(), 0);
}

TEST(SuiteConfigTest, SplitCommandQuotes)
{
	EXPECT_EQ(split_command("  a  'b c'   \"d \\\"e\\\"\" f\\ g  "),
		  (std::vector<std::string>{"a", "b c", "d \"e\"", "f g"}));
	EXPECT_EQ(split_command(""), std::vector<std::string>{});
	EXPECT_EQ(split_command("x ''"), (std::vector<std::string>{"x", ""}));
	EXPECT_THROW(split_command("'open"), std::invalid_argument);
}

} // namespace
} // namespace posix
