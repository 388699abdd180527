#pragma once

// The store: one golden image (root tree + boot tree + optional read-only layers), and one
// writable copy-on-write delta per client. Protocol code (nfsd, tftpd) talks only to this.
//
// Errors are errno values in std::generic_category():
//   ENOENT no such name            EEXIST name exists           ENOTDIR / EISDIR wrong type
//   ENOTEMPTY directory not empty  EINVAL bad argument          ENAMETOOLONG name > 255 bytes
//   EDQUOT client quota exceeded   ENOSPC disk full             EXDEV / EMLINK as POSIX
//   EFBIG  size past kMaxFileSize
//   ESTALE  object gone, or handle of a reset delta / other image generation
//   EBADF   handle malformed, forged (tag mismatch) or issued to another client
//   ECANCELED  SETATTR guard (ctime) did not match          (NFS3ERR_NOT_SYNC)
//   EIO     backing storage failed             EROFS  mutating call on an image_view
// Permission checks against caller credentials are the protocol's job (nfsd); the store
// enforces only structure (types, emptiness, names, quota).

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "store/env.h"

namespace rootfarm::store {

using ObjectId = uint64_t;

// The largest file size (off_t's range, and FSINFO maxfilesize): a write ending past it or a
// larger SETATTR size is EFBIG, so sizes and the quota's byte counts never overflow.
inline constexpr uint64_t kMaxFileSize = INT64_MAX;

// Values are those of NFSv3 ftype3 (RFC 1813 §2.5).
enum class FileType : uint8_t {
    kRegular = 1,
    kDirectory = 2,
    kBlock = 3,
    kChar = 4,
    kSymlink = 5,
    kSocket = 6,
    kFifo = 7
};

struct Time {
    int64_t sec = 0;
    uint32_t nsec = 0;
    auto operator<=>(const Time&) const = default;
};

struct Attr {
    FileType type = FileType::kRegular;
    uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (07777), no type bits
    uint32_t nlink = 1;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t size = 0;
    uint64_t used = 0;  // bytes allocated
    uint32_t rdev_major = 0;
    uint32_t rdev_minor = 0;
    uint64_t fsid = 0;    // one fsid for the whole view (docs/pi-boot.md NFS 2)
    uint64_t fileid = 0;  // == object id; below 2^32 where possible (docs/pi-boot.md NFS 3)
    Time atime, mtime, ctime;
};

// Pre-operation attributes for wcc_data (RFC 1813 §2.6).
struct WccAttr {
    uint64_t size = 0;
    Time mtime, ctime;
};

// Captured atomically with the change it brackets (docs/pi-boot.md NFS 10).
struct Wcc {
    std::optional<WccAttr> before;
    std::optional<Attr> after;
};

struct SetAttrArgs {
    enum class TimeHow { kDontChange, kServerTime, kClientTime };
    std::optional<uint32_t> mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<uint64_t> size;
    TimeHow atime_how = TimeHow::kDontChange;
    TimeHow mtime_how = TimeHow::kDontChange;
    Time atime, mtime;
    std::optional<Time> guard_ctime;  // RFC 1813 §3.3.2: compared to the nanosecond
};

// Who creates an object: the new object's owner.
struct Owner {
    uint32_t uid = 0;
    uint32_t gid = 0;
};

struct CreateArgs {
    enum class Mode { kUnchecked, kGuarded, kExclusive };  // RFC 1813 §3.3.8
    Mode mode = Mode::kUnchecked;
    uint64_t verifier = 0;  // kExclusive: persisted, a retransmit gets the same object back
    SetAttrArgs attrs;      // initial attributes (ignored for kExclusive)
    Owner owner;
};

struct NewObject {
    ObjectId id = 0;
    Attr attr;
    Wcc dir;  // the parent directory's wcc
};

struct RenameResult {
    Wcc from_dir;
    Wcc to_dir;
};

struct LinkResult {
    Attr file;
    Wcc dir;
};

struct DirEntry {
    std::string name;
    ObjectId id = 0;
    uint64_t cookie = 0;  // stable per entry; never 0, 1 or 2 (left for ".", ".." and start)
    FileType type = FileType::kRegular;
};

struct DirPage {
    std::vector<DirEntry> entries;  // "." and ".." are not included
    bool eof = false;
};

// A backing file open for I/O. The descriptor stays valid while this object lives, even if the
// client's view moves on (copy-up, rename, remove).
class BackingFile {
  public:
    explicit BackingFile(int fd) : fd_(fd) {}
    ~BackingFile();
    BackingFile(const BackingFile&) = delete;
    BackingFile& operator=(const BackingFile&) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

struct ReadTarget {
    std::shared_ptr<BackingFile> file;  // nullptr when the file is empty or all hole
    Attr attr;                          // size bounds the read: bytes past the backing file's
                                        // end but below attr.size read as zeros
};

struct WriteTarget {
    std::shared_ptr<BackingFile> file;  // the client's own data object (copied up if needed)
    WccAttr before;
};

struct FsStat {
    uint64_t total_bytes = 0, free_bytes = 0, avail_bytes = 0;
    uint64_t total_files = 0, free_files = 0, avail_files = 0;
};

// An opaque NFS file handle, at most 64 bytes (RFC 1813 §2.5 allows 64).
struct Handle {
    uint8_t size = 0;
    std::array<uint8_t, 64> bytes{};
    std::span<const uint8_t> span() const { return {bytes.data(), size}; }
};

// A file the server writes into a client's view, such as its identity (/etc/hostname), without
// touching the image. It is written only where the image has a regular file at `path`, and
// only while the client has not changed or removed that file itself: from then on the client's
// own version wins (and survives like any other change it made).
struct GeneratedFile {
    std::string path;  // absolute in the view, e.g. "/etc/hostname"
    // The content, made from the image's content of the same file; nullopt leaves the file as
    // it is this time (what makes it failed, and was logged).
    std::function<std::optional<std::string>(std::string_view image_content)> content;
    // Made once: a version generated earlier stays as it is, whatever `content` would give now
    // (a secret key made at the client's first boot). A reset delta gets a new one.
    bool keep = false;
};

class CommitLog;

// Durability its caller waits for by callback instead of a blocked thread.
//
// While a Deferred is alive on a thread, a namespace operation or a setattr of a view called on
// that thread (with the store's commit log: StoreOptions::commit_log) returns once its records
// are applied and logged, without waiting for them to be durable; the Deferred holds what to
// wait for, and the steps that must follow durability (dropping a removed file's data). A
// call that would block on more than that (copying an image file up, cutting a data file, a
// compaction, a write) fails with EWOULDBLOCK before it changes anything, and would_block()
// says so: run it again without a Deferred, on a thread that may block. Without a commit log,
// calls wait as they do without a Deferred.
class Deferred {
  public:
    Deferred();
    ~Deferred();
    Deferred(const Deferred&) = delete;
    Deferred& operator=(const Deferred&) = delete;

    // The innermost Deferred alive on this thread, or nullptr.
    static Deferred* current();

    // Calls made under it logged records that are not known to be durable.
    bool pending() const { return position_ != 0; }
    // A call refused with EWOULDBLOCK.
    bool would_block() const { return would_block_; }
    // Calls `done` once every record of the calls made under it is durable and the steps
    // that follow have run, or with the error that stopped the commit log (nothing of the
    // calls is promised then): at once when nothing is pending, else from the commit log's
    // sync thread. `done` must be quick (post the reply to where it goes).
    void when_durable(std::function<void(Result<void>)> done);

  private:
    friend class ClientViewImpl;
    Deferred* outer_;
    std::shared_ptr<CommitLog> log_;
    uint64_t position_ = 0;
    std::vector<std::function<void()>> after_;
    bool would_block_ = false;
};

// One client's merged, writable view of its image. Thread-safe: calls may come from every NFS
// and TFTP worker at once. Every namespace operation and setattr is on stable storage (journal
// fdatasync'ed, group-committed with concurrent callers) before it returns, or, under a
// Deferred, before the Deferred's callback runs.
class ClientView {
  public:
    virtual ~ClientView() = default;

    virtual const MacAddr& mac() const = 0;
    virtual const std::string& image() const = 0;
    // Whether its mutations can leave their wait for durability to a Deferred (above).
    virtual bool defers_durability() const { return false; }
    virtual ObjectId root() const = 0;
    // The directory where the boot tree is mounted in this view (e.g. /boot/firmware); the TFTP
    // server serves files below it.
    virtual ObjectId boot_root() const = 0;

    // Handles resolve only in the view that issued them and survive restarts, renames and
    // copy-ups.
    virtual Handle handle(ObjectId id) const = 0;
    virtual Result<ObjectId> resolve(std::span<const uint8_t> handle) const = 0;

    virtual Result<Attr> getattr(ObjectId id) const = 0;
    // "." and ".." are understood; ".." of the root is the root.
    virtual Result<ObjectId> lookup(ObjectId dir, std::string_view name) const = 0;
    virtual Result<std::string> readlink(ObjectId id) const = 0;
    // Entries after `cookie` (0 = from the start), at most `max_entries`. Cookies stay valid
    // across changes and restarts: an entry removed since is simply skipped.
    virtual Result<DirPage> readdir(ObjectId dir, uint64_t cookie, size_t max_entries) const = 0;
    virtual FsStat fsstat() const = 0;

    virtual Result<ReadTarget> open_read(ObjectId id) const = 0;
    // Copies lower data up on the first write (FICLONE, else copy_file_range); the caller then
    // writes into the returned file (e.g. with io_uring) and reports with end_write.
    virtual Result<WriteTarget> begin_write(ObjectId id) = 0;
    // Writes `data` at `offset` into the file begin_write returned for `id`, through the
    // store's Env (an error names the data file and the operation).
    virtual Result<void> write_data(ObjectId id, const WriteTarget& target, uint64_t offset,
                                    std::string_view data) = 0;
    // Records the write [offset, offset+count): size and mtime/ctime. With `stable`, data and
    // metadata are synced before it returns (FILE_SYNC); otherwise they wait for commit().
    virtual Result<Attr> end_write(ObjectId id, uint64_t offset, uint64_t count, bool stable) = 0;
    // write_data() then end_write(), in one call: a small stable write's bytes then travel in
    // the store's commit log, so that one fdatasync covers them with every other client's.
    virtual Result<Attr> write(ObjectId id, const WriteTarget& target, uint64_t offset,
                               std::string_view data, bool stable) = 0;
    // Makes every write to `id` so far stable (COMMIT).
    virtual Result<void> commit(ObjectId id) = 0;

    virtual Result<Wcc> setattr(ObjectId id, const SetAttrArgs& args) = 0;
    virtual Result<NewObject> create(ObjectId dir, std::string_view name,
                                     const CreateArgs& args) = 0;
    virtual Result<NewObject> mkdir(ObjectId dir, std::string_view name, const SetAttrArgs& attrs,
                                    Owner owner) = 0;
    virtual Result<NewObject> symlink(ObjectId dir, std::string_view name, std::string_view target,
                                      const SetAttrArgs& attrs, Owner owner) = 0;
    // type is kChar, kBlock, kSocket or kFifo.
    virtual Result<NewObject> mknod(ObjectId dir, std::string_view name, FileType type,
                                    uint32_t rdev_major, uint32_t rdev_minor,
                                    const SetAttrArgs& attrs, Owner owner) = 0;
    virtual Result<LinkResult> link(ObjectId file, ObjectId dir, std::string_view name) = 0;
    virtual Result<Wcc> remove(ObjectId dir, std::string_view name) = 0;
    virtual Result<Wcc> rmdir(ObjectId dir, std::string_view name) = 0;
    // POSIX rename: over an existing target of a compatible type, across directories.
    virtual Result<RenameResult> rename(ObjectId from_dir, std::string_view from_name,
                                        ObjectId to_dir, std::string_view to_name) = 0;

    // Brings the generated files up to date (call it when the client mounts, i.e. boots). Files
    // the server generated earlier are rewritten if their content changed (a new hostname, a
    // new image); they never show in diff(). Returns how many files it wrote.
    virtual Result<size_t> generate(std::span<const GeneratedFile> files) = 0;
};

struct StoreOptions {
    std::filesystem::path state_dir;
    std::string boot_mount = "/boot/firmware";
    uint64_t client_quota = 0;  // bytes; 0 = unlimited
    // Every file the store writes goes through it (tests swap it); must outlive the Store.
    Env* env = Env::Default();
    // One commit log for every client's journal (store/commit_log.h); false: each journal
    // syncs itself (tests of a journal's own group commit).
    bool commit_log = true;
    // A checkpoint of the commit log starts once its file holds this many bytes (tests make
    // it small to checkpoint often).
    uint64_t commit_log_checkpoint_bytes = 64u << 20;
    // A client's journal is compacted into its snapshot past this size (tests make it small).
    uint64_t compact_bytes = 4u << 20;
};

// What changed in one client's delta, for `rootfarm client diff`.
struct DeltaChange {
    char kind;  // 'A' added, 'M' modified (data or attributes), 'D' removed
    std::string path;
};

class Store {
  public:
    // Opens <state_dir> (creating it and its secret key if needed).
    static Result<std::unique_ptr<Store>> open(const StoreOptions& options);
    virtual ~Store() = default;

    virtual std::vector<std::string> images() const = 0;
    // The view of client `mac` onto image `image`, created (empty delta) on first use and
    // shared by every later caller. ENOENT if the image does not exist.
    virtual Result<std::shared_ptr<ClientView>> view(const MacAddr& mac,
                                                     std::string_view image) = 0;
    // A read-only view of the pristine image, for clients we do not know (TFTP from an unknown
    // address serves the default image's boot files). Mutating calls answer EROFS.
    virtual Result<std::shared_ptr<const ClientView>> image_view(std::string_view image) = 0;
    // Drops the client's delta while serving: its old handles answer ESTALE from now on, other
    // clients are untouched, and its next view() is the pristine image.
    virtual Result<void> reset(const MacAddr& mac) = 0;
    virtual Result<std::vector<DeltaChange>> diff(const MacAddr& mac) const = 0;
    // Moves client `mac` to image `image` (call it when the client mounts, never under a running
    // client). With `keep_delta` its changes stay and apply by object id: they land on the same
    // paths where the new image's ids were carried over from the old one (store/id_map.h);
    // without, its delta is dropped as by reset(). Until then view() of another image than the
    // client's delta answers EXDEV. ENOENT if the image does not exist.
    virtual Result<void> switch_image(const MacAddr& mac, std::string_view image,
                                      bool keep_delta) = 0;
    // The image client `mac`'s delta was made on; ENOENT if it has no delta yet.
    virtual Result<std::string> delta_image(const MacAddr& mac) const = 0;
    // Bytes on disk of client `mac`'s delta (0 if it has none).
    virtual uint64_t delta_bytes(const MacAddr& mac) const = 0;
    // The MACs that have a delta, whether or not a view of theirs is open.
    virtual std::vector<MacAddr> clients_with_delta() const = 0;
    // 16 bytes only this store can make for `mac` and `purpose` (keyed with its secret): the
    // same across restarts and resets, different for every client and purpose.
    virtual std::array<uint8_t, 16> client_secret(const MacAddr& mac,
                                                  std::string_view purpose) const = 0;
};

}  // namespace rootfarm::store
