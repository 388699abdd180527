#pragma once

// The commit log: one write-ahead log shared by every client's delta, so that one fdatasync
// makes durable what every client appended in a commit window (group commit across clients).
//
// A boot makes hundreds of calls that must be on stable storage before their reply (RFC 1813
// §3.3.7 FILE_SYNC writes, and every namespace operation). With a journal per client, each
// client paid its own fdatasync per window, and a storm of Pis paid one per Pi per call. Now:
//   - a client's journal record is written (not synced) into clients/<mac>/journal, then
//     appended to the commit log; the reply waits for the log's fdatasync, which covers every
//     client's records appended before it;
//   - a small stable WRITE's bytes go into the log record too, and the data file is written
//     without its own fdatasync;
//   - a checkpoint (the log past a size, or a few seconds old) switches to a new log file,
//     fdatasyncs every journal and data file the old one covered, then deletes the old one.
//
// Recovery (open): the records of every log file left behind are written again into the
// journals and data files they belong to, which are then synced, and the old logs removed.
//   - Each journal record goes back to the offset it had, and the journal is cut after the
//     last one: it holds exactly what the log promised. A record written to the journal but
//     never logged (its call was not answered) goes.
//   - Logged write bytes are written again in log order, except those of an object whose data
//     file was fdatasync'ed since (a COMMIT, a cut, a large stable write): a data-synced mark
//     drops them, or they would cover newer bytes.
//   - A record goes only to the delta it was made in: its directory must exist and its
//     delta.meta must carry the same salt. A reset delta, or one removed by hand with the
//     server stopped, gets none of the old delta's records.
//   - A compaction writes a cut mark: that delta's records before it are in its snapshot.
//
// The log belongs to one process: open() takes an exclusive lock on the state directory's
// commit-log/lock. A second Store on the same state directory (a CLI command while the server
// runs) gets no log and syncs each journal itself.

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/result.h"
#include "store/env.h"

namespace rootfarm::store {

// The delta a record belongs to: its directory's name under clients/, and its delta.meta salt.
struct LogMember {
    std::string dir_name;
    uint64_t salt = 0;
};

// A stable write's bytes, carried by the log instead of an fdatasync of its data file.
struct LoggedWrite {
    uint64_t object = 0;  // objects/<object> in the delta's directory
    uint64_t offset = 0;
    std::string_view bytes;
    int fd = -1;  // the data file the bytes go to, synced at the checkpoint
    std::filesystem::path path;
    // Set by append(): hand it to written() once the bytes are in the data file.
    uint64_t ticket = 0;
};

struct CommitLogOptions {
    // A checkpoint starts once the current log file holds this many bytes (StoreOptions sets
    // it)...
    uint64_t checkpoint_bytes = 64u << 20;
    // ...or it has records and is this old, or this many files wait for their sync.
    double checkpoint_seconds = 5;
    size_t checkpoint_files = 512;
};

class CommitLog {
  public:
    // Replays the logs under <state_dir>/commit-log into <state_dir>/clients, then starts a new
    // log. nullptr (not an error) when another process holds the log.
    static Result<std::unique_ptr<CommitLog>> open(Env& env, const std::filesystem::path& state_dir,
                                                   CommitLogOptions options = {});
    // Checkpoints everything (a clean stop leaves no log to replay).
    ~CommitLog();
    CommitLog(const CommitLog&) = delete;
    CommitLog& operator=(const CommitLog&) = delete;

    // Appends `payload`, already written at `journal_offset` of the journal open as `journal_fd`
    // (`journal_path`), and `write` if any (whose bytes the caller writes to their data file
    // only after this returns, so that a record the log lacks has no bytes in the data file
    // either). Returns the position to hand to wait_durable(). Callers keep the order of their
    // own records (a journal appends under its lock).
    Result<uint64_t> append(const LogMember& member, std::string_view payload, int journal_fd,
                            const std::filesystem::path& journal_path, uint64_t journal_offset,
                            LoggedWrite* write = nullptr);
    // The bytes of the write appended with `ticket` are in their data file (or failed to get
    // there): a checkpoint syncs that file only after this.
    void written(uint64_t ticket);
    // After an fdatasync of object `object`'s data file: the writes logged for it so far must
    // not be written again by a recovery (they would cover newer, synced bytes). Returns the
    // position of the mark to wait for, or 0 when no write of it is in the log.
    Result<uint64_t> data_synced(const LogMember& member, uint64_t object);
    // Marks that `member`'s records so far are in its snapshot (a compaction); durable when it
    // returns.
    Result<void> cut(const LogMember& member);
    // Returns once every record up to `position` is on stable storage (one fdatasync for all
    // records appended meanwhile). After a failed fdatasync every later call fails.
    Result<void> wait_durable(uint64_t position);
    // The same without a waiting thread: calls `done` once every record up to `position` is on
    // stable storage, or with the error that stopped the log. At once, on this thread, when it
    // already is; else on the log's sync thread, after the fdatasync that covers it (which the
    // sync thread makes unless a waiter of wait_durable() already is). `done` must be quick
    // and must not wait for the log. A log being destroyed first calls every `done` it holds.
    using Done = std::function<void(Result<void>)>;
    void when_durable(uint64_t position, Done done);
    // Answers when_durable()'s waiters and ends the sync thread; later calls of when_durable()
    // wait on the caller's thread. The store calls it as it closes: a callback must never drop
    // the last hold on the log (through a view it keeps) on the sync thread, which the log's
    // destructor joins.
    void stop_syncs();
    // Makes every record appended so far durable where it belongs (journals, data files) and
    // removes the log files that held it.
    Result<void> checkpoint();

    // Whether an fdatasync or a checkpoint failed (logged then): every later call fails.
    bool stopped() const;
    // The log's fdatasyncs, and those of checkpoints, so far.
    uint64_t syncs() const;
    uint64_t checkpoint_syncs() const;

  private:
    struct File;
    CommitLog(Env& env, std::filesystem::path dir, int lock_fd, CommitLogOptions options);
    Result<std::unique_ptr<File>> make_file(uint64_t seq);
    // Writes `record` at the end of the current file.
    Result<void> append_locked(std::string_view record) REQUIRES(mu_);
    // One fdatasync for every record appended so far, led by the caller while no sync is
    // under way (mu_ released around it); records the outcome and wakes the waiters of both
    // kinds.
    void lead_sync() REQUIRES(mu_);
    void run_checkpoints();
    // The sync thread: syncs for when_durable()'s waiters and calls them.
    void run_syncs();

    Env& env_;
    const std::filesystem::path dir_;
    const int lock_fd_;
    const CommitLogOptions options_;

    // Serialises checkpoints (the background one and compactions').
    Mutex checkpoint_mu_ ACQUIRED_BEFORE(mu_);
    mutable Mutex mu_;
    CondVar cv_;
    std::unique_ptr<File> current_ GUARDED_BY(mu_);
    File* retiring_ GUARDED_BY(mu_) = nullptr;  // the file a checkpoint is retiring
    uint64_t appended_ GUARDED_BY(mu_) = 0;     // positions are bytes appended over the log's life
    uint64_t durable_ GUARDED_BY(mu_) = 0;
    bool syncing_ GUARDED_BY(mu_) = false;
    Error failed_ GUARDED_BY(mu_) = std::error_code{};
    uint64_t syncs_ GUARDED_BY(mu_) = 0;
    uint64_t checkpoint_syncs_ GUARDED_BY(mu_) = 0;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread checkpointer_;
    // when_durable()'s waiters: their positions, and what to call.
    std::vector<std::pair<uint64_t, Done>> async_ GUARDED_BY(mu_);
    CondVar sync_cv_;
    bool stop_syncs_ GUARDED_BY(mu_) = false;
    std::thread syncer_;
};

// Tests: replays the log files under <state_dir>/commit-log without a process lock (what open()
// does first).
Result<void> replay_commit_logs(Env& env, const std::filesystem::path& state_dir);

}  // namespace rootfarm::store
