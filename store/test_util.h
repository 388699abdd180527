#pragma once

// Helpers for the store's tests: a temporary state directory, hand-made images, and reading or
// writing files through a ClientView the way nfsd does.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "store/store.h"

namespace rootfarm::store::testing {

class TempDir {
  public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "rootfarm-store-XXXXXX");
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, std::string_view data, mode_t mode = 0644) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
    ::chmod(p.c_str(), mode);
}

// The id of the object at `path` ("/etc/hostname") in `view`, or the lookup's error.
inline Result<ObjectId> resolve_path(const ClientView& view, std::string_view path) {
    ObjectId id = view.root();
    while (!path.empty()) {
        size_t slash = path.find('/');
        std::string_view part = path.substr(0, slash);
        path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
        if (part.empty()) continue;
        Result<ObjectId> next = view.lookup(id, part);
        if (!next.ok()) return next.error();
        id = *next;
    }
    return id;
}

// The same, failing the test if it is absent.
inline ObjectId walk(const ClientView& view, std::string_view path) {
    Result<ObjectId> id = resolve_path(view, path);
    if (!id.ok()) {
        ADD_FAILURE() << "lookup " << path << ": " << id.error().message();
        return 0;
    }
    return *id;
}

inline bool exists(const ClientView& view, std::string_view path) {
    return resolve_path(view, path).ok();
}

// The file's contents as an NFS READ sees them: the backing file up to attr.size, zeros past
// its end.
inline std::string read_all(const ClientView& view, ObjectId id) {
    Result<ReadTarget> t = view.open_read(id);
    if (!t.ok()) {
        ADD_FAILURE() << "open_read: " << t.error().message();
        return {};
    }
    std::string out(t->attr.size, '\0');
    if (t->file) {
        ssize_t n = ::pread(t->file->fd(), out.data(), out.size(), 0);
        EXPECT_GE(n, 0);
    }
    return out;
}

inline Result<Attr> write_at(ClientView& view, ObjectId id, uint64_t offset, std::string_view data,
                             bool stable = true) {
    // As nfsd's WRITE: begin_write, then write (a small stable write's bytes go to the commit
    // log with its record).
    Result<WriteTarget> t = view.begin_write(id);
    if (!t.ok()) return t.error();
    return view.write(id, *t, offset, data, stable);
}

inline std::vector<std::string> list(const ClientView& view, ObjectId dir) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    for (;;) {
        Result<DirPage> page = view.readdir(dir, cookie, 3);
        if (!page.ok()) {
            ADD_FAILURE() << "readdir: " << page.error().message();
            return names;
        }
        for (const DirEntry& e : page->entries) {
            names.push_back(e.name);
            cookie = e.cookie;
        }
        if (page->eof) break;
    }
    std::sort(names.begin(), names.end());
    return names;
}

inline MacAddr mac(uint8_t last) {
    return MacAddr{{0xb8, 0x27, 0xeb, 0x00, 0x00, last}};
}

// Closes `view` and `store` if open, then opens the store in `state_dir` and client mac(1)'s view
// of `image`, as a restart does.
inline void reopen_store(const std::filesystem::path& state_dir, std::unique_ptr<Store>& store,
                         std::shared_ptr<ClientView>& view, std::string_view image = "pi") {
    view.reset();
    store.reset();
    StoreOptions o;
    o.state_dir = state_dir;
    auto s = Store::open(o);
    ASSERT_TRUE(s.ok()) << s.error().message();
    store = std::move(*s);
    auto v = store->view(mac(1), image);
    ASSERT_TRUE(v.ok()) << v.error().message();
    view = *v;
}

}  // namespace rootfarm::store::testing
