#include "nfsd/record.h"

#include "nfsd/rpc.h"

namespace rootfarm::nfsd {

namespace {
constexpr uint32_t kLastFragment = 0x80000000u;
}

RecordAssembler::Status RecordAssembler::next(std::span<const uint8_t> input, size_t& consumed,
                                              std::vector<uint8_t>& record) {
    consumed = 0;
    for (;;) {
        std::span<const uint8_t> in = input.subspan(consumed);
        if (in.size() < 4) return Status::kNeedMore;
        uint32_t mark =
            uint32_t{in[0]} << 24 | uint32_t{in[1]} << 16 | uint32_t{in[2]} << 8 | in[3];
        size_t len = mark & ~kLastFragment;
        // Checked before waiting for the body, so a huge declared length fails at once instead
        // of making us buffer it.
        if (len > max_ || partial_.size() + len > max_) return Status::kError;
        if (in.size() - 4 < len) return Status::kNeedMore;
        bool last = (mark & kLastFragment) != 0;
        if (last && partial_.empty()) {
            record.assign(in.begin() + 4, in.begin() + 4 + len);
            consumed += 4 + len;
            return Status::kRecord;
        }
        partial_.insert(partial_.end(), in.begin() + 4, in.begin() + 4 + len);
        consumed += 4 + len;
        if (last) {
            record = std::move(partial_);
            partial_.clear();
            return Status::kRecord;
        }
    }
}

void set_record_mark(std::vector<uint8_t>& reply, size_t more) {
    uint32_t mark = kLastFragment | static_cast<uint32_t>(reply.size() + more - kReplyMarkBytes);
    reply[0] = uint8_t(mark >> 24);
    reply[1] = uint8_t(mark >> 16);
    reply[2] = uint8_t(mark >> 8);
    reply[3] = uint8_t(mark);
}

}  // namespace rootfarm::nfsd
