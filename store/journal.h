#pragma once

// A write-ahead journal of checksummed records, and the atomic snapshot it is compacted into.
//
// File layout (journal and snapshot alike): an 8-byte magic, then records, each
//   u32 payload length | u64 XXH3-64 of the payload | payload        (little-endian)
// Replay stops at the first record that is short or whose checksum does not match: that is the
// tail a crash tore, and the journal is cut there before anything new is appended.
//
// Durability is group-committed: append() only write(2)s; wait_durable() returns once an
// fdatasync covering the record has completed. While one caller's fdatasync runs, records
// appended by others pile up and the next fdatasync covers all of them. A journal attached to
// the store's commit log (store/commit_log.h) is covered by the log's fdatasync instead, shared
// with every other client's journal; its own file is synced by the log's checkpoints.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"
#include "core/result.h"
#include "store/commit_log.h"
#include "store/env.h"

namespace rootfarm::store {

// Called for each intact record in order; returning false stops the replay as corrupt (EIO).
using RecordFn = std::function<bool(std::string_view payload)>;

class Journal {
  public:
    // Opens `path` (creating it), replays its intact records into `on_record` and cuts the torn
    // tail, if any. Every file operation goes through `env`, which must outlive the journal.
    // Errors carry the operation and path (Result::message()).
    static Result<std::unique_ptr<Journal>> open(Env& env, const std::filesystem::path& path,
                                                 const RecordFn& on_record);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    // From now on records go to `log` too, as `member`'s, and are durable with the log.
    void attach(CommitLog* log, LogMember member);
    // Appends one record (not yet durable), and `write` with it to the commit log (attached
    // journals only). Returns the position to hand to wait_durable(). On failure nothing of the
    // record stays in the file.
    Result<uint64_t> append(std::string_view payload, LoggedWrite* write = nullptr);
    // Returns once every record up to `position` is on stable storage.
    Result<void> wait_durable(uint64_t position);
    // Position after the last appended record.
    uint64_t end() const;
    // The commit log it is attached to, and as whom (nullptr if none).
    CommitLog* log() const { return log_; }
    const LogMember& member() const { return member_; }
    // Whether an fdatasync failed (logged then): every later call fails.
    bool stopped() const;
    // Drops every record, after the caller has made a snapshot of them durable.
    Result<void> clear();

    // Bytes of records in the file now.
    uint64_t bytes() const;
    // fdatasync calls made so far.
    uint64_t syncs() const;
    // Tests: runs inside every group sync, before fdatasync, without the journal's lock held.
    void set_sync_hook(std::function<void()> hook) { sync_hook_ = std::move(hook); }
    // Tests: the same for every journal of the process, for tests that reach journals only
    // through a server (holding a client's sync open to see who else gets answered meanwhile).
    // nullptr removes it.
    static void set_global_sync_hook(void (*hook)());
    static void (*global_sync_hook())();

  private:
    Journal(Env& env, std::filesystem::path path, int fd, uint64_t end);

    Env& env_;
    const std::filesystem::path path_;
    int fd_;
    mutable Mutex mu_;
    CondVar cv_;
    // Positions are base_ + file offset, so they never go backwards.
    uint64_t base_ GUARDED_BY(mu_) = 0;
    uint64_t end_ GUARDED_BY(mu_);  // file offset after the last record
    uint64_t synced_ GUARDED_BY(mu_) = 0;
    bool syncing_ GUARDED_BY(mu_) = false;
    // Once an fdatasync failed, nothing is promised any more.
    Error failed_ GUARDED_BY(mu_) = std::error_code{};
    uint64_t syncs_ GUARDED_BY(mu_) = 0;
    std::function<void()> sync_hook_;
    // Set once by attach(), before the journal is shared.
    CommitLog* log_ = nullptr;
    LogMember member_;
    uint64_t log_end_ GUARDED_BY(mu_) = 0;  // the log position after this journal's last record
};

// Replays a journal without changing it (for a look at a delta another process may be
// writing). Returns false if there is none.
Result<bool> read_journal(Env& env, const std::filesystem::path& path, const RecordFn& on_record);

// One framed record: length, checksum, payload.
std::string frame_record(std::string_view payload);
// Bytes a frame adds before its payload: u32 length + u64 checksum.
inline constexpr size_t kRecordFrameBytes = 12;
// The payload of the framed record at `offset` of `data`, advancing `offset` past it; nullopt at
// the end, or at a record that is short or whose checksum does not match.
std::optional<std::string_view> next_framed_record(std::string_view data, size_t& offset);

// Writes a snapshot made of `records` to `path` atomically and durably (temporary file, fsync,
// rename, fsync of the directory).
Result<void> write_snapshot(Env& env, const std::filesystem::path& path,
                            const std::vector<std::string>& records);
// Replays a snapshot. false if there is none; EIO if it is damaged (a snapshot is written
// atomically, so damage is not a torn tail but a failed disk).
Result<bool> read_snapshot(Env& env, const std::filesystem::path& path, const RecordFn& on_record);

}  // namespace rootfarm::store
