#include "store/journal.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>

#include "core/log.h"
#include "store/codec.h"
#include "store/fs_util.h"

namespace rootfarm::store {

namespace {

constexpr std::string_view kJournalMagic = "RFJRNL01";
constexpr std::string_view kSnapshotMagic = "RFSNAP01";
// A record larger than this is certainly garbage (a snapshot splits its state into records).
constexpr uint32_t kMaxRecord = 64u << 20;

std::atomic<void (*)()> g_sync_hook{nullptr};

}  // namespace

std::optional<std::string_view> next_framed_record(std::string_view data, size_t& offset) {
    if (offset > data.size() || data.size() - offset < kRecordFrameBytes) return std::nullopt;
    Decoder d(data.substr(offset, kRecordFrameBytes));
    uint32_t length;
    uint64_t sum;
    (void)d.u32(length);
    (void)d.u64(sum);
    if (length > kMaxRecord || length > data.size() - offset - kRecordFrameBytes)
        return std::nullopt;
    std::string_view payload = data.substr(offset + kRecordFrameBytes, length);
    if (XXH3_64bits(payload.data(), payload.size()) != sum) return std::nullopt;
    offset += kRecordFrameBytes + length;
    return payload;
}

namespace {

// Walks the framed records of `data` after the magic; returns the offset after the last intact
// one, or nullopt if `on_record` refused one.
std::optional<size_t> scan(std::string_view data, size_t offset, const RecordFn& on_record) {
    while (std::optional<std::string_view> payload = next_framed_record(data, offset)) {
        if (!on_record(*payload)) return std::nullopt;
    }
    return offset;
}

}  // namespace

std::string frame_record(std::string_view payload) {
    Encoder e;
    e.u32(static_cast<uint32_t>(payload.size()));
    e.u64(XXH3_64bits(payload.data(), payload.size()));
    std::string out = e.take();
    out.append(payload);
    return out;
}

Result<std::unique_ptr<Journal>> Journal::open(Env& env, const std::filesystem::path& path,
                                               const RecordFn& on_record) {
    Result<std::string> data = env.read_file(path);
    if (!data.ok() && data.error() != std::errc::no_such_file_or_directory) return data.failure();
    Result<int> opened = env.open(path, O_RDWR | O_CREAT, 0600);
    if (!opened.ok()) return opened.failure();
    int fd = *opened;
    size_t end = 0;
    bool fresh = !data.ok() || data->size() < kJournalMagic.size() ||
                 std::string_view(*data).substr(0, kJournalMagic.size()) != kJournalMagic;
    if (!fresh) {
        std::optional<size_t> good = scan(*data, kJournalMagic.size(), on_record);
        if (!good) {
            ::close(fd);
            return Error(errno_error(EIO), "replay " + path.string());
        }
        end = *good;
        if (end != data->size()) {
            store_log().warn("journal {}: cutting a torn tail of {} bytes at offset {}",
                             path.string(), data->size() - end, end);
        }
    } else if (data.ok() && !data->empty()) {
        // Only a crash while the journal was being created leaves a partial magic behind.
        store_log().warn("journal {}: no valid header, starting it afresh", path.string());
    }
    Result<void> r;
    if (fresh) {
        r = env.ftruncate(fd, path, 0);
        if (r.ok()) r = env.pwrite(fd, path, kJournalMagic, 0);
        if (r.ok()) r = env.fdatasync(fd, path);
        // A new journal's name must be durable before any record in it is promised.
        if (r.ok() && !data.ok()) r = env.sync_dir(path.parent_path());
        end = kJournalMagic.size();
    } else if (end != data->size()) {
        r = env.ftruncate(fd, path, end);
        if (r.ok()) r = env.fdatasync(fd, path);
    }
    if (!r.ok()) {
        ::close(fd);
        return r.failure();
    }
    return std::unique_ptr<Journal>(new Journal(env, path, fd, end));
}

void Journal::set_global_sync_hook(void (*hook)()) {
    g_sync_hook.store(hook, std::memory_order_release);
}

void (*Journal::global_sync_hook())() {
    return g_sync_hook.load(std::memory_order_acquire);
}

void Journal::attach(CommitLog* log, LogMember member) {
    log_ = log;
    member_ = std::move(member);
}

Journal::Journal(Env& env, std::filesystem::path path, int fd, uint64_t end)
    : env_(env), path_(std::move(path)), fd_(fd), end_(end), synced_(end) {}

Journal::~Journal() {
    ::close(fd_);
}

Result<uint64_t> Journal::append(std::string_view payload, LoggedWrite* write) {
    std::string record = frame_record(payload);
    MutexLock lock(mu_);
    if (failed_.code()) return failed_;
    if (Result<void> w = env_.pwrite(fd_, path_, record, end_); !w.ok()) {
        // Leave no partial record behind for the next append to follow.
        if (!env_.ftruncate(fd_, path_, end_).ok()) failed_ = w.failure();
        return w.failure();
    }
    if (log_) {
        // Under the journal's lock: the log holds this journal's records in the file's order.
        Result<uint64_t> logged = log_->append(member_, payload, fd_, path_, end_, write);
        if (!logged.ok()) {
            // Not logged, so never to be promised: out of the journal too.
            if (!env_.ftruncate(fd_, path_, end_).ok()) failed_ = logged.failure();
            return logged.failure();
        }
        end_ += record.size();
        log_end_ = *logged;
        return log_end_;
    }
    end_ += record.size();
    return base_ + end_;
}

Result<void> Journal::wait_durable(uint64_t position) {
    if (log_) return log_->wait_durable(position);
    MutexLock lock(mu_);
    while (synced_ < position) {
        if (failed_.code()) return failed_;
        if (syncing_) {
            cv_.wait(lock);
            continue;
        }
        // Become the leader: one fdatasync for everything appended so far.
        syncing_ = true;
        uint64_t target = base_ + end_;
        lock.unlock();
        if (sync_hook_) sync_hook_();
        if (auto hook = g_sync_hook.load(std::memory_order_acquire)) hook();
        Result<void> r = env_.fdatasync(fd_, path_);
        lock.lock();
        syncing_ = false;
        ++syncs_;
        if (!r.ok()) {
            // After a failed fdatasync the kernel may have dropped the dirty pages: nothing
            // later can be promised (the "fsyncgate" lesson), so the journal stops. Logged
            // here, once; every waiter gets the same error.
            failed_ = r.failure();
            store_log().error("journal stopped: {}", r.message());
        } else {
            synced_ = std::max(synced_, target);
        }
        cv_.notify_all();
    }
    return {};
}

bool Journal::stopped() const {
    if (log_ && log_->stopped()) return true;
    MutexLock lock(mu_);
    return static_cast<bool>(failed_.code());
}

uint64_t Journal::end() const {
    MutexLock lock(mu_);
    return log_ ? log_end_ : base_ + end_;
}

Result<void> Journal::clear() {
    MutexLock lock(mu_);
    if (failed_.code()) return failed_;
    if (log_) {
        // The log must not write this journal's old records back once the file is cut.
        if (Result<void> c = log_->cut(member_); !c.ok()) return c;
    }
    uint64_t position = base_ + end_;
    Result<void> r = env_.ftruncate(fd_, path_, kJournalMagic.size());
    if (r.ok()) r = env_.fdatasync(fd_, path_);
    if (!r.ok()) {
        failed_ = r.failure();
        store_log().error("journal stopped: {}", r.message());
        return failed_;
    }
    base_ = position - kJournalMagic.size();
    end_ = kJournalMagic.size();
    // Everything appended so far is in the durable snapshot.
    synced_ = std::max(synced_, position);
    cv_.notify_all();
    return {};
}

uint64_t Journal::bytes() const {
    MutexLock lock(mu_);
    return end_ - kJournalMagic.size();
}

uint64_t Journal::syncs() const {
    MutexLock lock(mu_);
    return syncs_;
}

Result<bool> read_journal(Env& env, const std::filesystem::path& path, const RecordFn& on_record) {
    Result<std::string> data = env.read_file(path);
    if (!data.ok()) {
        if (data.error() == std::errc::no_such_file_or_directory) return false;
        return data.failure();
    }
    std::string_view view = *data;
    if (view.substr(0, kJournalMagic.size()) != kJournalMagic) return true;
    if (!scan(view, kJournalMagic.size(), on_record)) {
        return Error(errno_error(EIO), "replay " + path.string());
    }
    return true;
}

Result<void> write_snapshot(Env& env, const std::filesystem::path& path,
                            const std::vector<std::string>& records) {
    std::string data(kSnapshotMagic);
    for (const std::string& r : records) data += frame_record(r);
    return env.write_file_atomic(path, data);
}

Result<bool> read_snapshot(Env& env, const std::filesystem::path& path, const RecordFn& on_record) {
    Result<std::string> data = env.read_file(path);
    if (!data.ok()) {
        if (data.error() == std::errc::no_such_file_or_directory) return false;
        return data.failure();
    }
    std::string_view view = *data;
    Error damaged(errno_error(EIO), "replay " + path.string());
    if (view.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) return damaged;
    std::optional<size_t> end = scan(view, kSnapshotMagic.size(), on_record);
    if (!end || *end != view.size()) return damaged;
    return true;
}

}  // namespace rootfarm::store
