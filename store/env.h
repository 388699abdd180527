#pragma once

// Env: the one seam every file operation of rootfarm's persistent state goes through (the
// store's journals, snapshots, data objects and id maps, the DHCP leases, the configuration the
// CLI edits, image imports), after LevelDB's Env (util/env_posix.cc). Two things come of it:
//   - a failure names the operation and the file: "fdatasync <dir>/journal: Input/output
//     error" (Error::message()), while Error::code() keeps the errno that NFS maps to a status;
//   - tests swap in an Env that injects EIO or ENOSPC, or forgets what was never synced
//     (store/fault_env_test_util.h).
//
// Descriptors are plain fds owned by the caller, closed with ::close(2): the store hands them
// to io_uring. Operations on a descriptor also take the file's path, used only in messages.
// Reads of immutable image files (ImageIndex::open_file) stay direct: they are the hot path
// of every READ and write nothing.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rootfarm::store {

class Env {
  public:
    virtual ~Env() = default;

    // The real file system. Lives for the whole process.
    static Env* Default();

    // open(2); `mode` applies when O_CREAT creates the file.
    virtual Result<int> open(const std::filesystem::path& path, int flags, mode_t mode = 0600) = 0;
    // Writes all of `data` at `offset` (short writes and EINTR retried).
    virtual Result<void> pwrite(int fd, const std::filesystem::path& path, std::string_view data,
                                uint64_t offset) = 0;
    virtual Result<void> fdatasync(int fd, const std::filesystem::path& path) = 0;
    virtual Result<void> fsync(int fd, const std::filesystem::path& path) = 0;
    virtual Result<void> ftruncate(int fd, const std::filesystem::path& path, uint64_t size) = 0;
    // Makes [offset, offset+length) read as zeros without changing the size, freeing blocks
    // where the file system punches holes.
    virtual Result<void> zero_range(int fd, const std::filesystem::path& path, uint64_t offset,
                                    uint64_t length) = 0;
    // Copies the first `length` bytes of `src` into `dst` (empty): FICLONE when the file
    // system shares extents, else copy_file_range(2), else read and write.
    virtual Result<void> copy_file_data(int src, int dst, const std::filesystem::path& dst_path,
                                        uint64_t length) = 0;
    // renameat2(2); `flags` as RENAME_NOREPLACE / RENAME_EXCHANGE, 0 for rename(2).
    virtual Result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to,
                                unsigned flags = 0) = 0;
    // fsync of a directory: the names created, renamed or removed in it are durable.
    virtual Result<void> sync_dir(const std::filesystem::path& dir) = 0;
    // syncfs(2) of the file system holding `path`: everything written to it is durable (one
    // call instead of an fsync per file, for a whole imported tree).
    virtual Result<void> sync_filesystem(const std::filesystem::path& path) = 0;
    virtual Result<void> unlink(const std::filesystem::path& path) = 0;
    // mkdir(2): EEXIST if the name exists.
    virtual Result<void> mkdir(const std::filesystem::path& path, mode_t mode = 0755) = 0;
    // Removes a tree the caller has already made unreachable (renamed away, durably): nothing
    // has to survive a crash part-way. A missing `path` is not an error.
    virtual Result<void> remove_all(const std::filesystem::path& path) = 0;
    // The whole file; ENOENT if it does not exist.
    virtual Result<std::string> read_file(const std::filesystem::path& path) = 0;

    // Built on the operations above, so a test Env sees each step.

    // mkdir -p: `path` and its missing parents.
    Result<void> create_directories(const std::filesystem::path& path, mode_t mode = 0755);
    // Cuts the file at `path` to `size` bytes.
    Result<void> truncate(const std::filesystem::path& path, uint64_t size);
    // Replaces `path` with `data` atomically and durably: writes `path`.tmp, fsyncs it, renames
    // it over `path`, fsyncs the directory. A crash leaves either the old or the new file. The
    // one way rootfarm replaces a whole file (snapshots, delta.meta, id maps, leases, config).
    Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data,
                                   mode_t mode = 0600);
};

// An Error for a failed `op` ("fdatasync") on `path`: "fdatasync <path>: <strerror(err)>".
Error io_error(std::string_view op, const std::filesystem::path& path, int err);

}  // namespace rootfarm::store
