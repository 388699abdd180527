// The Loop's file I/O: reads, writes and fsyncs through the ring, completed on the loop thread.

#include "core/loop_internal.h"

namespace rootfarm {

void Loop::read_at(int fd, uint64_t offset, std::span<uint8_t> buf, std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, fd, buf.data(), static_cast<unsigned>(buf.size()), offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void Loop::write_at(int fd, uint64_t offset, std::span<const uint8_t> buf,
                    std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_write(sqe, fd, buf.data(), static_cast<unsigned>(buf.size()), offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void Loop::fsync(int fd, bool datasync, std::function<void(int)> done) {
    Op op;
    op.kind = Op::Kind::kFile;
    op.done = std::move(done);
    const uint64_t ud = new_op(std::move(op));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data64(sqe, ud);
}

}  // namespace rootfarm
