#pragma once

// FaultEnv: an Env for tests that fails chosen operations and simulates a power loss, after
// LevelDB's db/fault_injection_test.cc.
//
// Durability model (what POSIX promises, and no more):
//   - a file's data is durable as of its last fdatasync/fsync; anything written since (pwrite,
//     ftruncate, zero_range, copy_file_data, also into the middle of the file) is lost;
//   - a name created, renamed or unlinked is durable once its directory was fsync'ed after it
//     (sync_dir); until then a power loss reverts it: new names vanish, unlinked or replaced
//     names come back with the inode they had (kept alive by a hard link in a stash
//     directory beside `root`);
//   - sync_filesystem makes everything durable; remove_all is taken as durable at once (it
//     only removes trees that were already made unreachable durably).
// simulate_power_loss() applies this to the real tree below `root`; then the test reopens
// what it tests on the same directory. Files and directories never touched through this Env
// count as durable as they are.
//
// Faults: the n-th operation of a kind fails with a chosen errno (and does nothing), or each
// operation fails with a seeded probability; power_off_after(n) lets n more operations
// through and fails every later one with EIO, as a machine that has lost power would.
// Syncs are not passed on (durability is simulated; a real sync would only cost time). Thread-safe.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "store/env.h"

namespace rootfarm::store::testing {

class FaultEnv final : public Env {
  public:
    enum class Kind {
        kOpen,
        kWrite,     // pwrite
        kSync,      // fdatasync, fsync
        kTruncate,  // ftruncate
        kZeroRange,
        kCopy,  // copy_file_data
        kRename,
        kSyncDir,
        kUnlink,
        kMkdir,
        kRemoveAll,
        kSyncFilesystem,
        kRead,  // read_file
        kCount
    };

    // Tracks changes below `root` (it must exist); `base` does the real work.
    explicit FaultEnv(std::filesystem::path root, Env* base = Env::Default());
    ~FaultEnv() override;

    // The `nth` operation of `kind` from now (1 = the next one) fails with `err`.
    void fail_nth(Kind kind, uint64_t nth, int err);
    // The `nth` operation of any kind from now fails with `err`.
    void fail_operation(uint64_t nth, int err);
    // From now on every operation but reads fails with probability `p` (seeded: the same seed
    // fails the same operations of the same workload).
    void fail_randomly(uint64_t seed, double p, int err);
    // Lets `n` more operations through; every later one fails with EIO.
    void power_off_after(uint64_t n);
    bool powered_off() const;
    // Drops all planned faults and powers back on.
    void clear_faults();
    // Faults injected so far (power-off failures included).
    uint64_t injected() const;
    // The message of the last injected failure ("fdatasync <path>: Input/output error").
    std::string last_injected() const;
    // Operations seen so far (all kinds).
    uint64_t operations() const;

    // Reverts everything not durable below `root` (see above) and starts afresh: what is
    // there now counts as durable. Close every descriptor obtained from this Env first.
    void simulate_power_loss();

    Result<int> open(const std::filesystem::path& path, int flags, mode_t mode) override;
    Result<void> pwrite(int fd, const std::filesystem::path& path, std::string_view data,
                        uint64_t offset) override;
    Result<void> fdatasync(int fd, const std::filesystem::path& path) override;
    Result<void> fsync(int fd, const std::filesystem::path& path) override;
    Result<void> ftruncate(int fd, const std::filesystem::path& path, uint64_t size) override;
    Result<void> zero_range(int fd, const std::filesystem::path& path, uint64_t offset,
                            uint64_t length) override;
    Result<void> copy_file_data(int src, int dst, const std::filesystem::path& dst_path,
                                uint64_t length) override;
    Result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to,
                        unsigned flags) override;
    Result<void> sync_dir(const std::filesystem::path& dir) override;
    Result<void> sync_filesystem(const std::filesystem::path& path) override;
    Result<void> unlink(const std::filesystem::path& path) override;
    Result<void> mkdir(const std::filesystem::path& path, mode_t mode) override;
    Result<void> remove_all(const std::filesystem::path& path) override;
    Result<std::string> read_file(const std::filesystem::path& path) override;

  private:
    // The errno to fail this operation with, 0 to let it run. Counts it. mu_ held.
    int fault(Kind kind);
    // io_error(op, path, err), remembered as the last injected failure. mu_ held.
    Error inject(std::string_view op, const std::filesystem::path& path, int err);
    // Starts tracking a file's data (its current content is durable) unless tracked. mu_ held.
    void track_file(ino_t ino, int fd);
    // Starts tracking a directory's names unless tracked. mu_ held.
    void track_dir(const std::filesystem::path& dir);
    // Keeps the inode at `path` (a file) alive in the stash, so a power loss can bring back
    // a name of it that is about to go. mu_ held.
    void stash(const std::filesystem::path& path);
    std::map<std::string, ino_t> listing(const std::filesystem::path& dir) const;
    // Every inode below `root_` and the stash: one path of each.
    std::map<ino_t, std::filesystem::path> walk() const;
    // The file's current content, read through `fd` (or `path` if fd < 0).
    static std::string content(int fd, const std::filesystem::path& path);

    const std::filesystem::path root_;
    const std::filesystem::path stash_;
    Env* const base_;

    mutable std::mutex mu_;
    std::map<ino_t, std::string> files_;                  // durable data
    std::map<ino_t, std::map<std::string, ino_t>> dirs_;  // durable names
    uint64_t counts_[static_cast<int>(Kind::kCount)] = {};
    uint64_t operations_ = 0;
    struct Planned {
        Kind kind;    // kCount: any
        uint64_t at;  // counts_[kind] (kCount: operations_) value that fails
        int err;
    };
    std::vector<Planned> planned_;
    std::optional<std::mt19937_64> rng_;
    double probability_ = 0;
    int random_err_ = 0;
    std::optional<uint64_t> power_off_at_;  // operations_ value after which all fail
    uint64_t injected_ = 0;
    std::string last_injected_;
    uint64_t aside_ = 0;
};

}  // namespace rootfarm::store::testing
