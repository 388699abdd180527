#include "store/fault_env_test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

namespace rootfarm::store::testing {

namespace {

ino_t ino_of(const std::filesystem::path& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

ino_t ino_of(int fd) {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

bool is_regular(const std::filesystem::path& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Writes `data` as the whole content of `path`, for simulate_power_loss().
void put_content(const std::filesystem::path& path, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return;
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    ::close(fd);
}

}  // namespace

FaultEnv::FaultEnv(std::filesystem::path root, Env* base)
    : root_(std::move(root)),
      stash_(root_.parent_path() / (root_.filename().string() + ".fault-env-stash")),
      base_(base) {}

FaultEnv::~FaultEnv() {
    std::error_code ec;
    std::filesystem::remove_all(stash_, ec);
}

void FaultEnv::fail_nth(Kind kind, uint64_t nth, int err) {
    std::lock_guard lock(mu_);
    planned_.push_back({kind, counts_[static_cast<int>(kind)] + nth, err});
}

void FaultEnv::fail_operation(uint64_t nth, int err) {
    std::lock_guard lock(mu_);
    planned_.push_back({Kind::kCount, operations_ + nth, err});
}

void FaultEnv::fail_randomly(uint64_t seed, double p, int err) {
    std::lock_guard lock(mu_);
    rng_.emplace(seed);
    probability_ = p;
    random_err_ = err;
}

void FaultEnv::power_off_after(uint64_t n) {
    std::lock_guard lock(mu_);
    power_off_at_ = operations_ + n;
}

bool FaultEnv::powered_off() const {
    std::lock_guard lock(mu_);
    return power_off_at_ && operations_ >= *power_off_at_;
}

void FaultEnv::clear_faults() {
    std::lock_guard lock(mu_);
    planned_.clear();
    rng_.reset();
    power_off_at_.reset();
}

uint64_t FaultEnv::injected() const {
    std::lock_guard lock(mu_);
    return injected_;
}

std::string FaultEnv::last_injected() const {
    std::lock_guard lock(mu_);
    return last_injected_;
}

Error FaultEnv::inject(std::string_view op, const std::filesystem::path& path, int err) {
    Error e = io_error(op, path, err);
    last_injected_ = e.message();
    return e;
}

uint64_t FaultEnv::operations() const {
    std::lock_guard lock(mu_);
    return operations_;
}

int FaultEnv::fault(Kind kind) {
    ++operations_;
    uint64_t n = ++counts_[static_cast<int>(kind)];
    if (power_off_at_ && operations_ > *power_off_at_) {
        ++injected_;
        return EIO;
    }
    for (auto it = planned_.begin(); it != planned_.end(); ++it) {
        if ((it->kind == kind && it->at == n) ||
            (it->kind == Kind::kCount && it->at == operations_)) {
            int err = it->err;
            planned_.erase(it);
            ++injected_;
            return err;
        }
    }
    if (rng_ && kind != Kind::kRead &&
        std::uniform_real_distribution<double>(0, 1)(*rng_) < probability_) {
        ++injected_;
        return random_err_;
    }
    return 0;
}

std::string FaultEnv::content(int fd, const std::filesystem::path& path) {
    // Through /proc: the descriptor may be write-only, and its name may have moved.
    std::filesystem::path p =
        fd >= 0 ? std::filesystem::path("/proc/self/fd/" + std::to_string(fd)) : path;
    int rfd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return {};
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::pread(rfd, buf, sizeof buf, static_cast<off_t>(out.size()));
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(rfd);
    return out;
}

void FaultEnv::track_file(ino_t ino, int fd) {
    if (ino != 0 && !files_.contains(ino)) files_.emplace(ino, content(fd, {}));
}

std::map<std::string, ino_t> FaultEnv::listing(const std::filesystem::path& dir) const {
    std::map<std::string, ino_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        out.emplace(e.path().filename().string(), ino_of(e.path()));
    }
    return out;
}

void FaultEnv::track_dir(const std::filesystem::path& dir) {
    ino_t ino = ino_of(dir);
    if (ino != 0 && !dirs_.contains(ino)) dirs_.emplace(ino, listing(dir));
}

void FaultEnv::stash(const std::filesystem::path& path) {
    if (!is_regular(path)) return;
    std::error_code ec;
    std::filesystem::create_directories(stash_, ec);
    std::filesystem::path kept = stash_ / std::to_string(ino_of(path));
    (void)::link(path.c_str(), kept.c_str());  // EEXIST: kept already
}

std::map<ino_t, std::filesystem::path> FaultEnv::walk() const {
    std::map<ino_t, std::filesystem::path> out;
    for (const std::filesystem::path& top : {root_, stash_}) {
        std::error_code ec;
        if (!std::filesystem::exists(top, ec)) continue;
        out.emplace(ino_of(top), top);
        for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
             !ec && it != std::filesystem::end(it); it.increment(ec)) {
            out.emplace(ino_of(it->path()), it->path());
        }
    }
    return out;
}

Result<int> FaultEnv::open(const std::filesystem::path& path, int flags, mode_t mode) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kOpen)) return inject("open", path, err);
    ino_t before = ino_of(path);
    if (flags & O_CREAT) track_dir(path.parent_path());
    if (before != 0 && (flags & O_TRUNC) && is_regular(path) && !files_.contains(before)) {
        files_.emplace(before, content(-1, path));
    }
    Result<int> fd = base_->open(path, flags, mode);
    // A new inode: none of its data is durable yet.
    if (fd.ok() && before == 0 && (flags & O_CREAT)) files_[ino_of(*fd)] = "";
    return fd;
}

Result<void> FaultEnv::pwrite(int fd, const std::filesystem::path& path, std::string_view data,
                              uint64_t offset) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kWrite)) return inject("write", path, err);
    track_file(ino_of(fd), fd);
    return base_->pwrite(fd, path, data, offset);
}

Result<void> FaultEnv::fdatasync(int fd, const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kSync)) return inject("fdatasync", path, err);
    Result<void> r;  // durability is simulated: a real sync would only cost time
    if (r.ok()) {
        if (auto it = files_.find(ino_of(fd)); it != files_.end()) it->second = content(fd, {});
    }
    return r;
}

Result<void> FaultEnv::fsync(int fd, const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kSync)) return inject("fsync", path, err);
    Result<void> r;
    if (r.ok()) {
        if (auto it = files_.find(ino_of(fd)); it != files_.end()) it->second = content(fd, {});
    }
    return r;
}

Result<void> FaultEnv::ftruncate(int fd, const std::filesystem::path& path, uint64_t size) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kTruncate)) return inject("truncate", path, err);
    track_file(ino_of(fd), fd);
    return base_->ftruncate(fd, path, size);
}

Result<void> FaultEnv::zero_range(int fd, const std::filesystem::path& path, uint64_t offset,
                                  uint64_t length) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kZeroRange)) return inject("zero range of", path, err);
    track_file(ino_of(fd), fd);
    return base_->zero_range(fd, path, offset, length);
}

Result<void> FaultEnv::copy_file_data(int src, int dst, const std::filesystem::path& dst_path,
                                      uint64_t length) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kCopy)) return inject("copy into", dst_path, err);
    track_file(ino_of(dst), dst);
    return base_->copy_file_data(src, dst, dst_path, length);
}

Result<void> FaultEnv::rename(const std::filesystem::path& from, const std::filesystem::path& to,
                              unsigned flags) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kRename)) {
        return inject("rename " + from.string() + " to", to, err);
    }
    track_dir(from.parent_path());
    track_dir(to.parent_path());
    if (!(flags & RENAME_EXCHANGE)) stash(to);  // its name may come back, with this inode
    return base_->rename(from, to, flags);
}

Result<void> FaultEnv::sync_dir(const std::filesystem::path& dir) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kSyncDir)) return inject("fsync directory", dir, err);
    Result<void> r;
    if (r.ok()) {
        if (auto it = dirs_.find(ino_of(dir)); it != dirs_.end()) it->second = listing(dir);
    }
    return r;
}

Result<void> FaultEnv::sync_filesystem(const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kSyncFilesystem)) return inject("syncfs", path, err);
    Result<void> r;
    if (r.ok()) {
        // Everything as it is now is durable: nothing is tracked any more.
        files_.clear();
        dirs_.clear();
    }
    return r;
}

Result<void> FaultEnv::unlink(const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kUnlink)) return inject("unlink", path, err);
    track_dir(path.parent_path());
    stash(path);
    return base_->unlink(path);
}

Result<void> FaultEnv::mkdir(const std::filesystem::path& path, mode_t mode) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kMkdir)) return inject("mkdir", path, err);
    track_dir(path.parent_path());
    Result<void> r = base_->mkdir(path, mode);
    if (r.ok()) dirs_[ino_of(path)] = {};  // a new directory: none of its names is durable
    return r;
}

Result<void> FaultEnv::remove_all(const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kRemoveAll)) return inject("remove", path, err);
    // Taken as durable at once: forget the tree, and its name in its parent.
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        files_.erase(ino_of(path));
        dirs_.erase(ino_of(path));
        for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
             !ec && it != std::filesystem::end(it); it.increment(ec)) {
            files_.erase(ino_of(it->path()));
            dirs_.erase(ino_of(it->path()));
        }
    }
    if (auto it = dirs_.find(ino_of(path.parent_path())); it != dirs_.end()) {
        it->second.erase(path.filename().string());
    }
    return base_->remove_all(path);
}

Result<std::string> FaultEnv::read_file(const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    if (int err = fault(Kind::kRead)) return inject("read", path, err);
    return base_->read_file(path);
}

void FaultEnv::simulate_power_loss() {
    std::lock_guard lock(mu_);
    std::error_code ec;
    std::filesystem::create_directories(stash_, ec);
    // Names that are not durable go aside (not away: another directory's durable name may
    // be the same inode, as after a rename only the target directory of was synced).
    for (const auto& [dir, durable] : dirs_) {
        auto where = walk();
        auto it = where.find(dir);
        if (it == where.end()) continue;
        for (const auto& [name, ino] : listing(it->second)) {
            auto d = durable.find(name);
            if (d != durable.end() && d->second == ino) continue;
            std::filesystem::path aside = stash_ / ("aside-" + std::to_string(++aside_));
            std::filesystem::rename(it->second / name, aside, ec);
        }
    }
    // Durable names that are missing come back. Twice: a directory may come back in the first
    // pass only after a name inside it was looked for.
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& [dir, durable] : dirs_) {
            auto where = walk();
            auto it = where.find(dir);
            if (it == where.end()) continue;
            std::map<std::string, ino_t> now = listing(it->second);
            for (const auto& [name, ino] : durable) {
                if (now.contains(name)) continue;
                auto src = where.find(ino);
                if (src == where.end()) continue;  // removed by remove_all: gone for good
                std::filesystem::path dst = it->second / name;
                if (std::filesystem::is_directory(std::filesystem::symlink_status(src->second))) {
                    std::filesystem::rename(src->second, dst, ec);
                } else {
                    (void)::link(src->second.c_str(), dst.c_str());
                }
            }
        }
    }
    // Data back to its last synced state, also where only the middle of a file was written.
    auto where = walk();
    for (const auto& [ino, data] : files_) {
        auto it = where.find(ino);
        if (it != where.end() && is_regular(it->second)) put_content(it->second, data);
    }
    std::filesystem::remove_all(stash_, ec);
    files_.clear();
    dirs_.clear();
    planned_.clear();
    rng_.reset();
    power_off_at_.reset();
}

}  // namespace rootfarm::store::testing
