#pragma once

// Shared by the fuzz targets: inputs handed to code that reads files or descriptors, and a
// silent log (a line per rejected input would cost more than the parse).

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "core/log.h"

namespace rootfarm::fuzz {

// The input as an anonymous in-memory file: a descriptor for pread(2) readers, and a path
// (/proc/self/fd/N) for readers that open a file by name. Closed at destruction.
class MemFile {
  public:
    explicit MemFile(std::span<const uint8_t> data) : fd_(::memfd_create("fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) std::abort();
        size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
            if (n <= 0) std::abort();
            done += static_cast<size_t>(n);
        }
    }
    ~MemFile() { ::close(fd_); }
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;

    // Grows the file with zeros (a hole: no memory is used) to `size` bytes, if shorter.
    void extend_to(uint64_t size) {
        struct stat st;
        if (::fstat(fd_, &st) != 0) std::abort();
        if (static_cast<uint64_t>(st.st_size) < size &&
            ::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
            std::abort();
        }
    }

    int fd() const { return fd_; }
    std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

  private:
    int fd_;
};

inline void quiet_logs() {
    setup_logging("off");
}

}  // namespace rootfarm::fuzz
