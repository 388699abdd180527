#pragma once

// TCP record marking (RFC 5531 §11): a record is one or more fragments, each preceded by a
// 4-byte header whose top bit marks the last fragment and whose low 31 bits give its length.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace rootfarm::nfsd {

// A 1 MiB WRITE (FSINFO wtmax) plus its headers, with room for the largest credentials.
inline constexpr size_t kMaxRecordBytes = (1u << 20) + 16384;

class RecordAssembler {
  public:
    enum class Status {
        kNeedMore,  // no complete record yet; keep the unconsumed bytes and call again later
        kRecord,    // `record` holds one complete call
        kError,     // oversized record: close the connection
    };

    explicit RecordAssembler(size_t max_record = kMaxRecordBytes) : max_(max_record) {}

    // Looks at `input` (bytes received and not yet consumed). Sets `consumed` to the number of
    // bytes the caller must drop from its input, whatever the status. Some clients send many
    // fragments per record; those are reassembled here.
    Status next(std::span<const uint8_t> input, size_t& consumed, std::vector<uint8_t>& record);

    // Bytes of earlier fragments of the current record held so far.
    size_t buffered() const { return partial_.size(); }

  private:
    size_t max_;
    std::vector<uint8_t> partial_;  // fragments of the current record received so far
};

// Writes the single-fragment record mark into the first 4 bytes of `reply`, for a record of
// `reply` and then `more` bytes sent after it (a READ's data sent from the file).
void set_record_mark(std::vector<uint8_t>& reply, size_t more = 0);

}  // namespace rootfarm::nfsd
