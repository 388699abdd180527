// Writes the seed corpora that come from the project's own code (make_corpus.sh runs it):
// the golden packets of the unit tests, calls built the way the kernel client sends them, and
// files written by the store itself (a journal, a snapshot, an .ids file, a handle).
//
//   rootfarm_fuzz_seeds <corpus dir>      writes <corpus dir>/<target>/<name>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "dhcpd/test_packets.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/portmap.h"
#include "nfsd/rpc.h"
#include "nfsd/xdr.h"
#include "store/delta.h"
#include "store/env.h"
#include "store/fs_util.h"
#include "store/handle.h"
#include "store/image_metadata.h"
#include "store/journal.h"
#include "store/store.h"
#include "tftpd/packet.h"

using namespace rootfarm;
namespace fs = std::filesystem;

namespace {

fs::path out_dir;

void put(const std::string& target, const std::string& name, std::string_view bytes) {
    fs::create_directories(out_dir / target);
    std::ofstream(out_dir / target / name, std::ios::binary).write(bytes.data(), bytes.size());
}
void put(const std::string& target, const std::string& name, const std::vector<uint8_t>& b) {
    put(target, name, std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::vector<uint8_t> call(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
                          const std::vector<uint8_t>& args) {
    std::vector<uint8_t> m;
    nfsd::XdrWriter w(m);
    w.u32(xid);
    w.u32(0);
    w.u32(2);
    w.u32(prog);
    w.u32(vers);
    w.u32(proc);
    std::vector<uint8_t> cred;
    nfsd::XdrWriter c(cred);
    c.u32(0x654a1b00);
    c.string("pi01");
    c.u32(1000);
    c.u32(1000);
    c.u32(2);
    c.u32(4);
    c.u32(27);
    w.u32(nfsd::kAuthSys);
    w.opaque(cred);
    w.u32(nfsd::kAuthNone);
    w.opaque({});
    m.insert(m.end(), args.begin(), args.end());
    return m;
}

// Record marking (RFC 5531 §11): `msg` in fragments of at most `fragment` bytes.
std::vector<uint8_t> marked(const std::vector<uint8_t>& msg, size_t fragment) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < msg.size() || i == 0; i += fragment) {
        size_t n = std::min(fragment, msg.size() - i);
        uint32_t mark = static_cast<uint32_t>(n) | (i + n == msg.size() ? 0x80000000u : 0);
        for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(mark >> s));
        out.insert(out.end(), msg.begin() + long(i), msg.begin() + long(i + n));
        if (msg.empty()) break;
    }
    return out;
}

void rpc_record_seeds() {
    auto getattr = call(0x6b8a2f01, nfsd::kNfsProgram, 3, 1, {0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
    auto mnt = call(42, nfsd::kMountProgram, 3, 1, {0, 0, 0, 1, '/', 0, 0, 0});
    auto getport = call(7, nfsd::kPortmapProgram, 2, 3,
                        {0, 1, 0x86, 0xa5, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0, 0});
    auto with = [](uint8_t read, uint8_t limit, std::vector<uint8_t> stream) {
        stream.insert(stream.begin(), {read, limit});
        return stream;
    };
    put("rpc_record", "getattr", with(63, 0, marked(getattr, 1u << 20)));
    put("rpc_record", "mnt-fragments", with(3, 0, marked(mnt, 12)));
    auto two = marked(getport, 1u << 20);
    auto second = marked(getattr, 16);
    two.insert(two.end(), second.begin(), second.end());
    put("rpc_record", "two-records", with(10, 0, two));
    put("rpc_record", "oversized", with(63, 130, marked(getattr, 1u << 20)));
    // RFC 5531 §9: rpcvers 3 is answered with RPC_MISMATCH.
    auto v3 = getattr;
    v3[11] = 3;
    put("rpc_record", "rpc-mismatch", with(63, 0, marked(v3, 1u << 20)));
}

// The arguments of each procedure, with "@FH<n>" for the handles nfs_args_fuzz.cc puts in.
void nfs_args_seeds() {
    using nfsd::XdrWriter;
    auto fh = [](XdrWriter& w, char n) {
        const char t[4] = {'@', 'F', 'H', n};
        w.fixed({reinterpret_cast<const uint8_t*>(t), 4});
    };
    auto sattr = [](XdrWriter& w, bool mode) {
        w.boolean(mode);
        if (mode) w.u32(0644);
        w.boolean(false);  // uid
        w.boolean(false);  // gid
        w.boolean(false);  // size
        w.u32(1);          // atime SET_TO_SERVER_TIME
        w.u32(0);          // mtime DONT_CHANGE
    };
    auto seed = [](uint8_t selector, uint8_t flags, const std::string& name,
                   const std::function<void(XdrWriter&)>& args) {
        std::vector<uint8_t> b{selector, flags};
        XdrWriter w(b);
        args(w);
        put("nfs_args", name, b);
    };
    seed(0, 0, "nfs-null", [](XdrWriter&) {});
    seed(1, 0, "nfs-getattr", [&](XdrWriter& w) { fh(w, '0'); });
    seed(2, 0, "nfs-setattr-guarded", [&](XdrWriter& w) {
        fh(w, '2');
        sattr(w, true);
        w.boolean(true);
        w.u32(1764000000);
        w.u32(0);
    });
    seed(2, 0, "nfs-setattr-truncate", [&](XdrWriter& w) {
        fh(w, '5');
        w.boolean(false);
        w.boolean(true);
        w.u32(1000);
        w.boolean(true);
        w.u32(1000);
        w.boolean(true);
        w.u64(10);
        w.u32(2);
        w.u32(1764000000);
        w.u32(5);
        w.u32(0);
        w.boolean(false);
    });
    seed(3, 0, "nfs-lookup", [&](XdrWriter& w) {
        fh(w, '1');
        w.string("hostname");
    });
    seed(3, 1, "nfs-lookup-dotdot", [&](XdrWriter& w) {
        fh(w, '1');
        w.string("..");
    });
    seed(4, 1, "nfs-access", [&](XdrWriter& w) {
        fh(w, '2');
        w.u32(0x3f);
    });
    seed(5, 0, "nfs-readlink", [&](XdrWriter& w) { fh(w, '3'); });
    seed(6, 0, "nfs-read", [&](XdrWriter& w) {
        fh(w, '5');
        w.u64(0);
        w.u32(4096);
    });
    seed(6, 2, "nfs-read-udp-past-eof", [&](XdrWriter& w) {
        fh(w, '7');
        w.u64(1u << 20);
        w.u32(65536);
    });
    seed(7, 0, "nfs-write", [&](XdrWriter& w) {
        fh(w, '5');
        w.u64(100);
        w.u32(11);
        w.u32(2);  // FILE_SYNC
        w.string("hello world");
    });
    seed(8, 0, "nfs-create-unchecked", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("new-file");
        w.u32(0);
        sattr(w, true);
    });
    seed(8, 1, "nfs-create-exclusive", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("excl");
        w.u32(2);
        w.u64(0x0123456789abcdef);
    });
    seed(9, 0, "nfs-mkdir", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("dir");
        sattr(w, true);
    });
    seed(10, 0, "nfs-symlink", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("link");
        sattr(w, false);
        w.string("../etc/hostname");
    });
    seed(11, 0, "nfs-mknod-chr", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("null");
        w.u32(4);  // NF3CHR
        sattr(w, true);
        w.u32(1);
        w.u32(3);
    });
    seed(11, 0, "nfs-mknod-fifo", [&](XdrWriter& w) {
        fh(w, '4');
        w.string("fifo");
        w.u32(7);  // NF3FIFO
        sattr(w, true);
    });
    seed(12, 0, "nfs-remove", [&](XdrWriter& w) {
        fh(w, '1');
        w.string("hostname");
    });
    seed(13, 0, "nfs-rmdir", [&](XdrWriter& w) {
        fh(w, '0');
        w.string("tmp");
    });
    seed(14, 0, "nfs-rename", [&](XdrWriter& w) {
        fh(w, '1');
        w.string("hostname");
        fh(w, '4');
        w.string("moved");
    });
    seed(15, 0, "nfs-link", [&](XdrWriter& w) {
        fh(w, '2');
        fh(w, '4');
        w.string("hard");
    });
    seed(16, 0, "nfs-readdir", [&](XdrWriter& w) {
        fh(w, '0');
        w.u64(0);
        w.u64(0);
        w.u32(4096);
    });
    seed(17, 0, "nfs-readdirplus", [&](XdrWriter& w) {
        fh(w, '6');
        w.u64(0);
        w.u64(0);
        w.u32(1024);
        w.u32(32768);
    });
    seed(18, 0, "nfs-fsstat", [&](XdrWriter& w) { fh(w, '0'); });
    seed(19, 0, "nfs-fsinfo", [&](XdrWriter& w) { fh(w, '0'); });
    seed(20, 0, "nfs-pathconf", [&](XdrWriter& w) { fh(w, '0'); });
    seed(21, 0, "nfs-commit", [&](XdrWriter& w) {
        fh(w, '5');
        w.u64(0);
        w.u32(0);
    });
    seed(1, 4, "nfs-getattr-stranger", [&](XdrWriter& w) { fh(w, '0'); });
    // MOUNT v3 (22 + proc) and portmap v2 (28 + proc).
    seed(22, 0, "mount-null", [](XdrWriter&) {});
    seed(23, 0, "mount-mnt", [](XdrWriter& w) { w.string("/"); });
    seed(23, 0, "mount-mnt-path", [](XdrWriter& w) { w.string("/home/pi"); });
    seed(24, 0, "mount-dump", [](XdrWriter&) {});
    seed(25, 0, "mount-umnt", [](XdrWriter& w) { w.string("/"); });
    seed(26, 0, "mount-umntall", [](XdrWriter&) {});
    seed(27, 0, "mount-export", [](XdrWriter&) {});
    seed(28, 0, "portmap-null", [](XdrWriter&) {});
    seed(29, 0, "portmap-set", [](XdrWriter& w) {
        w.u32(100099);
        w.u32(1);
        w.u32(6);
        w.u32(999);
    });
    seed(31, 0, "portmap-getport", [](XdrWriter& w) {
        w.u32(nfsd::kMountProgram);
        w.u32(3);
        w.u32(nfsd::kIpProtoTcp);
        w.u32(0);
    });
    seed(32, 0, "portmap-dump", [](XdrWriter&) {});
    seed(33, 0, "portmap-callit", [](XdrWriter& w) {
        w.u32(nfsd::kNfsProgram);
        w.u32(3);
        w.u32(0);
        w.opaque({});
    });
}

void dhcp_seeds() {
    using namespace dhcpd::testing;
    put("dhcp", "pi3-discover", pi3_discover());
    put("dhcp", "pi4-eeprom-discover", eeprom_discover(1, pi4_mac(), pi4_guid()));
    put("dhcp", "pi4-eeprom-request",
        eeprom_request(1, pi4_mac(), pi4_guid(), "10.42.0.100", "10.42.0.1"));
    put("dhcp", "pi5-eeprom-discover", eeprom_discover(2, pi5_mac(), pi5_guid()));
    const auto mac = *MacAddr::parse("52:54:00:12:34:56");
    put("dhcp", "plain-discover", plain(1, 3, mac));
    put("dhcp", "plain-request", plain(3, 4, mac, "0.0.0.0", "10.42.0.101", "10.42.0.1"));
    put("dhcp", "plain-release", plain(7, 5, mac, "10.42.0.101", "", "10.42.0.1"));
    put("dhcp", "plain-inform", plain(8, 6, mac, "10.42.0.101"));
    // Option 52 (RFC 2132 §9.3): options continue in the file and sname fields.
    auto overload = plain(1, 7, mac);
    overload[236 + 4] = 52;  // replaces the first option (53) with overload = both fields
    overload[236 + 5] = 1;
    overload[236 + 6] = 3;
    overload[108] = 53;  // file: message type DISCOVER, end
    overload[109] = 1;
    overload[110] = 1;
    overload[111] = 255;
    overload[44] = 255;  // sname: end
    put("dhcp", "overload", overload);
}

void tftp_seeds() {
    using namespace tftpd;
    auto s = [](std::string_view b) { return std::vector<uint8_t>(b.begin(), b.end()); };
    put("tftp", "pi4-rrq-options",
        s(std::string_view("\x00\x01"
                           "1a2b3c4d/start4.elf\x00"
                           "octet\x00"
                           "tsize\x00"
                           "0\x00"
                           "blksize\x00"
                           "1024\x00",
                           50)));
    Request r;
    r.filename = "bootcode.bin";
    r.options = {{"blksize", "1468"}, {"windowsize", "64"}, {"timeout", "3"}, {"tsize", "0"}};
    put("tftp", "rrq-all-options", encode_request(r));
    r.mode = Mode::kNetascii;
    r.op = Opcode::kWrq;
    r.options = {{"blksize", "65464"}, {"windowsize", "65535"}};
    put("tftp", "wrq-netascii-max", encode_request(r));
    put("tftp", "ack", encode_ack(7));
    put("tftp", "error", encode_error(ErrorCode::kFileNotFound, "not found"));
}

// A real delta: the store's own journal and snapshot after a client changed things.
void store_seeds() {
    const fs::path state =
        fs::temp_directory_path() / ("rootfarm-seeds-" + std::to_string(::getpid()));
    fs::remove_all(state);
    fs::create_directories(state / "images/default/root/etc");
    fs::create_directories(state / "images/default/root/boot/firmware");
    fs::create_directories(state / "images/default/boot");
    std::ofstream(state / "images/default/root/etc/hostname") << "golden\n";
    std::ofstream(state / "images/default/boot/config.txt") << "arm_64bit=1\n";
    fs::create_symlink("hostname", state / "images/default/root/etc/link");
    const MacAddr mac = *MacAddr::parse("b8:27:eb:00:00:01");
    {
        store::StoreOptions options;
        options.state_dir = state;
        auto s = store::Store::open(options);
        if (!s.ok()) std::abort();
        auto view = (*s)->view(mac, "default");
        if (!view.ok()) std::abort();
        store::ClientView& v = **view;
        auto etc = v.lookup(v.root(), "etc");
        store::CreateArgs create;
        create.attrs.mode = 0644;
        auto f = v.create(*etc, "new", create);
        auto d = v.mkdir(v.root(), "dir", create.attrs, {1000, 1000});
        (void)v.symlink(*etc, "sl", "../dir", create.attrs, {});
        (void)v.mknod(d->id, "null", store::FileType::kChar, 1, 3, create.attrs, {});
        auto w = v.begin_write(f->id);
        if (w.ok() && w->file) (void)::pwrite(w->file->fd(), "data", 4, 0);
        (void)v.end_write(f->id, 0, 4, true);
        store::SetAttrArgs chmod;
        chmod.mode = 04755;
        chmod.uid = 1000;
        (void)v.setattr(*etc, chmod);
        (void)v.rename(*etc, "hostname", d->id, "moved");
        (void)v.link(f->id, d->id, "hard");
        (void)v.remove(*etc, "link");
        store::CreateArgs excl;
        excl.mode = store::CreateArgs::Mode::kExclusive;
        excl.verifier = 0x1122334455667788;
        (void)v.create(d->id, "excl", excl);
        put("handle", "root",
            std::string_view(reinterpret_cast<const char*>(v.handle(v.root()).bytes.data()),
                             store::HandleKey::kHandleSize));
    }
    const fs::path delta = state / "clients" / "b8-27-eb-00-00-01";
    auto journal = store::Env::Default()->read_file(delta / "journal");
    if (!journal.ok()) std::abort();
    put("journal", "store-journal", std::string(1, '\0') + *journal);
    // The same records as payloads (mode 1 of journal_fuzz.cc and snapshot_fuzz.cc), and as a
    // snapshot made by the store's own writer from the state they replay to.
    std::string payloads(1, '\x01');
    store::DeltaState state_of;
    std::vector<std::string> records;
    (void)store::read_journal(*store::Env::Default(), delta / "journal", [&](std::string_view p) {
        payloads += static_cast<char>(p.size() & 0xff);
        payloads += static_cast<char>(p.size() >> 8);
        payloads += p;
        std::vector<store::Op> ops;
        if (!store::decode_ops(p, ops)) std::abort();
        for (const auto& op : ops) state_of.apply(op);
        return true;
    });
    put("journal", "store-payloads", payloads);
    put("snapshot", "store-payloads", payloads);
    const fs::path snap = state / "snapshot";
    if (!store::write_snapshot(*store::Env::Default(), snap, state_of.snapshot()).ok()) std::abort();
    auto snapshot = store::Env::Default()->read_file(snap);
    put("snapshot", "store-snapshot", std::string(1, '\0') + *snapshot);

    for (const auto& e : fs::directory_iterator(state / "index")) {
        if (e.path().extension() == ".ids") {
            auto ids = store::Env::Default()->read_file(e.path());
            put("id_map", "store-index", *ids);
        }
    }
    put("id_map", "version-1", "rootfarm-ids 1 12345\n1 root\n2 root/etc\n3 root/etc/a\\tb\n");

    // The handle target's key and MAC (handle_fuzz.cc): a handle it accepts.
    store::HandleKey key(std::string(store::HandleKey::kSecretSize, '\x5a'));
    store::Handle h = key.make(mac, {7, 12345, 0x1234});
    put("handle", "valid", std::string_view(reinterpret_cast<const char*>(h.bytes.data()), h.size));
    fs::remove_all(state);
}

void metadata_seeds() {
    std::string text = "# rootfarm image metadata\n\n";
    store::MetadataEntry e;
    e.type = store::FileType::kDirectory;
    e.mode = 0755;
    text += store::format_metadata_line("root", e);
    e.type = store::FileType::kRegular;
    e.mode = 04755;
    text += store::format_metadata_line("root/usr/bin/sudo", e);
    e.type = store::FileType::kChar;
    e.mode = 0666;
    e.rdev_major = 1;
    e.rdev_minor = 3;
    text += store::format_metadata_line("root/dev/null", e);
    e.type = store::FileType::kFifo;
    e.mode = 0600;
    e.uid = e.gid = 1000;
    e.rdev_major = e.rdev_minor = 0;
    text += store::format_metadata_line("root/home/pi/a\tb\\c\nd", e);
    put("image_metadata", "importer", text);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    setup_logging("warn");
    out_dir = argv[1];
    rpc_record_seeds();
    nfs_args_seeds();
    dhcp_seeds();
    tftp_seeds();
    store_seeds();
    metadata_seeds();
    return 0;
}
