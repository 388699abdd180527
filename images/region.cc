#include "images/region.h"

#include <unistd.h>

#include <cerrno>

#include "images/errors.h"

namespace rootfarm::images {

Result<void> Region::read(uint64_t pos, void* buf, size_t len) const {
    if (pos > size || len > size - pos) {
        return image_error(ImageErrc::kTruncated,
                           "read of {} bytes at {} is outside a {}-byte partition", len, pos, size);
    }
    auto* out = static_cast<uint8_t*>(buf);
    while (len > 0) {
        ssize_t n = ::pread(fd, out, len, static_cast<off_t>(offset + pos));
        if (n < 0) {
            if (errno == EINTR) continue;
            return system_error(errno, "reading the disk image");
        }
        if (n == 0) {
            return image_error(ImageErrc::kTruncated,
                               "disk image ends at byte {}, inside a partition", offset + pos);
        }
        out += n;
        pos += static_cast<uint64_t>(n);
        len -= static_cast<size_t>(n);
    }
    return {};
}

}  // namespace rootfarm::images
