#include "clients/report.h"

#include <gtest/gtest.h>

namespace rootfarm {
namespace {

PiStatus pi() {
    PiStatus p;
    p.info.mac = *MacAddr::parse("dc:a6:32:00:00:01");
    p.info.ip = Ipv4::parse("10.0.0.11");
    p.info.serial = "1a2b3c4d";
    p.info.model = "Pi 4";
    p.info.hostname = "kitchen";
    p.info.image = "bookworm";
    p.phase = BootPhase::kUp;
    p.phase_since = std::chrono::system_clock::from_time_t(1796000000);
    p.boots = 2;
    p.delta_image = "bookworm";
    p.overlay_bytes = 1536;
    p.last_boot_duration = std::chrono::milliseconds(12500);
    p.hint = "a \"quoted\" hint\nwith a newline";
    p.timeline = {{BootPhase::kTftpFirmware, p.phase_since, std::chrono::milliseconds(1500)}};
    return p;
}

TEST(StatusJson, CarriesEveryFieldEscaped) {
    const std::string json = status_json({pi()}, true);
    EXPECT_NE(json.find("\"running\" : true"), std::string::npos) << json;
    EXPECT_NE(json.find("\"mac\" : \"dc:a6:32:00:00:01\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"phase\" : \"up\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"phase_since\" : \"2026-11-30T"), std::string::npos) << json;
    EXPECT_NE(json.find("\"overlay_bytes\" : 1536"), std::string::npos) << json;
    EXPECT_NE(json.find("\"last_boot_seconds\" : 12.5"), std::string::npos) << json;
    EXPECT_NE(json.find("a \\\"quoted\\\" hint\\nwith a newline"), std::string::npos) << json;
    EXPECT_NE(json.find("\"phase\" : \"tftp-firmware\""), std::string::npos) << json;
    EXPECT_EQ(json.find("last_boot\""), std::string::npos) << "never seen: left out";
}

TEST(StatusTable, OneLinePerPiAndItsHint) {
    PiStatus p = pi();
    const std::string table = status_table({p}, p.phase_since + std::chrono::minutes(3));
    EXPECT_NE(table.find("dc:a6:32:00:00:01"), std::string::npos) << table;
    EXPECT_NE(table.find("3 min ago"), std::string::npos) << table;
    EXPECT_NE(table.find("1.5 KiB"), std::string::npos) << table;
    EXPECT_NE(table.find("    hint: a \"quoted\""), std::string::npos) << table;
}

}  // namespace
}  // namespace rootfarm
