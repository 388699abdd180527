// The provided-buffer ring that multishot receives (TCP and UDP) pick their buffers from.

#include <sys/mman.h>

#include "core/loop_internal.h"

namespace rootfarm {

Result<void> Loop::init_buffers() {
    // Provided-buffer ring (kernel 5.19). liburing 2.3 has no io_uring_setup_buf_ring, so the
    // ring memory is mapped and registered by hand.
    const unsigned count = options_.buffer_count;
    buf_ring_bytes_ = count * sizeof(io_uring_buf);
    void* mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return errno_error(errno);
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = count;
    reg.bgid = kBufferGroup;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) return errno_error(-r);
    buffers_.reset(new uint8_t[static_cast<size_t>(count) * options_.buffer_size]);
    for (unsigned i = 0; i < count; ++i) {
        io_uring_buf_ring_add(buf_ring_, buffer(static_cast<uint16_t>(i)), options_.buffer_size,
                              static_cast<uint16_t>(i), io_uring_buf_ring_mask(count),
                              static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
    return {};
}

uint8_t* Loop::buffer(uint16_t bid) {
    return buffers_.get() + static_cast<size_t>(bid) * options_.buffer_size;
}

void Loop::recycle_buffer(uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, buffer(bid), options_.buffer_size, bid,
                          io_uring_buf_ring_mask(options_.buffer_count), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

}  // namespace rootfarm
