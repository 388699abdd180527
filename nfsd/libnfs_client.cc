#include "nfsd/libnfs_client.h"

#include <vector>

namespace rootfarm::nfsd::testing {

LibNfs::LibNfs(const Config& config, int uid, int gid, const std::string& path) {
    nfs_ = nfs_init_context();
    if (!nfs_) return;
    nfs_set_timeout(nfs_, 20000);
    nfs_set_uid(nfs_, uid);
    nfs_set_gid(nfs_, gid);
    std::string url = "nfs://127.0.0.1" + path +
                      "?version=3&nfsport=" + std::to_string(config.nfs.port) +
                      "&mountport=" + std::to_string(config.nfs.mount_port) +
                      "&uid=" + std::to_string(uid) + "&gid=" + std::to_string(gid);
    nfs_url* u = nfs_parse_url_dir(nfs_, url.c_str());
    if (!u) return;
    mounted_ = nfs_mount(nfs_, u->server, u->path) == 0;
    nfs_destroy_url(u);
}

LibNfs::~LibNfs() {
    if (nfs_) nfs_destroy_context(nfs_);
}

std::string LibNfs::error() const {
    return nfs_ ? nfs_get_error(nfs_) : "no context";
}

std::optional<std::string> LibNfs::read_file(const std::string& path) {
    nfsfh* fh = nullptr;
    if (nfs_open(nfs_, path.c_str(), O_RDONLY, &fh) != 0) return std::nullopt;
    std::string out;
    std::vector<char> buf(1 << 20);
    for (;;) {
        int n = nfs_pread(nfs_, fh, out.size(), buf.size(), buf.data());
        if (n < 0) {
            nfs_close(nfs_, fh);
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf.data(), n);
    }
    nfs_close(nfs_, fh);
    return out;
}

bool LibNfs::write_file(const std::string& path, const std::string& content, int mode) {
    nfsfh* fh = nullptr;
    if (nfs_open2(nfs_, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode, &fh) != 0) {
        return false;
    }
    size_t off = 0;
    while (off < content.size()) {
        int n = nfs_pwrite(nfs_, fh, off, content.size() - off, content.data() + off);
        if (n <= 0) {
            nfs_close(nfs_, fh);
            return false;
        }
        off += n;
    }
    bool ok = nfs_fsync(nfs_, fh) == 0;
    return nfs_close(nfs_, fh) == 0 && ok;
}

}  // namespace rootfarm::nfsd::testing
