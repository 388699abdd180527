// ONC RPC over TCP as a connection delivers it (nfsd.cc): record marking (RFC 5531 §11)
// reassembled from reads of arbitrary sizes, then each record's call header and AUTH_SYS
// credential (RFC 5531 §9, appendix A) decoded.
//
// Input: byte 0 sets the size of the simulated socket reads and byte 1 the record limit
// (small limits reach the oversized-record error); the rest is the byte stream.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "nfsd/record.h"
#include "nfsd/rpc.h"

using namespace rootfarm::nfsd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t read_size = 1 + data[0] % 64;
    const size_t max_record = data[1] < 128 ? kMaxRecordBytes : size_t{data[1]} * 4;
    std::span<const uint8_t> stream(data + 2, size - 2);

    RecordAssembler assembler(max_record);
    std::vector<uint8_t> pending;  // received, not yet consumed
    size_t sent = 0;
    while (sent < stream.size()) {
        size_t n = std::min(read_size, stream.size() - sent);
        pending.insert(pending.end(), stream.begin() + sent, stream.begin() + sent + n);
        sent += n;
        for (;;) {
            size_t consumed = 0;
            std::vector<uint8_t> record;
            auto status = assembler.next(pending, consumed, record);
            if (consumed > pending.size()) std::abort();
            pending.erase(pending.begin(), pending.begin() + static_cast<long>(consumed));
            if (status == RecordAssembler::Status::kError) return 0;  // the connection closes
            if (status == RecordAssembler::Status::kNeedMore) break;
            if (record.size() > max_record) std::abort();
            DecodedCall call = decode_call(record);
            if (call.status == CallStatus::kOk) {
                if (call.header.args_offset > record.size()) std::abort();
                if (call.header.cred.ngroups > call.header.cred.groups.size()) std::abort();
            }
        }
    }
    return 0;
}
