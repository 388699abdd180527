// Store: the images under <state_dir>/images and one view per client.

#include "store/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

#include "core/log.h"
#include "core/mutex.h"
#include "store/commit_log.h"
#include "store/fs_util.h"
#include "store/handle.h"
#include "store/image_index.h"
#include "store/view.h"

namespace rootfarm::store {

BackingFile::~BackingFile() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {

class StoreImpl final : public Store {
  public:
    StoreImpl(StoreOptions options, HandleKey key, std::shared_ptr<CommitLog> log)
        : options_(std::move(options)), key_(std::move(key)), log_(std::move(log)) {}
    // Deferred waits are answered now, while this store still holds the log (CommitLog::
    // stop_syncs); views that outlive it wait for the log on their own threads.
    ~StoreImpl() override {
        if (log_) log_->stop_syncs();
    }

    std::vector<std::string> images() const override {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(images_dir(), ec)) {
            if (std::filesystem::is_directory(e.path() / "root", ec)) {
                out.push_back(e.path().filename().string());
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    Result<std::shared_ptr<ClientView>> view(const MacAddr& mac, std::string_view image) override {
        MutexLock lock(mu_);
        wait_opened_locked(mac, lock);
        if (auto it = views_.find(mac); it != views_.end()) {
            if (it->second->image() != image) {
                store_log().error(
                    "client {}: asked for image {}, its delta is on {} (switch_image "
                    "moves it)",
                    mac.to_string(), image, it->second->image());
                return errno_error(EXDEV);
            }
            return std::shared_ptr<ClientView>(it->second);
        }
        // A delta made on another image: answer before indexing this one, so switch_image can
        // still carry the old image's ids over to it (carry_ids_locked).
        if (Result<DeltaMeta> meta = load_delta_meta(*options_.env, client_dir(mac) / "delta.meta");
            meta.ok() && meta->image != image && !indexes_.contains(std::string(image))) {
            std::error_code ec;
            if (!std::filesystem::is_directory(images_dir() / std::string(image) / "root", ec)) {
                return errno_error(ENOENT);
            }
            store_log().warn(
                "client {}: asked for image {}, its delta is on {} (switch_image "
                "moves it)",
                mac.to_string(), image, meta->image);
            return errno_error(EXDEV);
        }
        Result<std::shared_ptr<const ImageIndex>> index = index_locked(image);
        if (!index.ok()) return index.error();
        // Opened without the store's lock: a first view replays or creates a delta (file reads
        // and fsyncs), and a room of Pis mounting at once would otherwise take turns for it.
        // Callers for this client wait (wait_opened_locked); other clients go on.
        opening_.insert(mac);
        lock.unlock();
        Result<std::shared_ptr<ClientViewImpl>> v =
            ClientViewImpl::open(mac, *index, key_, *options_.env, client_dir(mac),
                                 options_.client_quota, log_, options_.compact_bytes);
        lock.lock();
        opening_.erase(mac);
        opened_.notify_all();
        if (!v.ok()) return v.error();
        views_.emplace(mac, *v);
        return std::shared_ptr<ClientView>(*v);
    }

    Result<std::shared_ptr<const ClientView>> image_view(std::string_view image) override {
        MutexLock lock(mu_);
        if (auto it = pristine_.find(std::string(image)); it != pristine_.end()) {
            return std::shared_ptr<const ClientView>(it->second);
        }
        Result<std::shared_ptr<const ImageIndex>> index = index_locked(image);
        if (!index.ok()) return index.error();
        auto v = ClientViewImpl::pristine(*index, key_);
        pristine_.emplace(std::string(image), v);
        return std::shared_ptr<const ClientView>(v);
    }

    Result<void> reset(const MacAddr& mac) override {
        MutexLock lock(mu_);
        wait_opened_locked(mac, lock);
        return reset_locked(mac);
    }

    Result<void> reset_locked(const MacAddr& mac) REQUIRES(mu_) {
        if (auto it = views_.find(mac); it != views_.end()) return it->second->reset();
        std::filesystem::path dir = client_dir(mac);
        std::filesystem::path trash = dir;
        trash += ".trash";
        Env& env = *options_.env;
        if (Result<void> r = env.rename(dir, trash); !r.ok()) {
            if (r.error() == std::errc::no_such_file_or_directory) return {};
            store_log().error("client {}: {}", mac.to_string(), r.message());
            return r;
        }
        // Durable before anything of the old delta goes: a crash leaves it whole or gone.
        if (Result<void> r = env.sync_dir(dir.parent_path()); !r.ok()) {
            store_log().error("client {}: {}", mac.to_string(), r.message());
            return r;
        }
        if (Result<void> r = env.remove_all(trash); !r.ok()) {
            store_log().warn("client {}: {}", mac.to_string(), r.message());
        }
        store_log().info("client {}: delta removed", mac.to_string());
        return {};
    }

    Result<std::vector<DeltaChange>> diff(const MacAddr& mac) const override {
        MutexLock lock(mu_);
        wait_opened_locked(mac, lock);
        if (auto it = views_.find(mac); it != views_.end()) return it->second->diff();
        Result<DeltaMeta> parsed = load_delta_meta(*options_.env, client_dir(mac) / "delta.meta");
        if (!parsed.ok()) {
            if (parsed.error() == std::errc::no_such_file_or_directory) {
                return std::vector<DeltaChange>{};  // no delta: nothing changed
            }
            return parsed.error();
        }
        Result<std::shared_ptr<const ImageIndex>> index = index_locked(parsed->image);
        if (!index.ok()) return index.error();
        Result<std::shared_ptr<ClientViewImpl>> v =
            ClientViewImpl::inspect(mac, *index, key_, *options_.env, client_dir(mac));
        if (!v.ok()) return v.error();
        return (*v)->diff();
    }

    Result<void> switch_image(const MacAddr& mac, std::string_view image,
                              bool keep_delta) override {
        MutexLock lock(mu_);
        wait_opened_locked(mac, lock);
        if (auto it = views_.find(mac); it != views_.end()) {
            if (it->second->image() == image) return {};
            if (keep_delta) {
                Result<void> carried = carry_ids_locked(it->second->image(), image);
                if (!carried.ok()) return carried;
            }
            Result<std::shared_ptr<const ImageIndex>> index = index_locked(image);
            if (!index.ok()) return index.error();
            return it->second->switch_image(*index, keep_delta);
        }
        std::filesystem::path meta_path = client_dir(mac) / "delta.meta";
        Result<DeltaMeta> meta = load_delta_meta(*options_.env, meta_path);
        if (!meta.ok()) {
            Result<std::shared_ptr<const ImageIndex>> index = index_locked(image);
            if (!index.ok()) return index.error();
            // No delta yet: the next view() starts one on whatever image it names.
            return meta.error() == std::errc::no_such_file_or_directory ? Result<void>()
                                                                        : meta.error();
        }
        if (meta->image == image) return {};
        if (keep_delta) {
            Result<void> carried = carry_ids_locked(meta->image, image);
            if (!carried.ok()) return carried;
        }
        Result<std::shared_ptr<const ImageIndex>> index = index_locked(image);
        if (!index.ok()) return index.error();
        if (!keep_delta) return reset_locked(mac);
        meta->image = std::string(image);
        store_log().info("client {}: moved to image {} keeping its delta", mac.to_string(), image);
        return save_delta_meta(*options_.env, meta_path, *meta);
    }

    Result<std::string> delta_image(const MacAddr& mac) const override {
        MutexLock lock(mu_);
        wait_opened_locked(mac, lock);
        if (auto it = views_.find(mac); it != views_.end()) return it->second->image();
        Result<DeltaMeta> meta = load_delta_meta(*options_.env, client_dir(mac) / "delta.meta");
        if (!meta.ok()) return meta.error();
        return meta->image;
    }

    uint64_t delta_bytes(const MacAddr& mac) const override {
        uint64_t total = 0;
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(client_dir(mac), ec);
             !ec && it != std::filesystem::end(it); it.increment(ec)) {
            struct stat st;
            if (::lstat(it->path().c_str(), &st) == 0) {
                total += static_cast<uint64_t>(st.st_blocks) * 512;  // what it really costs
            }
        }
        return total;
    }

    std::vector<MacAddr> clients_with_delta() const override {
        std::vector<MacAddr> out;
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator(options_.state_dir / "clients", ec)) {
            if (!e.is_directory(ec)) continue;
            if (auto mac = MacAddr::parse(e.path().filename().string())) out.push_back(*mac);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    std::array<uint8_t, 16> client_secret(const MacAddr& mac,
                                          std::string_view purpose) const override {
        return key_.derive(mac, purpose);
    }

  private:
    std::filesystem::path images_dir() const { return options_.state_dir / "images"; }
    std::filesystem::path client_dir(const MacAddr& mac) const {
        return options_.state_dir / "clients" / mac.dashed();
    }

    // A kept delta names image objects by id, so the new image must give the same paths the
    // same ids (id_map.h): its id map starts as a copy of the old image's. Only before the new
    // image is first indexed: once it has ids of its own, handles already issued on it depend
    // on them, and they stay.
    Result<void> carry_ids_locked(const std::string& from, std::string_view to) const
        REQUIRES(mu_) {
        std::string name(to);
        if (indexes_.contains(name) || name.empty() || name == "." || name == ".." ||
            name.find('/') != std::string::npos) {
            return {};
        }
        std::filesystem::path to_path = ids_path(name);
        std::error_code ec;
        if (std::filesystem::exists(to_path, ec) || ec) return {};
        // No such image: nothing to carry ids to (the caller reports ENOENT when it indexes).
        if (!std::filesystem::is_directory(images_dir() / name / "root", ec)) return {};
        Result<std::string> ids = options_.env->read_file(ids_path(from));
        if (!ids.ok()) {
            // The old image never got ids written: nothing to carry, the new one starts afresh.
            if (ids.error() == std::errc::no_such_file_or_directory) return {};
            store_log().error("image {}: {}", name, ids.message());
            return ids.failure();
        }
        Result<void> written = options_.env->write_file_atomic(to_path, *ids);
        if (!written.ok()) {
            store_log().error("image {}: {}", name, written.message());
            return written;
        }
        store_log().info("image {}: object ids carried over from image {}", name, from);
        return {};
    }

    std::filesystem::path ids_path(const std::string& image) const {
        return options_.state_dir / "index" / (image + ".ids");
    }

    // The existing image other than `except` whose id map was written last; empty if none.
    // An image indexed for the first time without a client's old image to carry ids from (a
    // new Pi, or the TFTP of an unknown one, used it first) carries them from this one:
    // usually the version it replaces. Kept deltas of clients still on that version then find
    // their objects on the same paths when they move.
    std::string newest_ids_locked(const std::string& except) const REQUIRES(mu_) {
        std::string newest;
        std::filesystem::file_time_type newest_time;
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator(options_.state_dir / "index", ec)) {
            std::string image = e.path().stem().string();
            if (e.path().extension() != ".ids" || image == except) continue;
            if (!std::filesystem::is_directory(images_dir() / image, ec)) continue;
            auto t = e.last_write_time(ec);
            if (!ec && (newest.empty() || t > newest_time)) {
                newest = image;
                newest_time = t;
            }
        }
        return newest;
    }

    Result<std::shared_ptr<const ImageIndex>> index_locked(std::string_view image) const
        REQUIRES(mu_) {
        std::string name(image);
        if (auto it = indexes_.find(name); it != indexes_.end()) return it->second;
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
            return errno_error(ENOENT);
        }
        ImageOptions o;
        o.name = name;
        o.image_dir = images_dir() / name;
        o.id_map_path = ids_path(name);
        if (std::string from = newest_ids_locked(name); !from.empty()) {
            if (Result<void> carried = carry_ids_locked(from, name); !carried.ok()) {
                return carried.error();
            }
        }
        o.layers_dir = options_.state_dir / "layers";
        o.boot_mount = options_.boot_mount;
        o.env = options_.env;
        Result<std::shared_ptr<const ImageIndex>> index = ImageIndex::build(o);
        if (!index.ok()) return index.error();
        indexes_.emplace(name, *index);
        return index;
    }

    const StoreOptions options_;
    const HandleKey key_;
    // Shared with the views, which may outlive the store (a server's in-flight calls).
    const std::shared_ptr<CommitLog> log_;
    mutable Mutex mu_;
    mutable std::map<std::string, std::shared_ptr<const ImageIndex>> indexes_ GUARDED_BY(mu_);
    std::map<MacAddr, std::shared_ptr<ClientViewImpl>> views_ GUARDED_BY(mu_);
    // Clients whose first view is being opened, with mu_ released.
    std::set<MacAddr> opening_ GUARDED_BY(mu_);
    mutable CondVar opened_;

    // Waits until no view of `mac` is being opened: nothing may change or read its delta
    // meanwhile.
    void wait_opened_locked(const MacAddr& mac, MutexLock& lock) const REQUIRES(mu_) {
        opened_.wait(lock, [&]() NO_THREAD_SAFETY_ANALYSIS { return !opening_.contains(mac); });
    }
    std::map<std::string, std::shared_ptr<ClientViewImpl>> pristine_ GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
    Env& env = *options.env;
    for (const char* sub : {"images", "layers", "clients", "index"}) {
        if (Result<void> r = env.create_directories(options.state_dir / sub); !r.ok()) {
            store_log().error("cannot create the store: {}", r.message());
            return r.failure();
        }
    }
    // Leftovers of a reset interrupted by a crash.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(options.state_dir / "clients", ec)) {
        std::string name = e.path().filename().string();
        if (name.starts_with(".trash-") || name.ends_with(".trash")) {
            if (Result<void> r = env.remove_all(e.path()); !r.ok()) {
                store_log().warn("{}", r.message());
            }
        }
    }
    Result<HandleKey> key = HandleKey::load_or_create(env, options.state_dir / "secret");
    if (!key.ok()) {
        store_log().error("handle key: {}", key.message());
        return key.failure();
    }
    // Before any delta is read: what the last run promised and left only in the commit log
    // goes back into the deltas first (CommitLog::open replays it).
    std::shared_ptr<CommitLog> log;
    if (options.commit_log) {
        CommitLogOptions log_options;
        log_options.checkpoint_bytes = options.commit_log_checkpoint_bytes;
        Result<std::unique_ptr<CommitLog>> opened =
            CommitLog::open(env, options.state_dir, log_options);
        if (!opened.ok()) {
            store_log().error("commit log: {}", opened.message());
            return opened.failure();
        }
        log = std::move(*opened);
    }
    return std::unique_ptr<Store>(new StoreImpl(options, std::move(*key), std::move(log)));
}

}  // namespace rootfarm::store
