#include "bench/tftp_client.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

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
        {"start4.elf", true, true},  // the <serial>/ probe
        {"config.txt", false},
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

TftpSession::TftpSession(const TftpTarget& target, const std::string& file, bool early_terminate)
    : target_(target),
      early_terminate_(early_terminate),
      dest_(target.server),
      blksize_(target.blksize),
      t0_(Clock::now()) {
    last_ = {0, kRrq};
    put_str(last_, file);
    put_str(last_, "octet");
    put_str(last_, "tsize");
    put_str(last_, "0");
    put_str(last_, "blksize");
    put_str(last_, std::to_string(target.blksize));
}

Result<TftpFetch> TftpSession::result() const {
    if (error_) return error_;
    return out_;
}

TftpSession::Out TftpSession::on_timeout() {
    // docs/pi-boot.md: retransmit once per timeout.
    ++out_.timeouts;
    if (++tries_ > target_.retries) {
        finish(std::make_error_code(std::errc::timed_out));
        return {};
    }
    return send(last_);
}

TftpSession::Out TftpSession::on_datagram(const sockaddr_in& from, std::span<const uint8_t> d) {
    if (from.sin_addr.s_addr != target_.server.sin_addr.s_addr || d.size() < 4) return {};
    // RFC 1350 §4: the server's first reply fixes its transfer id (port).
    if (!have_tid_) {
        dest_.sin_port = from.sin_port;
        have_tid_ = true;
    } else if (from.sin_port != dest_.sin_port) {
        return {error_packet(5, "Unknown transfer ID"), from, true};
    }
    const uint8_t* p = d.data();
    const uint16_t opcode = be16(p);
    if (opcode == kError) {
        if (be16(p + 2) == kErrNotFound) {
            finish({});
        } else {
            finish(std::make_error_code(std::errc::io_error));
        }
        return {};
    }
    if (opcode == kOack) {
        if (!parse_oack(p + 2, d.size() - 2, out_.tsize, blksize_)) {
            finish(std::make_error_code(std::errc::protocol_error));
            return {};
        }
        out_.found = true;
        if (early_terminate_) {
            Out o = send(error_packet(0, "Early terminate"));
            finish({});
            return o;
        }
        tries_ = 0;
        return send(ack(0));
    }
    if (opcode != kData) {
        finish(std::make_error_code(std::errc::protocol_error));
        return {};
    }
    // RFC 2347: a server that ignores the options answers with DATA in 512-byte blocks.
    if (!out_.found) blksize_ = 512;
    out_.found = true;
    const uint16_t block = be16(p + 2);
    if (block != expect_) {
        // A duplicate of the previous block: our ACK was lost; ACK it again once
        // (never for anything else, docs/pi-boot.md: no sorcerer's apprentice).
        if (block != static_cast<uint16_t>(expect_ - 1)) return {};
        ++out_.packets_sent;
        return {ack(block), dest_, true};
    }
    const size_t len = d.size() - 4;
    if (len > blksize_) {
        finish(std::make_error_code(std::errc::protocol_error));
        return {};
    }
    out_.bytes += len;
    tries_ = 0;
    Out o = send(ack(block));
    ++expect_;
    if (len < blksize_) {
        finish(out_.tsize && out_.tsize != out_.bytes
                   ? std::make_error_code(std::errc::protocol_error)
                   : std::error_code{});
    }
    return o;
}

TftpSession::Out TftpSession::send(std::vector<uint8_t> packet) {
    ++out_.packets_sent;
    last_ = packet;
    return {std::move(packet), dest_, false};
}

void TftpSession::finish(std::error_code ec) {
    done_ = true;
    error_ = ec;
    out_.us = std::chrono::duration<double, std::micro>(Clock::now() - t0_).count();
}

bool tftp_deliver(UdpClient& sock, TftpSession& s, const TftpSession::Out& o) {
    if (o.packet.empty()) return true;
    auto r = sock.send_to(o.to, o.packet);
    if (r || o.best_effort) return true;
    s.fail(r.error());
    return false;
}

Result<TftpFetch> tftp_get(Ipv4 source, const TftpTarget& target, const std::string& file,
                           bool early_terminate) {
    auto sock = UdpClient::bind(source, 0);
    if (!sock) return sock.error();
    TftpSession s(target, file, early_terminate);
    std::vector<uint8_t> buf(65536);
    tftp_deliver(*sock, s, s.start());
    while (!s.finished()) {
        sockaddr_in from{};
        auto n = sock->recv_from(buf, from, target.timeout);
        if (!n && n.error() != std::errc::timed_out) return n.error();
        tftp_deliver(*sock, s, n ? s.on_datagram(from, {buf.data(), *n}) : s.on_timeout());
    }
    return s.result();
}

std::vector<Result<TftpFetch>> tftp_get_many(std::span<const Ipv4> sources,
                                             const TftpTarget& target, const std::string& file) {
    using Clock = std::chrono::steady_clock;
    struct Slot {
        UdpClient sock;
        TftpSession session;
        Clock::time_point deadline;
    };
    std::vector<Result<TftpFetch>> results(sources.size(), std::errc::operation_canceled);
    UdpPoller poller;
    if (!poller.ok()) {
        std::fill(results.begin(), results.end(), errno_error(errno));
        return results;
    }
    std::vector<std::unique_ptr<Slot>> slots(sources.size());
    size_t running = 0;
    auto settle = [&](size_t i) {
        results[i] = slots[i]->session.result();
        poller.remove(slots[i]->sock);
        slots[i].reset();
        --running;
    };
    for (size_t i = 0; i < sources.size(); ++i) {
        auto sock = UdpClient::bind(sources[i], 0);
        if (!sock) {
            results[i] = sock.error();
            continue;
        }
        slots[i].reset(new Slot{std::move(*sock), TftpSession(target, file, false),
                                Clock::now() + target.timeout});
        poller.add(slots[i]->sock, i);
        ++running;
        if (!tftp_deliver(slots[i]->sock, slots[i]->session, slots[i]->session.start())) settle(i);
    }
    std::vector<uint8_t> buf(65536);
    while (running > 0) {
        auto next = Clock::now() + target.timeout;
        for (auto& slot : slots) {
            if (slot) next = std::min(next, slot->deadline);
        }
        const bool ok = poller.wait(next, [&](uint64_t i) {
            if (!slots[i]) return;
            Slot& slot = *slots[i];
            // Everything queued on this socket, without blocking.
            sockaddr_in from{};
            for (auto got = slot.sock.recv_now(buf, from); got && !slot.session.finished();
                 got = slot.sock.recv_now(buf, from)) {
                // As tftp_get: any datagram restarts the wait (its recv_from is per packet).
                slot.deadline = Clock::now() + target.timeout;
                tftp_deliver(slot.sock, slot.session,
                             slot.session.on_datagram(from, {buf.data(), *got}));
            }
            if (slot.session.finished()) settle(i);
        });
        if (!ok) break;
        const auto now = Clock::now();
        for (size_t i = 0; i < slots.size(); ++i) {
            if (!slots[i] || slots[i]->deadline > now) continue;
            slots[i]->deadline = now + target.timeout;
            tftp_deliver(slots[i]->sock, slots[i]->session, slots[i]->session.on_timeout());
            if (slots[i]->session.finished()) settle(i);
        }
    }
    return results;
}

}  // namespace rootfarm::bench
