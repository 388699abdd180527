#include "dhcpd/responder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <memory>

#include "dhcpd/test_packets.h"
#include "store/test_util.h"

namespace rootfarm::dhcpd {
namespace {

using testing::Bytes;
using testing::header;

constexpr int64_t kNow = 1764000000;
const MacAddr kPcMac = *MacAddr::parse("52:54:00:12:34:56");
const MacAddr kStrangerMac = *MacAddr::parse("3c:52:82:01:02:03");

ClientConfig client(const MacAddr& mac, std::string hostname, std::optional<Ipv4> ip = {}) {
    ClientConfig c;
    c.mac = mac;
    c.hostname = std::move(hostname);
    c.ip = ip;
    return c;
}

class ResponderTest : public ::testing::Test {
  protected:
    ResponderTest() {
        config_.server_ip = *Ipv4::parse("10.42.0.1");
        config_.dhcp.enabled = true;
        config_.dhcp.netmask = *Ipv4::parse("255.255.255.0");
        config_.dhcp.range_start = *Ipv4::parse("10.42.0.100");
        config_.dhcp.range_end = *Ipv4::parse("10.42.0.102");
        config_.dhcp.router = *Ipv4::parse("10.42.0.1");
        config_.dhcp.dns = {*Ipv4::parse("10.42.0.1")};
        config_.dhcp.domain = "farm";
        config_.dhcp.lease_time = 3600;
        config_.dhcp.boot_file = "undionly.kpxe";
        config_.clients.push_back(client(testing::pi3_mac(), "pi3-a"));
        config_.clients.push_back(client(testing::pi4_mac(), "pi4-a", *Ipv4::parse("10.42.0.40")));
        config_.clients.push_back(client(testing::pi5_mac(), ""));
        config_.clients.push_back(client(kPcMac, "vm1"));
    }

    void start(DhcpConfig::Mode mode = DhcpConfig::Mode::kServer,
               DefaultsConfig::Enroll enroll = DefaultsConfig::Enroll::kKnown) {
        config_.dhcp.mode = mode;
        config_.defaults.enroll = enroll;
        auto settings = make_settings(config_, std::nullopt);
        ASSERT_TRUE(settings.ok());
        // The owner keeps its lease file there (this test's leases are its own table).
        config_.state_dir = state_.path();
        clients_ = std::make_unique<Clients>(config_, nullptr);
        responder_ = std::make_unique<Responder>(*settings, *clients_, leases_);
    }

    std::optional<Reply> send(const std::vector<uint8_t>& bytes, int64_t now = kNow) {
        auto p = decode(bytes);
        EXPECT_TRUE(p.ok()) << p.error().message();
        if (!p.ok()) return std::nullopt;
        return responder_->handle(*p, now);
    }

    // Fixed header and options 53, 54, 51, 58, 59, 1, 3, 6 of a server-mode OFFER/ACK.
    static Bytes lease_reply(uint8_t type, uint32_t xid, const MacAddr& mac,
                             std::string_view yiaddr, std::string_view ciaddr = "0.0.0.0") {
        return header(2, xid, 0, ciaddr, yiaddr, "10.42.0.1", mac)
            .opt(53, {type})
            .opt_ip(54, "10.42.0.1")
            .opt_u32(51, 3600)
            .opt_u32(58, 1800)
            .opt_u32(59, 3150)
            .opt_ip(1, "255.255.255.0")
            .opt_ip(3, "10.42.0.1")
            .opt_ip(6, "10.42.0.1");
    }

    // Options 12, 15, 28 for an address in 10.42.0.0/24.
    static Bytes named(Bytes b, std::string_view hostname) {
        return b.opt_str(12, hostname).opt_str(15, "farm").opt_ip(28, "10.42.0.255");
    }
    // Options 60, 97, 66, 43 of a reply to a Pi's PXE firmware, the end option, padding.
    static std::vector<uint8_t> pi_boot(Bytes b, const std::vector<uint8_t>& guid,
                                        bool three_spaces) {
        return b.opt_str(60, "PXEClient")
            .opt(97, guid)
            .opt_str(66, "10.42.0.1")
            .opt(43, testing::pi_option43(three_spaces))
            .u8(255)
            .pad_to(300)
            .take();
    }
    static std::vector<uint8_t> end(Bytes b) { return b.u8(255).pad_to(300).take(); }

    store::testing::TempDir state_;
    Config config_;
    LeaseTable leases_;
    std::unique_ptr<Clients> clients_;
    std::unique_ptr<Responder> responder_;
};

TEST_F(ResponderTest, Pi3RomDiscoverGetsAddressAndThreeSpaceMenu) {
    start();
    auto reply = send(testing::pi3_discover());
    ASSERT_TRUE(reply);
    auto expected =
        pi_boot(named(lease_reply(2, testing::kPi3Xid, testing::pi3_mac(), "10.42.0.100"), "pi3-a"),
                testing::pi3_guid(), true);
    EXPECT_EQ(encode(reply->packet), expected);
    // Broadcast flag 0 and no address yet: unicast to the offered address and chaddr.
    EXPECT_EQ(reply->delivery, Delivery::kHardware);
    EXPECT_EQ(reply->to_ip, *Ipv4::parse("10.42.0.100"));
    EXPECT_EQ(reply->to_port, 68);
    EXPECT_EQ(reply->delay.count(), 0);  // server mode: no delay unless configured

    // The ROM never REQUESTs: the offer is its lease, and the registry knows the address.
    const Lease* lease = leases_.by_mac(testing::pi3_mac());
    ASSERT_NE(lease, nullptr);
    EXPECT_EQ(lease->state, Lease::State::kBound);
    EXPECT_EQ(lease->expires, kNow + 3600);
    auto info = clients_->by_ip(*Ipv4::parse("10.42.0.100"));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->mac, testing::pi3_mac());
    EXPECT_EQ(clients_->status(info->mac).phase, BootPhase::kDhcpOffered);
    EXPECT_EQ(info->model, "Pi 3");
}

TEST_F(ResponderTest, Pi3RetriesWithTheSameXidGetTheSameAddress) {
    start();
    auto first = send(testing::pi3_discover());
    auto second = send(testing::pi3_discover(), kNow + 5);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->packet.yiaddr, second->packet.yiaddr);
    EXPECT_EQ(leases_.size(), 1u);
}

TEST_F(ResponderTest, Pi3ReplyDelayIsConfigurable) {
    config_.dhcp.pi3_reply_delay_ms = 250;
    start();
    auto reply = send(testing::pi3_discover());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->delay.count(), 250);
    // Only the ROM is delayed, not a Pi 4.
    auto pi4 = send(testing::eeprom_discover(9, testing::pi4_mac(), testing::pi4_guid()));
    ASSERT_TRUE(pi4);
    EXPECT_EQ(pi4->delay.count(), 0);
}

TEST_F(ResponderTest, Pi4DiscoverRequestAck) {
    start();
    const uint32_t xid = 0x6b0c2f4e;
    auto offer = send(testing::eeprom_discover(xid, testing::pi4_mac(), testing::pi4_guid()));
    ASSERT_TRUE(offer);
    auto pxe_tail = [](Bytes b) { return pi_boot(named(b, "pi4-a"), testing::pi4_guid(), false); };
    EXPECT_EQ(encode(offer->packet),
              pxe_tail(lease_reply(2, xid, testing::pi4_mac(), "10.42.0.40")));
    EXPECT_EQ(offer->delivery, Delivery::kHardware);
    auto info = clients_->by_mac(testing::pi4_mac());
    EXPECT_EQ(info->serial, "5b154510");
    EXPECT_EQ(info->model, "Pi 4");
    EXPECT_EQ(clients_->status(info->mac).phase, BootPhase::kDhcpOffered);

    // The REQUEST carries no option 60 and must still be ACKed, with the same boot data.
    auto ack = send(testing::eeprom_request(xid, testing::pi4_mac(), testing::pi4_guid(),
                                            "10.42.0.40", "10.42.0.1"));
    ASSERT_TRUE(ack);
    EXPECT_EQ(encode(ack->packet), pxe_tail(lease_reply(5, xid, testing::pi4_mac(), "10.42.0.40")));
    EXPECT_EQ(clients_->status(testing::pi4_mac()).phase, BootPhase::kDhcpAcked);
    EXPECT_EQ(leases_.by_mac(testing::pi4_mac())->state, Lease::State::kBound);
}

TEST_F(ResponderTest, Pi5DiscoverNamesTheClientAfterItsSerial) {
    start();
    const uint32_t xid = 0x11223344;
    auto offer = send(testing::eeprom_discover(xid, testing::pi5_mac(), testing::pi5_guid()));
    ASSERT_TRUE(offer);
    auto expected =
        pi_boot(named(lease_reply(2, xid, testing::pi5_mac(), "10.42.0.100"), "pi-8e3a1b2c"),
                testing::pi5_guid(), false);
    EXPECT_EQ(encode(offer->packet), expected);
    EXPECT_EQ(clients_->by_serial("8e3a1b2c")->mac, testing::pi5_mac());
    EXPECT_EQ(clients_->by_mac(testing::pi5_mac())->model, "Pi 5");
}

TEST_F(ResponderTest, GenericPxeClientGetsBootFile) {
    start();
    // iPXE: option 60 PXEClient, option 175 (iPXE encapsulated), no option 97.
    auto discover = header(1, 0xabcdef01, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", kPcMac)
                        .opt(53, {1})
                        .opt(55, {1, 3, 6, 12, 15, 17, 43, 60, 66, 67, 175})
                        .opt(93, {0, 0})
                        .opt(94, {1, 2, 1})
                        .opt_str(60, testing::kPxeVendorClass)
                        .opt(175, {0xb1, 0x01, 0x01})
                        .u8(255)
                        .take();
    auto offer = send(discover);
    ASSERT_TRUE(offer);
    auto expected = end(named(lease_reply(2, 0xabcdef01, kPcMac, "10.42.0.100"), "vm1")
                            .opt_str(66, "10.42.0.1")
                            .opt_str(67, "undionly.kpxe"));
    std::string_view file = "undionly.kpxe";
    std::copy(file.begin(), file.end(), expected.begin() + 108);
    EXPECT_EQ(encode(offer->packet), expected);

    auto request = header(1, 0xabcdef01, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", kPcMac)
                       .opt(53, {3})
                       .opt_ip(50, "10.42.0.100")
                       .opt_ip(54, "10.42.0.1")
                       .opt_str(60, testing::kPxeVendorClass)
                       .u8(255)
                       .take();
    auto ack = send(request);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet.message_type(), MessageType::kAck);
    EXPECT_EQ(ack->packet.find_string(opt::kBootFile), "undionly.kpxe");
    EXPECT_EQ(ack->packet.siaddr, *Ipv4::parse("10.42.0.1"));
    EXPECT_EQ(ack->packet.find(opt::kVendorSpecific), nullptr);
}

TEST_F(ResponderTest, PlainClientGetsNetworkOptionsOnly) {
    start();
    auto offer = send(testing::plain(1, 77, kPcMac));
    ASSERT_TRUE(offer);
    EXPECT_EQ(encode(offer->packet), end(named(lease_reply(2, 77, kPcMac, "10.42.0.100"), "vm1")));
    auto ack = send(testing::plain(3, 78, kPcMac, "0.0.0.0", "10.42.0.100", "10.42.0.1"));
    ASSERT_TRUE(ack);
    EXPECT_EQ(encode(ack->packet), end(named(lease_reply(5, 78, kPcMac, "10.42.0.100"), "vm1")));
}

TEST_F(ResponderTest, BroadcastFlagMeansBroadcastReply) {
    start();
    auto offer = send(testing::plain(1, 1, kPcMac, "0.0.0.0", "", "", kFlagBroadcast));
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->delivery, Delivery::kBroadcast);
    EXPECT_EQ(offer->to_ip, Ipv4{0xffffffff});
    EXPECT_TRUE(offer->packet.broadcast_flag());
}

TEST_F(ResponderTest, RelayedRequestGoesBackToTheRelay) {
    start();
    auto bytes = testing::plain(1, 1, kPcMac);
    bytes[24] = 10, bytes[25] = 42, bytes[26] = 0, bytes[27] = 254;  // giaddr
    auto offer = send(bytes);
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->delivery, Delivery::kRelay);
    EXPECT_EQ(offer->to_ip, *Ipv4::parse("10.42.0.254"));
    EXPECT_EQ(offer->to_port, 67);
    EXPECT_EQ(offer->packet.giaddr, *Ipv4::parse("10.42.0.254"));
}

TEST_F(ResponderTest, NakForForeignAddress) {
    start();
    // INIT-REBOOT from a client that was on another network.
    auto nak = send(testing::plain(3, 0x55, kPcMac, "0.0.0.0", "192.168.1.50"));
    ASSERT_TRUE(nak);
    auto expected = header(2, 0x55, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", kPcMac)
                        .opt(53, {6})
                        .opt_ip(54, "10.42.0.1")
                        .opt_str(56, "address not available")
                        .u8(255)
                        .pad_to(300)
                        .take();
    EXPECT_EQ(encode(nak->packet), expected);
    EXPECT_EQ(nak->delivery, Delivery::kBroadcast);
    EXPECT_EQ(leases_.by_mac(kPcMac), nullptr);
    EXPECT_EQ(responder_->stats().naks, 1u);
}

TEST_F(ResponderTest, NakForAnotherClientsAddressAndForWrongStatic) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));  // vm1 gets .100
    auto pi3 = send(testing::plain(3, 2, testing::pi3_mac(), "0.0.0.0", "10.42.0.100"));
    ASSERT_TRUE(pi3);
    EXPECT_EQ(pi3->packet.message_type(), MessageType::kNak);
    // The Pi 4 has a static address; asking for a range address is refused.
    auto pi4 = send(testing::plain(3, 3, testing::pi4_mac(), "0.0.0.0", "10.42.0.101"));
    ASSERT_TRUE(pi4);
    EXPECT_EQ(pi4->packet.message_type(), MessageType::kNak);
}

TEST_F(ResponderTest, RequestForAnotherServerIsIgnored) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));
    EXPECT_FALSE(send(testing::plain(3, 1, kPcMac, "0.0.0.0", "10.42.0.100", "10.42.0.2")));
    EXPECT_EQ(clients_->status(kPcMac).phase, BootPhase::kDhcpOffered);
}

TEST_F(ResponderTest, RenewalIsUnicastToCiaddr) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));
    ASSERT_TRUE(send(testing::plain(3, 1, kPcMac, "0.0.0.0", "10.42.0.100", "10.42.0.1")));
    auto renew = send(testing::plain(3, 2, kPcMac, "10.42.0.100"), kNow + 1800);
    ASSERT_TRUE(renew);
    EXPECT_EQ(renew->packet.message_type(), MessageType::kAck);
    EXPECT_EQ(renew->packet.ciaddr, *Ipv4::parse("10.42.0.100"));
    EXPECT_EQ(renew->delivery, Delivery::kUnicast);
    EXPECT_EQ(renew->to_ip, *Ipv4::parse("10.42.0.100"));
    EXPECT_EQ(leases_.by_mac(kPcMac)->expires, kNow + 1800 + 3600);
}

TEST_F(ResponderTest, ReleaseKeepsTheAddressWithTheMac) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));
    ASSERT_TRUE(send(testing::plain(3, 1, kPcMac, "0.0.0.0", "10.42.0.100", "10.42.0.1")));
    EXPECT_FALSE(send(testing::plain(7, 2, kPcMac, "10.42.0.100", "", "10.42.0.1")));
    EXPECT_EQ(leases_.by_mac(kPcMac)->state, Lease::State::kReleased);
    auto again = send(testing::plain(1, 3, kPcMac), kNow + 10);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->packet.yiaddr, *Ipv4::parse("10.42.0.100"));
}

TEST_F(ResponderTest, DeclinedAddressIsNotOfferedAgain) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));
    auto decline = testing::plain(4, 2, kPcMac, "0.0.0.0", "10.42.0.100", "10.42.0.1");
    EXPECT_FALSE(send(decline));
    auto offer = send(testing::plain(1, 3, kPcMac), kNow + 1);
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->packet.yiaddr, *Ipv4::parse("10.42.0.101"));
}

TEST_F(ResponderTest, DeclinedStaticAddressIsWithheld) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, testing::pi4_mac())));
    EXPECT_FALSE(
        send(testing::plain(4, 2, testing::pi4_mac(), "0.0.0.0", "10.42.0.40", "10.42.0.1")));
    EXPECT_FALSE(send(testing::plain(1, 3, testing::pi4_mac()), kNow + 1));
    EXPECT_EQ(responder_->stats().no_address, 1u);
}

TEST_F(ResponderTest, InformGetsConfigurationWithoutLease) {
    start();
    auto ack = send(testing::plain(8, 9, kPcMac, "10.42.0.77"));
    ASSERT_TRUE(ack);
    auto expected = end(named(header(2, 9, 0, "10.42.0.77", "0.0.0.0", "10.42.0.1", kPcMac)
                                  .opt(53, {5})
                                  .opt_ip(54, "10.42.0.1")
                                  .opt_ip(1, "255.255.255.0")
                                  .opt_ip(3, "10.42.0.1")
                                  .opt_ip(6, "10.42.0.1"),
                              "vm1"));
    EXPECT_EQ(encode(ack->packet), expected);
    EXPECT_EQ(ack->delivery, Delivery::kUnicast);
    EXPECT_EQ(ack->to_ip, *Ipv4::parse("10.42.0.77"));
    EXPECT_EQ(leases_.size(), 0u);
}

TEST_F(ResponderTest, KnownModeNeverAnswersStrangers) {
    start();
    EXPECT_FALSE(send(testing::plain(1, 1, kStrangerMac)));
    auto stranger_pxe = testing::eeprom_discover(2, kStrangerMac, std::vector<uint8_t>(17, 0));
    EXPECT_FALSE(send(stranger_pxe));
    // An unconfigured Pi is a stranger too in "known" mode.
    auto other_pi = *MacAddr::parse("dc:a6:32:99:99:99");
    EXPECT_FALSE(send(testing::eeprom_discover(3, other_pi, testing::pi4_guid())));
    EXPECT_FALSE(clients_->by_mac(other_pi));
    EXPECT_EQ(responder_->stats().unknown_client, 3u);
    EXPECT_EQ(leases_.size(), 0u);
}

TEST_F(ResponderTest, AnyPiEnrollsPisButNotPcs) {
    start(DhcpConfig::Mode::kServer, DefaultsConfig::Enroll::kAnyPi);
    auto other_pi = *MacAddr::parse("dc:a6:32:99:99:99");
    auto offer = send(testing::eeprom_discover(3, other_pi, testing::pi4_guid()));
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->packet.yiaddr, *Ipv4::parse("10.42.0.100"));
    auto info = clients_->by_mac(other_pi);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->configured);
    EXPECT_EQ(info->image, "default");
    EXPECT_EQ(info->serial, "5b154510");
    EXPECT_FALSE(send(testing::plain(1, 1, kStrangerMac)));
    EXPECT_FALSE(clients_->by_mac(kStrangerMac));
}

TEST_F(ResponderTest, ExhaustedRangeGivesNoOfferThenExpiryFreesAnAddress) {
    start(DhcpConfig::Mode::kServer, DefaultsConfig::Enroll::kAnyPi);
    for (int i = 0; i < 3; ++i) {
        MacAddr m{{0xdc, 0xa6, 0x32, 0, 0, uint8_t(i)}};
        ASSERT_TRUE(send(testing::plain(1, 1, m), kNow + i));
        ASSERT_TRUE(send(
            testing::plain(3, 1, m, "0.0.0.0", "10.42.0." + std::to_string(100 + i), "10.42.0.1"),
            kNow + i));
    }
    MacAddr late{{0xdc, 0xa6, 0x32, 0, 0, 9}};
    EXPECT_FALSE(send(testing::plain(1, 2, late)));
    EXPECT_EQ(responder_->stats().no_address, 1u);
    // After the leases ran out, the oldest one is reused.
    auto offer = send(testing::plain(1, 3, late), kNow + 3602);
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->packet.yiaddr, *Ipv4::parse("10.42.0.100"));
}

TEST_F(ResponderTest, LeasesSurviveARestart) {
    start();
    ASSERT_TRUE(send(testing::plain(1, 1, testing::pi5_mac())));
    ASSERT_TRUE(send(testing::plain(1, 1, kPcMac)));
    ASSERT_TRUE(send(testing::plain(3, 1, kPcMac, "0.0.0.0", "10.42.0.101", "10.42.0.1")));
    std::string saved = leases_.serialize();

    leases_ = LeaseTable::parse(saved);
    start();
    // Reverse order after the restart: each MAC still gets its own address.
    auto pc = send(testing::plain(1, 5, kPcMac), kNow + 100);
    auto pi5 = send(testing::plain(1, 6, testing::pi5_mac()), kNow + 100);
    ASSERT_TRUE(pc && pi5);
    EXPECT_EQ(pc->packet.yiaddr, *Ipv4::parse("10.42.0.101"));
    EXPECT_EQ(pi5->packet.yiaddr, *Ipv4::parse("10.42.0.100"));
}

TEST_F(ResponderTest, ProxyPi3OfferHasBootInformationOnly) {
    start(DhcpConfig::Mode::kProxy);
    auto reply = send(testing::pi3_discover());
    ASSERT_TRUE(reply);
    auto head =
        header(2, testing::kPi3Xid, 0x8000, "0.0.0.0", "0.0.0.0", "10.42.0.1", testing::pi3_mac())
            .opt(53, {2})
            .opt_ip(54, "10.42.0.1");
    auto expected = pi_boot(head, testing::pi3_guid(), true);
    EXPECT_EQ(encode(reply->packet), expected);
    EXPECT_EQ(reply->delivery, Delivery::kBroadcast);
    EXPECT_EQ(reply->to_port, 68);
    EXPECT_EQ(reply->delay.count(), 1000);  // dnsmasq's dhcp-reply-delay for the Pi 3B
    EXPECT_EQ(leases_.size(), 0u);
    EXPECT_EQ(clients_->status(testing::pi3_mac()).phase, BootPhase::kDhcpOffered);
}

TEST_F(ResponderTest, ProxyPi4OfferThenRouterRequestIsLeftAlone) {
    start(DhcpConfig::Mode::kProxy);
    auto reply = send(testing::eeprom_discover(5, testing::pi4_mac(), testing::pi4_guid()));
    ASSERT_TRUE(reply);
    auto expected =
        pi_boot(header(2, 5, 0x8000, "0.0.0.0", "0.0.0.0", "10.42.0.1", testing::pi4_mac())
                    .opt(53, {2})
                    .opt_ip(54, "10.42.0.1"),
                testing::pi4_guid(), false);
    EXPECT_EQ(encode(reply->packet), expected);
    EXPECT_EQ(reply->delay.count(), 0);
    // The Pi 4 REQUESTs its address from the router: not ours to answer.
    EXPECT_FALSE(send(testing::eeprom_request(5, testing::pi4_mac(), testing::pi4_guid(),
                                              "192.168.1.23", "192.168.1.1")));
    // Non-PXE traffic from known clients is the router's business.
    EXPECT_FALSE(send(testing::plain(1, 6, testing::pi4_mac())));
}

TEST_F(ResponderTest, DropsNonRequestsAndBootp) {
    start();
    auto reply_op = testing::pi3_discover();
    reply_op[0] = kBootReply;
    EXPECT_FALSE(send(reply_op));
    auto token_ring = testing::pi3_discover();
    token_ring[1] = 6;
    EXPECT_FALSE(send(token_ring));
    auto long_hw = testing::pi3_discover();
    long_hw[2] = 16;
    EXPECT_FALSE(send(long_hw));
    EXPECT_EQ(responder_->stats().bad_header, 3u);
    auto bootp = header(1, 1, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", kPcMac).u8(255).take();
    EXPECT_FALSE(send(bootp));
    EXPECT_EQ(responder_->stats().not_dhcp, 1u);
}

TEST(Settings, RejectsBadConfiguration) {
    Config c;
    c.dhcp.netmask = *Ipv4::parse("255.255.255.0");
    EXPECT_FALSE(make_settings(c, std::nullopt).ok());  // no server_ip
    c.server_ip = *Ipv4::parse("10.1.0.1");
    EXPECT_TRUE(make_settings(c, std::nullopt).ok());
    c.dhcp.range_start = *Ipv4::parse("10.2.0.10");
    EXPECT_FALSE(make_settings(c, std::nullopt).ok());  // start without end
    c.dhcp.range_end = *Ipv4::parse("10.2.0.20");
    EXPECT_FALSE(make_settings(c, std::nullopt).ok());  // outside the subnet
    c.dhcp.range_start = *Ipv4::parse("10.1.0.30");
    c.dhcp.range_end = *Ipv4::parse("10.1.0.20");
    EXPECT_FALSE(make_settings(c, std::nullopt).ok());  // reversed
    c.dhcp.range_end = *Ipv4::parse("10.1.0.40");
    EXPECT_TRUE(make_settings(c, std::nullopt).ok());
    c.dhcp.netmask.reset();
    EXPECT_FALSE(make_settings(c, std::nullopt).ok());  // no netmask from anywhere
    EXPECT_TRUE(make_settings(c, *Ipv4::parse("255.255.0.0")).ok());
    c.dhcp.mode = DhcpConfig::Mode::kProxy;
    auto proxy = make_settings(c, std::nullopt);
    ASSERT_TRUE(proxy.ok());
    EXPECT_EQ(proxy->pi3_reply_delay.count(), 1000);
}

}  // namespace
}  // namespace rootfarm::dhcpd
