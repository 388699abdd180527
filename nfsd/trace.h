#pragma once

// `[nfs] trace = PATH`: one line per NFS call, for rootfarm-bench to replay a boot's workload.
// Lines carry no paths or names, only what the replay needs:
//   <seconds.nanoseconds> <client ip> <procedure> <object id> [<offset> <count>]

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "core/net.h"
#include "core/result.h"

namespace rootfarm::nfsd {

class Tracer {
  public:
    static Result<std::unique_ptr<Tracer>> open(const std::string& path);
    ~Tracer();

    void record(Ipv4 client, uint32_t proc, uint64_t object, uint64_t offset, uint32_t count);

  private:
    explicit Tracer(FILE* f) : file_(f) {}
    std::mutex mu_;
    FILE* file_;
};

const char* nfs3_proc_name(uint32_t proc);

}  // namespace rootfarm::nfsd
