#include "bench/synth.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <system_error>

namespace rootfarm::bench {

namespace fs = std::filesystem;

const uint64_t kMeasuredMix[kProcCount] = {
    2805,  // GETATTR
    517,   // SETATTR
    1716,  // LOOKUP
    719,   // ACCESS
    35,    // READLINK
    893,   // READ
    798,   // WRITE
    674,   // CREATE
    19,    // MKDIR
    5,     // SYMLINK
    3,     // MKNOD
    672,   // REMOVE
    20,    // RMDIR
    157,   // RENAME
    5,     // LINK
    46,    // READDIRPLUS
    10,    // FSSTAT
    2,     // FSINFO
    1,     // PATHCONF
    106,   // COMMIT
};

namespace {

Result<void> write_file(const fs::path& p, uint64_t size, uint64_t seed) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) return ec;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) return std::errc::io_error;
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> block(8192);
    for (uint64_t done = 0; done < size;) {
        for (auto& w : block) w = rng();
        uint64_t n = std::min<uint64_t>(size - done, block.size() * 8);
        out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
        done += n;
    }
    return out ? Result<void>{} : Result<void>{std::errc::io_error};
}

Result<void> symlink(const fs::path& target, const fs::path& link) {
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_symlink(target, link, ec);
    if (ec) return ec;
    return {};
}

}  // namespace

Result<void> make_image(const fs::path& dir, const ImageSpec& spec) {
    fs::path root = dir / "root", boot = dir / "boot";
    uint64_t seed = 1;
    // docs/pi-boot.md: the files a Pi 4 reads over TFTP.
    const std::pair<const char*, uint64_t> boot_files[] = {
        {"start4.elf", spec.start_bytes},        {"fixup4.dat", 5446},
        {"bcm2711-rpi-4-b.dtb", 52593},          {"overlays/overlay_map.dtb", 5287},
        {"overlays/vc4-kms-v3d-pi4.dtbo", 4209}, {"kernel8.img", spec.kernel_bytes},
    };
    for (auto& [name, size] : boot_files) {
        if (auto r = write_file(boot / name, size, seed++); !r) return r;
    }
    { std::ofstream(boot / "config.txt") << "arm_64bit=1\nenable_uart=1\ndtoverlay=vc4-kms-v3d\n"; }
    const char* bins[] = {"bash", "ls",   "cat",     "mount",      "systemctl", "udevadm", "sed",
                          "grep", "dpkg", "apt-get", "journalctl", "login",     "agetty",  "ip",
                          "ps",   "sshd", "cp",      "mv",         "rm",        "mkdir"};
    for (size_t i = 0; i < std::size(bins); ++i) {
        uint64_t size = 24576 + (i * 97531) % 1200000;
        if (auto r = write_file(root / "usr/bin" / bins[i], size, seed++); !r) return r;
    }
    const std::pair<const char*, uint64_t> libs[] = {
        {"libc.so.6", 1922136},           {"libm.so.6", 907784},
        {"libsystemd.so.0.35.0", 887320}, {"libselinux.so.1", 166280},
        {"libpcre2-8.so.0.11.2", 629400}, {"libcrypto.so.3", 4709656},
        {"libz.so.1.2.13", 121280},       {"libudev.so.1.7.5", 198664},
        {"libmount.so.1.1.0", 382312},    {"libblkid.so.1.1.0", 326488},
    };
    fs::path libdir = root / "usr/lib/aarch64-linux-gnu";
    for (auto& [name, size] : libs) {
        if (auto r = write_file(libdir / name, size, seed++); !r) return r;
        std::string n = name;
        // Debian's soname links: libz.so.1 -> libz.so.1.2.13.
        auto so = n.find(".so.");
        auto dot = n.find('.', so + 4);
        if (dot != std::string::npos) {
            if (auto r = symlink(n, libdir / n.substr(0, dot)); !r) return r;
        }
    }
    const std::pair<const char*, const char*> etc[] = {
        {"hostname", "raspberrypi\n"},
        {"fstab", "proc /proc proc defaults 0 0\n"},
        {"passwd", "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n"},
        {"group", "root:x:0:\npi:x:1000:\n"},
        {"os-release", "PRETTY_NAME=\"rootfarm bench demo image\"\n"},
        {"ld.so.cache", "synthetic\n"},
        {"nsswitch.conf", "passwd: files\n"},
        {"locale.conf", "LANG=C.UTF-8\n"},
    };
    for (auto& [name, text] : etc) {
        fs::create_directories(root / "etc");
        std::ofstream(root / "etc" / name) << text;
    }
    for (const char* d : {"etc/systemd/system", "var/tmp", "var/log", "var/lib/dpkg", "tmp", "run",
                          "home/pi", "root", "proc", "sys", "dev", "boot/firmware"}) {
        fs::create_directories(root / d);
    }
    std::ofstream(root / "var/lib/dpkg/status") << "Package: base-files\nStatus: install ok\n";
    // Merged /usr, as Debian bookworm: the kernel's path walks READLINK these.
    for (const char* l : {"bin", "sbin", "lib"}) {
        std::string target = std::string("usr/") + l;
        fs::create_directories(root / target);
        if (auto r = symlink(target, root / l); !r) return r;
    }
    return {};
}

namespace {

// RFC 1813 §2.6 NFS3ERR_NOENT: what the negative lookups of a boot answer.
constexpr uint32_t kNoent = 2;

struct Entry {
    std::string path;  // absolute in the client's view
    uint64_t size = 0;
};

class Generator {
  public:
    Generator(const fs::path& root, uint64_t seed) : rng_(seed) {
        for (auto it = fs::recursive_directory_iterator(root); it != fs::end(it); ++it) {
            // lexically: fs::relative would follow the symlinks this walk must list as links.
            std::string rel = "/" + it->path().lexically_relative(root).generic_string();
            if (it->is_symlink()) {
                links_.push_back({rel, 0});
                it.disable_recursion_pending();
            } else if (it->is_directory()) {
                dirs_.push_back({rel, 0});
            } else if (it->is_regular_file()) {
                files_.push_back({rel, it->file_size()});
            }
        }
        dirs_.push_back({"/", 0});
        std::sort(files_.begin(), files_.end(), [](auto& a, auto& b) { return a.path < b.path; });
        std::sort(dirs_.begin(), dirs_.end(), [](auto& a, auto& b) { return a.path < b.path; });
        std::sort(links_.begin(), links_.end(), [](auto& a, auto& b) { return a.path < b.path; });
        for (int i = 0; i < kProcCount; ++i) left_[i] = static_cast<int64_t>(kMeasuredMix[i]);
    }

    Trace run() {
        emit(Proc::kFsinfo, "/");
        emit(Proc::kPathconf, "/");
        emit(Proc::kFsstat, "/");
        // Each step picks an episode in proportion to what is left of the call that drives it,
        // so the mix is spread over the whole boot instead of phase by phase.
        const Proc drivers[] = {Proc::kCreate, Proc::kRead,        Proc::kGetattr,  Proc::kLookup,
                                Proc::kAccess, Proc::kMkdir,       Proc::kSymlink,  Proc::kLink,
                                Proc::kMknod,  Proc::kReaddirplus, Proc::kReadlink, Proc::kFsstat,
                                Proc::kFsinfo, Proc::kSetattr};
        for (;;) {
            int64_t total = 0;
            for (Proc d : drivers) total += std::max<int64_t>(0, left(d));
            if (total == 0) break;
            int64_t pick = std::uniform_int_distribution<int64_t>(0, total - 1)(rng_);
            Proc chosen = drivers[0];
            for (Proc d : drivers) {
                pick -= std::max<int64_t>(0, left(d));
                if (pick < 0) {
                    chosen = d;
                    break;
                }
            }
            episode(chosen);
        }
        Trace t;
        t.header = {
            "rootfarm-bench NFS trace v2",
            "SYNTHETIC: generated by `rootfarm-bench gen-trace`, NOT recorded from a "
            "real boot.",
            "Call mix modelled on docs/pi-boot.md, What the kernel client sends (one measured kernel boot, ~9,000 calls);",
            "bench/traces/bookworm-boot.trace is a recorded boot (bench/compare prefers it).",
            "proc generated measured:"};
        for (int i = 0; i < kProcCount; ++i) {
            if (emitted_[i] == 0 && kMeasuredMix[i] == 0) continue;
            t.header.push_back("  " + std::string(proc_name(static_cast<Proc>(i))) + " " +
                               std::to_string(emitted_[i]) + " " + std::to_string(kMeasuredMix[i]));
        }
        t.ops = std::move(ops_);
        return t;
    }

  private:
    int64_t left(Proc p) const { return left_[static_cast<int>(p)]; }

    TraceOp& emit(Proc p, std::string path, std::string name = {}) {
        --left_[static_cast<int>(p)];
        ++emitted_[static_cast<int>(p)];
        TraceOp op;
        op.proc = p;
        op.path = std::move(path);
        op.name = std::move(name);
        ops_.push_back(std::move(op));
        return ops_.back();
    }

    template <class V>
    const Entry& pick(const V& v) {
        return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
    }
    bool chance(int64_t num, int64_t den) {
        if (num <= 0 || den <= 0) return false;
        return std::uniform_int_distribution<int64_t>(1, den)(rng_) <= num;
    }

    static std::pair<std::string, std::string> split(const std::string& path) {
        auto slash = path.rfind('/');
        return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
    }

    // The kernel's path walk: one LOOKUP per component it has not cached (modelled: the last
    // one only), then GETATTR/ACCESS revalidation of the object.
    void open_file(const Entry& f) {
        auto [dir, name] = split(f.path);
        emit(Proc::kLookup, dir, name);
        emit(Proc::kGetattr, f.path);
        if (left(Proc::kAccess) > 0) emit(Proc::kAccess, f.path);
    }

    void episode(Proc driver) {
        switch (driver) {
            case Proc::kCreate:
                return write_episode();
            case Proc::kRead: {
                const Entry& f = pick(files_);
                open_file(f);
                // Readahead-sized READs (128 KiB) over the start of the file.
                uint64_t chunk = 131072;
                uint64_t reads = std::clamp<uint64_t>((f.size + chunk - 1) / chunk, 1, 4);
                for (uint64_t i = 0; i < reads && left(Proc::kRead) > 0; ++i) {
                    auto& op = emit(Proc::kRead, f.path);
                    op.offset = i * chunk;
                    op.count = chunk;
                }
                return;
            }
            case Proc::kGetattr: {
                const Entry& e = chance(1, 3) ? pick(dirs_) : pick(files_);
                emit(Proc::kGetattr, e.path);
                return;
            }
            case Proc::kLookup: {
                // Negative lookups: shared-library search paths, unit drop-ins, locale files.
                const Entry& d = pick(dirs_);
                emit(Proc::kLookup, d.path, "nx-" + std::to_string(serial_++)).status = kNoent;
                return;
            }
            case Proc::kAccess:
                emit(Proc::kAccess, pick(dirs_).path);
                return;
            case Proc::kMkdir: {
                std::string d = "d" + std::to_string(serial_++);
                emit(Proc::kLookup, "/var/tmp", d).status = kNoent;
                emit(Proc::kMkdir, "/var/tmp", d);
                std::string dir = "/var/tmp/" + d;
                emit(Proc::kCreate, dir, "f");
                auto& w = emit(Proc::kWrite, dir + "/f");
                w.count = 512;
                emit(Proc::kReaddirplus, dir);
                emit(Proc::kRemove, dir, "f");
                emit(Proc::kRmdir, "/var/tmp", d);
                return;
            }
            case Proc::kSymlink: {
                std::string n = "s" + std::to_string(serial_++);
                auto& op = emit(Proc::kSymlink, "/tmp", n);
                op.name2 = "../etc/hostname";
                emit(Proc::kReadlink, "/tmp/" + n);
                emit(Proc::kRemove, "/tmp", n);
                return;
            }
            case Proc::kLink: {
                std::string n = "h" + std::to_string(serial_++);
                emit(Proc::kCreate, "/tmp", n);
                auto& op = emit(Proc::kLink, "/tmp/" + n);
                op.path2 = "/tmp";
                op.name2 = n + ".lnk";
                emit(Proc::kRemove, "/tmp", n + ".lnk");
                emit(Proc::kRemove, "/tmp", n);
                return;
            }
            case Proc::kMknod: {
                // systemd/initctl FIFOs.
                std::string n = "p" + std::to_string(serial_++);
                emit(Proc::kMknod, "/run", n);
                emit(Proc::kGetattr, "/run/" + n);
                emit(Proc::kRemove, "/run", n);
                return;
            }
            case Proc::kReaddirplus:
                emit(Proc::kReaddirplus, pick(dirs_).path);
                return;
            case Proc::kReadlink:
                emit(Proc::kReadlink, pick(links_).path);
                return;
            case Proc::kFsstat:
                emit(Proc::kFsstat, "/");
                return;
            case Proc::kFsinfo:
                emit(Proc::kFsinfo, "/");
                return;
            case Proc::kSetattr: {
                // chmod of an image file to the mode it already has: idempotent across replays.
                auto& op = emit(Proc::kSetattr, "/etc/hostname");
                op.mode = 0644;
                return;
            }
            default:
                return;
        }
    }

    // dpkg/systemd style: create a temp file, truncate, write, maybe fsync (COMMIT), maybe
    // rename into place, then remove so the view returns to its start state.
    void write_episode() {
        int64_t creates = std::max<int64_t>(1, left(Proc::kCreate));
        std::string dir = chance(1, 2) ? "/var/tmp" : "/var/log";
        std::string n = "w" + std::to_string(serial_++);
        std::string path = dir + "/" + n;
        emit(Proc::kLookup, dir, n).status = kNoent;
        emit(Proc::kCreate, dir, n);
        if (chance(left(Proc::kSetattr), creates)) {
            auto& op = emit(Proc::kSetattr, path);
            op.size = 0;
        }
        int64_t writes = std::max<int64_t>(1, (left(Proc::kWrite) + creates - 1) / creates);
        for (int64_t i = 0; i < writes && left(Proc::kWrite) > 0; ++i) {
            auto& op = emit(Proc::kWrite, path);
            op.offset = static_cast<uint64_t>(i) * 8192;
            op.count = 8192;
        }
        if (chance(left(Proc::kCommit), creates)) emit(Proc::kCommit, path);
        emit(Proc::kGetattr, path);
        if (chance(left(Proc::kRename), creates)) {
            auto& op = emit(Proc::kRename, dir, n);
            op.path2 = dir;
            op.name2 = n + ".new";
            path = dir + "/" + op.name2;
            n = op.name2;
        }
        emit(Proc::kRemove, dir, n);
    }

    std::mt19937_64 rng_;
    std::vector<Entry> files_, dirs_, links_;
    std::vector<TraceOp> ops_;
    int64_t left_[kProcCount] = {};
    uint64_t emitted_[kProcCount] = {};
    uint64_t serial_ = 0;
};

}  // namespace

Trace generate_trace(const fs::path& root, uint64_t seed) {
    return Generator(root, seed).run();
}

}  // namespace rootfarm::bench
