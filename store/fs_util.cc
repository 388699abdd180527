#include "store/fs_util.h"

#include <sys/random.h>
#include <unistd.h>

#include <ctime>

namespace rootfarm::store {

std::error_code last_error() {
    return errno_error(errno);
}

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::getrandom(out.data() + done, n - done, 0);
        if (r > 0) done += static_cast<size_t>(r);
    }
    return out;
}

Time now() {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return Time{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

}  // namespace rootfarm::store
