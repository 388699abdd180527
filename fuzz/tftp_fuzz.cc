// A TFTP datagram as the server receives it (tftpd.cc): the opcode, then a read or write
// request (RFC 1350 §5) with its options negotiated (RFC 2347, 2348, 2349, 7440), or an ACK or
// ERROR as a transfer reads them. An accepted negotiation must encode into an OACK.

#include <cstdint>
#include <cstdlib>
#include <span>

#include "fuzz/fuzz_util.h"
#include "tftpd/options.h"
#include "tftpd/packet.h"

using namespace rootfarm::tftpd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> packet(data, size);
    auto op = decode_opcode(packet);
    if (!op.ok()) return 0;
    switch (*op) {
        case Opcode::kRrq:
        case Opcode::kWrq: {
            auto request = decode_request(packet);
            if (!request.ok()) return 0;
            if (request->filename.size() > kMaxFilenameLength) std::abort();
            if (request->options.size() > kMaxOptions) std::abort();
            for (uint64_t file_size : {uint64_t{0}, uint64_t{1} << 20, ~uint64_t{0}}) {
                Negotiated n = negotiate(request->options, request->mode, file_size);
                if (n.block_size < 8 || n.block_size > kMaxBlockSize || n.window == 0) {
                    std::abort();
                }
                // The caps a transfer's memory relies on (OptionLimits).
                const OptionLimits limits;
                if (n.window > limits.max_window) std::abort();
                if (n.window > 1 && size_t{n.window} * n.block_size > limits.max_window_bytes) {
                    std::abort();
                }
                if (!n.oack.empty()) (void)encode_oack(n.oack);
            }
            // What the client sent must encode again (the tests' raw client does).
            (void)encode_request(*request);
            break;
        }
        case Opcode::kAck:
            (void)decode_ack(packet);
            break;
        case Opcode::kError:
            (void)decode_error(packet);
            break;
        default:
            break;
    }
    return 0;
}
