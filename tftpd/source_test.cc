#include "tftpd/source.h"

#include <gtest/gtest.h>

namespace rootfarm::tftpd {
namespace {

TEST(Netascii, LineFeedBecomesCrLfAndBareCrBecomesCrNul) {
    EXPECT_EQ(to_netascii("a\nb\rc"), std::string("a\r\nb\r\0c", 7));
    EXPECT_EQ(to_netascii(""), "");
    EXPECT_EQ(to_netascii("\n\n"), "\r\n\r\n");
}

}  // namespace
}  // namespace rootfarm::tftpd
