#pragma once

// The real client for the integration tests: a mounted libnfs context. Kept apart from
// testing.h because libnfs's and libtirpc's RPC headers cannot share a translation unit.

#include <fcntl.h>
#include <nfsc/libnfs.h>

#include <optional>
#include <string>

#include "core/config.h"

namespace rootfarm::nfsd::testing {

// A mounted libnfs context (the real client), as uid/gid.
class LibNfs {
  public:
    LibNfs(const Config& config, int uid = 0, int gid = 0, const std::string& path = "/");
    ~LibNfs();
    nfs_context* ctx() const { return nfs_; }
    bool mounted() const { return mounted_; }
    std::string error() const;
    // Whole-file helpers; nullopt / false on error.
    std::optional<std::string> read_file(const std::string& path);
    bool write_file(const std::string& path, const std::string& content, int mode = 0644);

  private:
    nfs_context* nfs_ = nullptr;
    bool mounted_ = false;
};

}  // namespace rootfarm::nfsd::testing
