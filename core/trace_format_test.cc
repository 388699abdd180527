#include "core/trace_format.h"

#include <gtest/gtest.h>

namespace rootfarm {
namespace {

TEST(TraceFormat, EscapesRoundTripAndStatusesHaveNames) {
    for (std::string raw :
         {std::string("plain"), std::string("a b%c=d"), std::string("\x01\xff")}) {
        std::string esc = trace_escape(raw);
        EXPECT_EQ(esc.find_first_of(" =\x01\xff"), std::string::npos) << esc;
        std::string back;
        ASSERT_TRUE(trace_unescape(esc, back));
        EXPECT_EQ(back, raw);
    }
    EXPECT_EQ(trace_escape("a b%c=d"), "a%20b%25c%3Dd");
    std::string out;
    EXPECT_FALSE(trace_unescape("bad%2", out));
    EXPECT_FALSE(trace_unescape("bad%zz", out));
    uint32_t s = 0;
    EXPECT_EQ(trace_status_name(2), "NOENT");
    EXPECT_EQ(trace_status_name(12345), "12345");
    ASSERT_TRUE(trace_parse_status("NOTEMPTY", s));
    EXPECT_EQ(s, 66u);
    ASSERT_TRUE(trace_parse_status("10008", s));
    EXPECT_EQ(s, 10008u);
    EXPECT_FALSE(trace_parse_status("NOPE", s));
    EXPECT_FALSE(trace_parse_status("", s));
}

TEST(TraceFormat, ProceduresByRfcNumber) {
    EXPECT_STREQ(nfs3_proc_name(0), "NULL");
    EXPECT_STREQ(nfs3_proc_name(1), "GETATTR");
    EXPECT_STREQ(nfs3_proc_name(16), "READDIR");
    EXPECT_STREQ(nfs3_proc_name(17), "READDIRPLUS");
    EXPECT_STREQ(nfs3_proc_name(21), "COMMIT");
    EXPECT_STREQ(nfs3_proc_name(22), "UNKNOWN");
    for (uint32_t p = 0; p <= 21; ++p) EXPECT_EQ(nfs3_proc_number(nfs3_proc_name(p)), p);
    EXPECT_EQ(nfs3_proc_number("UNKNOWN"), std::nullopt);
    EXPECT_EQ(nfs3_proc_number("getattr"), std::nullopt);
}

}  // namespace
}  // namespace rootfarm
