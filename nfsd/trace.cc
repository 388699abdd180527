#include "nfsd/trace.h"

#include <cerrno>
#include <chrono>

#include "nfsd/nfs3.h"

namespace rootfarm::nfsd {

const char* nfs3_proc_name(uint32_t proc) {
    static constexpr const char* kNames[] = {
        "NULL",    "GETATTR",     "SETATTR", "LOOKUP", "ACCESS",   "READLINK", "READ",   "WRITE",
        "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",    "RENAME", "LINK",
        "READDIR", "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT",
    };
    return proc < kNfs3ProcCount ? kNames[proc] : "UNKNOWN";
}

Result<std::unique_ptr<Tracer>> Tracer::open(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return errno_error(errno);
    return std::unique_ptr<Tracer>(new Tracer(f));
}

Tracer::~Tracer() {
    std::fclose(file_);
}

void Tracer::record(Ipv4 client, uint32_t proc, uint64_t object, uint64_t offset, uint32_t count) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    std::lock_guard lock(mu_);
    std::fprintf(file_, "%lld.%09lld %s %s %llu", static_cast<long long>(ns / 1000000000),
                 static_cast<long long>(ns % 1000000000), client.to_string().c_str(),
                 nfs3_proc_name(proc), static_cast<unsigned long long>(object));
    if (proc == kNfs3Read || proc == kNfs3Write || proc == kNfs3Commit) {
        std::fprintf(file_, " %llu %u", static_cast<unsigned long long>(offset), count);
    }
    std::fputc('\n', file_);
    std::fflush(file_);
}

}  // namespace rootfarm::nfsd
