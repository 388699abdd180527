#include "store/commit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <set>
#include <vector>

#include "core/log.h"
#include "store/codec.h"
#include "store/delta.h"
#include "store/journal.h"

namespace rootfarm::store {

namespace {

constexpr std::string_view kLogMagic = "RFCLOG01";
constexpr std::string_view kJournalMagic = "RFJRNL01";  // store/journal.cc writes it

enum class Kind : uint8_t { kRecord = 1, kCut = 2, kDataSynced = 3 };

using Clock = std::chrono::steady_clock;

std::filesystem::path log_path(const std::filesystem::path& dir, uint64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.log", static_cast<unsigned long long>(seq));
    return dir / name;
}

std::string encode(Kind kind, const LogMember& m, uint64_t offset, std::string_view payload,
                   const LoggedWrite* write) {
    Encoder e;
    e.u8(static_cast<uint8_t>(kind));
    e.str(m.dir_name);
    e.u64(m.salt);
    e.u64(offset);  // kRecord: the journal offset; kDataSynced: the object
    e.str(payload);
    e.u8(write ? 1 : 0);
    if (write) {
        e.u64(write->object);
        e.u64(write->offset);
        e.str(write->bytes);
    }
    return frame_record(e.take());
}

struct Decoded {
    Kind kind;
    LogMember member;
    uint64_t offset = 0;
    std::string payload;
    bool has_write = false;
    uint64_t object = 0, write_offset = 0;
    std::string bytes;
};

bool decode(std::string_view data, Decoded& d) {
    Decoder in(data);
    uint8_t kind, has_write;
    if (!in.u8(kind) || !in.str(d.member.dir_name) || !in.u64(d.member.salt) || !in.u64(d.offset) ||
        !in.str(d.payload) || !in.u8(has_write)) {
        return false;
    }
    if (kind < 1 || kind > 3 || has_write > 1) return false;
    d.kind = static_cast<Kind>(kind);
    d.has_write = has_write == 1;
    if (d.has_write && (!in.u64(d.object) || !in.u64(d.write_offset) || !in.str(d.bytes))) {
        return false;
    }
    // A name from the log must stay one directory below clients/.
    const std::string& n = d.member.dir_name;
    if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos) return false;
    return in.done();
}

// What the logs hold for one delta, after its last cut.
struct Replay {
    uint64_t salt = 0;
    bool cut = false;                         // a compaction happened in the logs
    std::map<uint64_t, std::string> records;  // journal offset -> payload
    std::vector<Decoded> writes;              // in log order
};

Result<void> replay_member(Env& env, const std::filesystem::path& dir, const Replay& r) {
    Result<DeltaMeta> meta = load_delta_meta(env, dir / "delta.meta");
    if (!meta.ok() || meta->salt != r.salt) {
        // Reset, or removed with the server stopped: nothing of the old delta comes back.
        store_log().info("commit log: {} records of a delta that is gone ({}), not replayed",
                         r.records.size() + r.writes.size(), dir.string());
        return {};
    }
    std::filesystem::path journal = dir / "journal";
    if (!r.records.empty() || r.cut) {
        Result<int> fd = env.open(journal, O_RDWR | O_CREAT, 0600);
        if (!fd.ok()) return fd.failure();
        Result<void> w = env.pwrite(*fd, journal, kJournalMagic, 0);
        uint64_t end = kJournalMagic.size();
        for (const auto& [offset, payload] : r.records) {
            if (!w.ok()) break;
            std::string framed = frame_record(payload);
            w = env.pwrite(*fd, journal, framed, offset);
            end = std::max<uint64_t>(end, offset + framed.size());
        }
        // Whatever follows the last logged record was never promised: cut it, or the next
        // start would replay a call nobody was answered for on top of the logged ones.
        if (w.ok()) w = env.ftruncate(*fd, journal, end);
        if (w.ok()) w = env.fdatasync(*fd, journal);
        ::close(*fd);
        if (!w.ok()) return w;
    }
    if (!r.writes.empty()) {
        std::filesystem::path objects = dir / "objects";
        for (const Decoded& d : r.writes) {
            std::filesystem::path path = objects / std::to_string(d.object);
            Result<int> fd = env.open(path, O_RDWR | O_CREAT, 0600);
            if (!fd.ok()) return fd.failure();
            Result<void> w = env.pwrite(*fd, path, d.bytes, d.write_offset);
            if (w.ok()) w = env.fdatasync(*fd, path);
            ::close(*fd);
            if (!w.ok()) return w;
        }
        if (Result<void> s = env.sync_dir(objects); !s.ok()) return s;
    }
    return {};
}

std::vector<std::pair<uint64_t, std::filesystem::path>> log_files(
    const std::filesystem::path& dir) {
    std::vector<std::pair<uint64_t, std::filesystem::path>> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (!name.ends_with(".log") || name.size() != 20) continue;
        uint64_t seq = 0;
        auto [end, err] = std::from_chars(name.data(), name.data() + 16, seq, 16);
        if (err != std::errc{} || end != name.data() + 16) continue;
        out.emplace_back(seq, e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

// One log file, and what its records wrote without syncing: the checkpoint that retires the
// file syncs all of it.
struct CommitLog::File {
    uint64_t seq = 0;
    std::filesystem::path path;
    int fd = -1;
    uint64_t end = 0;  // file offset after the last record
    bool has_records = false;
    Clock::time_point first_record;
    // (device, inode) -> a duplicate of a descriptor of the file and its path. The duplicate
    // keeps the inode (so its number) alive until it is synced.
    std::map<std::pair<dev_t, ino_t>, std::pair<int, std::filesystem::path>> dirty;
    std::set<std::filesystem::path> dirty_dirs;
    std::set<std::pair<std::string, uint64_t>> logged_objects;
    // Logged writes whose bytes are not in their data file yet (written() not called).
    uint64_t writes_pending = 0;

    ~File() {
        if (fd >= 0) ::close(fd);
        for (auto& [key, value] : dirty) ::close(value.first);
    }

    void mark(int file_fd, const std::filesystem::path& file_path) {
        struct stat st;
        if (::fstat(file_fd, &st) != 0) return;  // the fd is valid: cannot happen
        auto key = std::make_pair(st.st_dev, st.st_ino);
        if (dirty.contains(key)) return;
        int copy = ::fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
        if (copy >= 0) dirty.emplace(key, std::make_pair(copy, file_path));
    }
};

Result<void> replay_commit_logs(Env& env, const std::filesystem::path& state_dir) {
    std::filesystem::path dir = state_dir / "commit-log";
    auto files = log_files(dir);
    if (files.empty()) return {};
    std::map<std::string, Replay> members;
    size_t count = 0;
    for (const auto& [seq, path] : files) {
        Result<std::string> data = env.read_file(path);
        if (!data.ok()) return data.failure();
        std::string_view view = *data;
        if (view.substr(0, kLogMagic.size()) != kLogMagic) continue;  // torn at creation
        size_t offset = kLogMagic.size();
        // The records of a log file end at the first torn or damaged one: nothing after it was
        // promised (each reply waited for an fdatasync covering everything before its record).
        for (;;) {
            std::optional<std::string_view> payload = next_framed_record(view, offset);
            if (!payload) break;
            Decoded d;
            if (!decode(*payload, d)) break;
            ++count;
            Replay& r = members[d.member.dir_name];
            if (r.salt != d.member.salt) {
                // A delta replaced by a new one (reset) within the logs: only the newest counts.
                r = Replay{};
                r.salt = d.member.salt;
            }
            switch (d.kind) {
                case Kind::kCut:
                    r.records.clear();
                    r.writes.clear();
                    r.cut = true;
                    break;
                case Kind::kDataSynced:
                    std::erase_if(r.writes, [&](const Decoded& w) { return w.object == d.offset; });
                    break;
                case Kind::kRecord:
                    r.records[d.offset] = std::move(d.payload);
                    if (d.has_write) r.writes.push_back(std::move(d));
                    break;
            }
        }
    }
    for (const auto& [name, r] : members) {
        std::filesystem::path member_dir = state_dir / "clients" / name;
        if (Result<void> ok = replay_member(env, member_dir, r); !ok.ok()) {
            store_log().error("commit log: replay into {}: {}", member_dir.string(), ok.message());
            return ok;
        }
    }
    for (const auto& [seq, path] : files) {
        if (Result<void> r = env.unlink(path); !r.ok()) return r;
    }
    if (Result<void> r = env.sync_dir(dir); !r.ok()) return r;
    store_log().info("commit log: {} records of {} deltas replayed from {} files", count,
                     members.size(), files.size());
    return {};
}

Result<std::unique_ptr<CommitLog>> CommitLog::open(Env& env, const std::filesystem::path& state_dir,
                                                   CommitLogOptions options) {
    std::filesystem::path dir = state_dir / "commit-log";
    Result<void> made = env.create_directories(dir);
    // The directory's own name must be durable before any record in it is promised.
    if (made.ok()) made = env.sync_dir(state_dir);
    if (!made.ok()) return made.failure();
    std::filesystem::path lock_path = dir / "lock";
    // Read-only is enough for flock(2), so any user that reads the state directory can tell
    // whether a server holds the log.
    int lock_fd = ::open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return io_error("open", lock_path, errno);
    // Root running a CLI command on a stopped server must not leave the directory or the lock
    // to root: serve, as the state directory's owner, could not use them.
    struct stat owner;
    if (::geteuid() == 0 && ::stat(state_dir.c_str(), &owner) == 0 && owner.st_uid != 0) {
        if (::chown(dir.c_str(), owner.st_uid, owner.st_gid) != 0 ||
            ::fchown(lock_fd, owner.st_uid, owner.st_gid) != 0) {
            store_log().warn("commit log: cannot give {} to uid {}: {}", dir.string(), owner.st_uid,
                             std::strerror(errno));
        }
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(lock_fd);
        if (err == EWOULDBLOCK) return std::unique_ptr<CommitLog>();
        return io_error("flock", lock_path, err);
    }
    if (Result<void> r = replay_commit_logs(env, state_dir); !r.ok()) {
        ::close(lock_fd);
        return r.failure();
    }
    std::unique_ptr<CommitLog> log(new CommitLog(env, dir, lock_fd, options));
    Result<std::unique_ptr<File>> first = log->make_file(1);
    if (!first.ok()) return first.failure();
    {
        MutexLock lock(log->mu_);
        log->current_ = std::move(*first);
    }
    log->checkpointer_ = std::thread([l = log.get()] { l->run_checkpoints(); });
    log->syncer_ = std::thread([l = log.get()] { l->run_syncs(); });
    return log;
}

CommitLog::CommitLog(Env& env, std::filesystem::path dir, int lock_fd, CommitLogOptions options)
    : env_(env), dir_(std::move(dir)), lock_fd_(lock_fd), options_(options) {}

CommitLog::~CommitLog() {
    stop_syncs();
    {
        MutexLock lock(mu_);
        stopping_ = true;
        cv_.notify_all();
    }
    if (checkpointer_.joinable()) checkpointer_.join();
    if (Result<void> r = checkpoint(); !r.ok()) {
        store_log().error("commit log: last checkpoint: {}", r.message());
    } else {
        // A clean stop leaves no log file, not even an empty one (owned by whoever ran this,
        // maybe root for a CLI command).
        MutexLock lock(mu_);
        if (!current_->has_records && env_.unlink(current_->path).ok()) (void)env_.sync_dir(dir_);
    }
    ::close(lock_fd_);  // releases the flock
}

// Creates log file `seq` durably (its name too), not yet current.
Result<std::unique_ptr<CommitLog::File>> CommitLog::make_file(uint64_t seq) {
    auto file = std::make_unique<File>();
    file->seq = seq;
    file->path = log_path(dir_, seq);
    Result<int> fd = env_.open(file->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (!fd.ok()) return fd.failure();
    file->fd = *fd;
    Result<void> r = env_.pwrite(file->fd, file->path, kLogMagic, 0);
    if (r.ok()) r = env_.fdatasync(file->fd, file->path);
    if (r.ok()) r = env_.sync_dir(dir_);
    if (!r.ok()) return r.failure();
    file->end = kLogMagic.size();
    return file;
}

Result<uint64_t> CommitLog::append(const LogMember& member, std::string_view payload,
                                   int journal_fd, const std::filesystem::path& journal_path,
                                   uint64_t journal_offset, LoggedWrite* write) {
    std::string record = encode(Kind::kRecord, member, journal_offset, payload, write);
    MutexLock lock(mu_);
    if (Result<void> w = append_locked(record); !w.ok()) return w.failure();
    File& f = *current_;
    f.mark(journal_fd, journal_path);
    if (write) {
        ++f.writes_pending;
        write->ticket = f.seq;
        f.mark(write->fd, write->path);
        f.dirty_dirs.insert(write->path.parent_path());
        f.logged_objects.emplace(member.dir_name, write->object);
    }
    if (f.end >= options_.checkpoint_bytes || f.dirty.size() >= options_.checkpoint_files) {
        cv_.notify_all();  // the checkpointer
    }
    return appended_;
}

Result<void> CommitLog::append_locked(std::string_view record) {
    if (failed_.code()) return failed_;
    File& f = *current_;
    if (Result<void> w = env_.pwrite(f.fd, f.path, record, f.end); !w.ok()) {
        // Leave no partial record for the next one to follow.
        if (!env_.ftruncate(f.fd, f.path, f.end).ok()) failed_ = w.failure();
        return w;
    }
    f.end += record.size();
    appended_ += record.size();
    if (!f.has_records) f.first_record = Clock::now();
    f.has_records = true;
    return {};
}

void CommitLog::written(uint64_t ticket) {
    MutexLock lock(mu_);
    if (current_->seq == ticket) {
        --current_->writes_pending;
    } else if (retiring_ && retiring_->seq == ticket) {
        if (--retiring_->writes_pending == 0) cv_.notify_all();
    }
}

Result<uint64_t> CommitLog::data_synced(const LogMember& member, uint64_t object) {
    MutexLock lock(mu_);
    if (failed_.code()) return failed_;
    auto key = std::make_pair(member.dir_name, object);
    File& f = *current_;
    bool logged =
        f.logged_objects.contains(key) || (retiring_ && retiring_->logged_objects.contains(key));
    if (!logged) return uint64_t{0};
    std::string record = encode(Kind::kDataSynced, member, object, {}, nullptr);
    if (Result<void> w = append_locked(record); !w.ok()) return w.failure();
    f.logged_objects.erase(key);
    return appended_;
}

Result<void> CommitLog::cut(const LogMember& member) {
    std::string record = encode(Kind::kCut, member, 0, {}, nullptr);
    uint64_t position;
    {
        MutexLock lock(mu_);
        if (Result<void> w = append_locked(record); !w.ok()) return w;
        std::erase_if(current_->logged_objects,
                      [&](const auto& k) { return k.first == member.dir_name; });
        position = appended_;
    }
    return wait_durable(position);
}

Result<void> CommitLog::wait_durable(uint64_t position) {
    MutexLock lock(mu_);
    while (durable_ < position) {
        if (failed_.code()) return failed_;
        if (syncing_) {
            cv_.wait(lock);
            continue;
        }
        lead_sync();
    }
    return {};
}

void CommitLog::lead_sync() {
    // The leader: one fdatasync for every record appended so far, by any client. mu_ is let
    // go around the fdatasync so appends go on meanwhile; the caller's MutexLock holds it
    // again when this returns.
    syncing_ = true;
    const uint64_t position = appended_;
    const int fd = current_->fd;
    const std::filesystem::path path = current_->path;
    mu_.unlock();
    if (auto hook = Journal::global_sync_hook()) hook();
    const Result<void> r = env_.fdatasync(fd, path);
    mu_.lock();
    syncing_ = false;
    ++syncs_;
    if (!r.ok()) {
        // As a journal's (store/journal.h): after a failed fdatasync nothing later can be
        // promised. Logged once; every waiter gets the same error.
        failed_ = r.failure();
        store_log().error("commit log stopped: {}", r.message());
    } else {
        durable_ = std::max(durable_, position);
    }
    cv_.notify_all();
    // when_durable()'s waiters this sync covered are answered by the sync thread.
    sync_cv_.notify_all();
}

void CommitLog::when_durable(uint64_t position, Done done) {
    Result<void> now;
    bool wait = false;
    {
        MutexLock lock(mu_);
        if (durable_ < position) {
            if (failed_.code()) {
                now = failed_;
            } else if (stop_syncs_) {
                wait = true;  // no sync thread any more
            } else {
                async_.emplace_back(position, std::move(done));
                sync_cv_.notify_one();
                return;
            }
        }
    }
    if (wait) now = wait_durable(position);
    done(now);
}

void CommitLog::stop_syncs() {
    {
        // The sync thread answers every waiter it holds before it ends.
        MutexLock lock(mu_);
        stop_syncs_ = true;
        sync_cv_.notify_all();
    }
    if (syncer_.joinable()) syncer_.join();
}

void CommitLog::run_syncs() {
    MutexLock lock(mu_);
    for (;;) {
        // Answer the waiters already covered (or failed), outside the lock. Records durable
        // before the log failed stay promised. Loops register their waiters in any order, so
        // every waiter is looked at, not only the first.
        const bool failed = failed_.code() != std::error_code{};
        std::vector<std::pair<Done, Result<void>>> ready;
        std::vector<std::pair<uint64_t, Done>> later;
        for (auto& [position, done] : async_) {
            if (position <= durable_) {
                ready.emplace_back(std::move(done), Result<void>());
            } else if (failed) {
                ready.emplace_back(std::move(done), Result<void>(failed_));
            } else {
                later.emplace_back(position, std::move(done));
            }
        }
        async_ = std::move(later);
        if (!ready.empty()) {
            lock.unlock();
            for (auto& [done, result] : ready) done(result);
            // What the callbacks hold (a view, a reply) goes before the lock is taken again.
            ready.clear();
            lock.lock();
            continue;
        }
        if (async_.empty()) {
            if (stop_syncs_) return;
            sync_cv_.wait(lock);
            continue;
        }
        // Waiters the log has not covered yet: sync for them, unless a sync is under way
        // (its leader wakes us when it is done).
        if (syncing_) {
            sync_cv_.wait(lock);
            continue;
        }
        lead_sync();
    }
}

Result<void> CommitLog::checkpoint() {
    MutexLock serial(checkpoint_mu_);
    uint64_t next;
    {
        MutexLock lock(mu_);
        if (failed_.code()) return failed_;
        if (!current_->has_records) return {};
        next = current_->seq + 1;
    }
    // The next file is made before the switch, so appends never wait for its creation.
    Result<std::unique_ptr<File>> made = make_file(next);
    if (!made.ok()) return made.failure();
    std::unique_ptr<File> old;
    uint64_t target;
    {
        MutexLock lock(mu_);
        // Take the sync leadership, so no leader is syncing the file being switched out.
        cv_.wait(lock, [&]() NO_THREAD_SAFETY_ANALYSIS { return !syncing_; });
        if (failed_.code()) return failed_;
        syncing_ = true;
        old = std::move(current_);
        current_ = std::move(*made);
        retiring_ = old.get();
        target = appended_;
    }
    Result<void> r = env_.fdatasync(old->fd, old->path);
    {
        MutexLock lock(mu_);
        syncing_ = false;
        ++syncs_;
        if (r.ok()) {
            durable_ = std::max(durable_, target);
        } else {
            failed_ = r.failure();
            store_log().error("commit log stopped: {}", r.message());
        }
        cv_.notify_all();
        sync_cv_.notify_all();  // when_durable()'s waiters this sync covered
    }
    if (!r.ok()) return r;
    {
        // The bytes of a logged write reach their data file after its record reaches the log.
        MutexLock lock(mu_);
        cv_.wait(lock, [&]() NO_THREAD_SAFETY_ANALYSIS { return old->writes_pending == 0; });
    }
    // Everything the old file's records wrote, synced where it belongs; only then can the
    // records go.
    uint64_t synced = 0;
    for (const auto& [key, file] : old->dirty) {
        if (r.ok()) r = env_.fdatasync(file.first, file.second);
        ++synced;
    }
    for (const std::filesystem::path& d : old->dirty_dirs) {
        if (r.ok()) r = env_.sync_dir(d);
        ++synced;
    }
    // The removal must be durable before the checkpoint counts: writes are no longer marked
    // as synced once their log is gone (data_synced), so a log file a crash brought back would
    // write its old bytes over newer ones.
    if (r.ok()) r = env_.unlink(old->path);
    if (r.ok()) r = env_.sync_dir(dir_);
    MutexLock lock(mu_);
    retiring_ = nullptr;
    checkpoint_syncs_ += synced;
    if (!r.ok()) {
        // The old log stays for the next start to replay; nothing more can be promised now.
        failed_ = r.failure();
        store_log().error("commit log stopped: checkpoint: {}", r.message());
        cv_.notify_all();
        sync_cv_.notify_all();  // when_durable()'s waiters get the error
    }
    return r;
}

void CommitLog::run_checkpoints() {
    MutexLock lock(mu_);
    while (!stopping_) {
        bool due = false;
        cv_.wait_for(lock, std::chrono::milliseconds(500), [&]() NO_THREAD_SAFETY_ANALYSIS {
            if (stopping_ || failed_.code() || !current_->has_records) return stopping_;
            auto age = std::chrono::duration<double>(Clock::now() - current_->first_record);
            due = current_->end >= options_.checkpoint_bytes ||
                  current_->dirty.size() >= options_.checkpoint_files ||
                  age.count() >= options_.checkpoint_seconds;
            return due;
        });
        if (stopping_ || !due) continue;
        lock.unlock();
        // A failure stopped the log and was logged; the old file stays for the next start.
        (void)checkpoint();
        lock.lock();
    }
}

bool CommitLog::stopped() const {
    MutexLock lock(mu_);
    return static_cast<bool>(failed_.code());
}

uint64_t CommitLog::syncs() const {
    MutexLock lock(mu_);
    return syncs_;
}

uint64_t CommitLog::checkpoint_syncs() const {
    MutexLock lock(mu_);
    return checkpoint_syncs_;
}

}  // namespace rootfarm::store
