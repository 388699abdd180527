#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/udp.h"
#include "core/net.h"
#include "core/result.h"

namespace rootfarm::bench {

struct TftpTarget {
    sockaddr_in server{};
    uint16_t blksize = 1024;  // docs/pi-boot.md: the Pi 4 asks blksize 1024
    std::chrono::milliseconds timeout{1000};
    int retries = 5;
};

struct TftpFetch {
    bool found = false;  // false: the server answered ERROR 1 (file not found)
    uint64_t bytes = 0;
    uint64_t tsize = 0;  // from the OACK, 0 if absent
    double us = 0;
    int packets_sent = 0;
    int timeouts = 0;  // waits that ran out (each followed by a retransmit, or the end)
};

// One client transfer's protocol (tftp_get's), apart from its socket, so the blocking client
// and the event-loop ones (the micro benchmark, the storm's Pis) follow the same rules: the
// caller sends what start(), on_datagram() and on_timeout() return, from one socket per transfer,
// and calls on_timeout() when `target.timeout` passed without a datagram. `target` must outlive
// the session.
class TftpSession {
  public:
    // A packet to send, and where; empty when there is nothing to send.
    struct Out {
        std::vector<uint8_t> packet;
        sockaddr_in to{};
        bool best_effort = false;  // a failed send does not end the transfer
    };

    TftpSession(const TftpTarget& target, const std::string& file, bool early_terminate);

    Out start() { return send(last_); }
    bool finished() const { return done_; }
    Result<TftpFetch> result() const;
    int timeouts() const { return out_.timeouts; }
    // A send failed (not a best-effort one): the transfer ends with that error.
    void fail(std::error_code ec) { finish(ec); }
    Out on_timeout();
    Out on_datagram(const sockaddr_in& from, std::span<const uint8_t> d);

  private:
    using Clock = std::chrono::steady_clock;

    // `packet` becomes what a timeout retransmits (the request or the last ACK).
    Out send(std::vector<uint8_t> packet);
    void finish(std::error_code ec);

    const TftpTarget& target_;
    bool early_terminate_;
    sockaddr_in dest_;
    bool have_tid_ = false;
    uint16_t blksize_;
    uint16_t expect_ = 1;  // next DATA block (wraps at 65535 -> 0, as the tftpd rolls over)
    int tries_ = 0;
    std::vector<uint8_t> last_;  // what a timeout retransmits
    TftpFetch out_;
    bool done_ = false;
    std::error_code error_;
    Clock::time_point t0_;
};

// Sends what a session step asks for; false when the session ended on a failed send.
bool tftp_deliver(UdpClient& sock, TftpSession& s, const TftpSession::Out& o);

// One RRQ with `tsize 0 blksize N` (RFC 2347/2348/2349). With `early_terminate` the client
// takes the OACK, answers ERROR 0 "Early terminate" and returns — what the Pi 4 firmware does
// to learn a file's size before it requests the file again (docs/pi-boot.md).
// Errors: timed_out, protocol_error (bad packet/sequence), or the server's ERROR other than
// file-not-found (io_error).
Result<TftpFetch> tftp_get(Ipv4 source, const TftpTarget& target, const std::string& file,
                           bool early_terminate);

// Whole-file transfers as tftp_get (no early terminate), one per source address, all at once
// from the calling thread. Each socket is watched with epoll, so the client costs a receive and
// a send per block rather than a thread wake-up: with 50 blocking client threads on the
// server's own 2 cores, the micro benchmark measured mostly the client's context switches.
// Element i is source i's outcome.
std::vector<Result<TftpFetch>> tftp_get_many(std::span<const Ipv4> sources,
                                             const TftpTarget& target, const std::string& file);

// The files a Pi 4 asks for at boot, in order, with the probes that usually fail
// (docs/pi-boot.md, and the dnsmasq logs of real Pi 4 boots it cites). `{serial}` is replaced by
// the Pi's serial; early: the firmware fetches this one twice (early terminate, then the file). One
// RRQ of a Pi 4's boot (docs/pi-boot.md). The Pi first probes <serial>/start4.elf: found, every
// later file is asked for under <serial>/; not found, under no prefix.
struct BootFile {
    const char* name;
    bool early;          // the OACK is taken and answered "Early terminate" before the real request
    bool probe = false;  // only the early-terminated request: does the file exist?
};
const std::vector<BootFile>& pi4_boot_files();

}  // namespace rootfarm::bench
