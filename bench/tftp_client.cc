#include "bench/tftp_client.h"

#include <array>
#include <cstring>

#include "bench/udp.h"

namespace rootfarm::bench {

namespace {

// RFC 1350 §5 opcodes, RFC 2347 OACK.
constexpr uint16_t kRrq = 1, kData = 3, kAck = 4, kError = 5, kOack = 6;
constexpr uint16_t kErrNotFound = 1;

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

std::vector<uint8_t> ack(uint16_t block) {
    return {0, kAck, static_cast<uint8_t>(block >> 8), static_cast<uint8_t>(block)};
}

std::vector<uint8_t> error_packet(uint16_t code, std::string_view msg) {
    std::vector<uint8_t> p = {0, kError, static_cast<uint8_t>(code >> 8),
                              static_cast<uint8_t>(code)};
    p.insert(p.end(), msg.begin(), msg.end());
    p.push_back(0);
    return p;
}

void put_str(std::vector<uint8_t>& p, std::string_view s) {
    p.insert(p.end(), s.begin(), s.end());
    p.push_back(0);
}

// RFC 2347: the OACK's options, name/value NUL-terminated pairs; returns false if malformed.
bool parse_oack(const uint8_t* p, size_t n, uint64_t& tsize, uint16_t& blksize) {
    size_t i = 0;
    while (i < n) {
        const void* z = std::memchr(p + i, 0, n - i);
        if (!z) return false;
        std::string name(reinterpret_cast<const char*>(p + i));
        i += name.size() + 1;
        const void* z2 = i < n ? std::memchr(p + i, 0, n - i) : nullptr;
        if (!z2) return false;
        std::string value(reinterpret_cast<const char*>(p + i));
        i += value.size() + 1;
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        char* end = nullptr;
        unsigned long long v = std::strtoull(value.c_str(), &end, 10);
        if (end == value.c_str() || *end) return false;
        if (name == "tsize") tsize = v;
        // RFC 2348: the server may only lower blksize, never raise it.
        if (name == "blksize") {
            if (v < 8 || v > blksize) return false;
            blksize = static_cast<uint16_t>(v);
        }
    }
    return true;
}

}  // namespace

const std::vector<BootFile>& pi4_boot_files() {
    static const std::vector<BootFile> files = {
        {"{serial}/start4.elf", true},  // per-serial probe; servers without it: not found
        {"{serial}/config.txt", false},
        {"pieeprom.sig", false},
        {"recover4.elf", false},
        {"recovery.elf", false},
        {"start4.elf", true},
        {"fixup4.dat", true},
        {"recovery.elf", false},
        {"config.txt", true},
        {"dt-blob.bin", false},
        {"recovery.elf", false},
        {"config.txt", true},
        {"bootcfg.txt", false},
        {"bcm2711-rpi-4-b.dtb", true},
        {"overlays/overlay_map.dtb", true},
        {"overlays/vc4-kms-v3d-pi4.dtbo", true},
        {"cmdline.txt", true},
        {"armstub8-gic.bin", false},
        {"kernel8.img", true},
    };
    return files;
}

Result<TftpFetch> tftp_get(Ipv4 source, const TftpTarget& target, const std::string& file,
                           bool early_terminate) {
    auto sock = UdpClient::bind(source, 0);
    if (!sock) return sock.error();
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    TftpFetch out;
    std::vector<uint8_t> rrq = {0, kRrq};
    put_str(rrq, file);
    put_str(rrq, "octet");
    put_str(rrq, "tsize");
    put_str(rrq, "0");
    put_str(rrq, "blksize");
    put_str(rrq, std::to_string(target.blksize));

    std::vector<uint8_t> last = rrq;  // what a timeout retransmits
    sockaddr_in dest = target.server;
    bool have_tid = false;
    uint16_t blksize = target.blksize;
    uint16_t expect = 1;  // next DATA block (wraps at 65535 -> 0, as the tftpd rolls over)
    std::vector<uint8_t> buf(65536);
    int tries = 0;
    if (auto r = sock->send_to(dest, last); !r) return r.error();
    ++out.packets_sent;
    for (;;) {
        sockaddr_in from{};
        auto n = sock->recv_from(buf, from, target.timeout);
        if (!n) {
            if (n.error() != std::errc::timed_out) return n.error();
            // PI-BOOT.md: retransmit once per timeout.
            if (++tries > target.retries) return std::errc::timed_out;
            if (auto r = sock->send_to(dest, last); !r) return r.error();
            ++out.packets_sent;
            continue;
        }
        if (from.sin_addr.s_addr != target.server.sin_addr.s_addr || *n < 4) continue;
        // RFC 1350 §4: the server's first reply fixes its transfer id (port).
        if (!have_tid) {
            dest.sin_port = from.sin_port;
            have_tid = true;
        } else if (from.sin_port != dest.sin_port) {
            auto e = error_packet(5, "Unknown transfer ID");
            (void)sock->send_to(from, e);
            continue;
        }
        const uint8_t* p = buf.data();
        uint16_t opcode = be16(p);
        if (opcode == kError) {
            if (be16(p + 2) == kErrNotFound) {
                out.us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                return out;
            }
            return std::errc::io_error;
        }
        if (opcode == kOack) {
            if (!parse_oack(p + 2, *n - 2, out.tsize, blksize)) return std::errc::protocol_error;
            out.found = true;
            if (early_terminate) {
                auto e = error_packet(0, "Early terminate");
                if (auto r = sock->send_to(dest, e); !r) return r.error();
                ++out.packets_sent;
                out.us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                return out;
            }
            last = ack(0);
            tries = 0;
            if (auto r = sock->send_to(dest, last); !r) return r.error();
            ++out.packets_sent;
            continue;
        }
        if (opcode != kData) return std::errc::protocol_error;
        // RFC 2347: a server that ignores the options answers with DATA in 512-byte blocks.
        if (!out.found) blksize = 512;
        out.found = true;
        uint16_t block = be16(p + 2);
        if (block != expect) {
            // A duplicate of the previous block: our ACK was lost; ACK it again once
            // (never for anything else, PI-BOOT.md: no sorcerer's apprentice).
            if (block == static_cast<uint16_t>(expect - 1)) {
                (void)sock->send_to(dest, ack(block));
                ++out.packets_sent;
            }
            continue;
        }
        size_t len = *n - 4;
        if (len > blksize) return std::errc::protocol_error;
        out.bytes += len;
        last = ack(block);
        tries = 0;
        if (auto r = sock->send_to(dest, last); !r) return r.error();
        ++out.packets_sent;
        ++expect;
        if (len < blksize) {
            if (out.tsize && out.tsize != out.bytes) return std::errc::protocol_error;
            out.us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
            return out;
        }
    }
}

}  // namespace rootfarm::bench
