// Every argument decoder of the RPC programs the server answers: NFSv3 (RFC 1813 §3.3, all 22
// procedures), MOUNT v3 (RFC 1813 appendix I) and portmap v2 (RFC 1833 §3.2). NFSv3 decodes its
// arguments inside each procedure, so the call goes through the production entry point,
// nfsd::Service::handle, against a real store with a small image, on a real io_uring Loop
// (READ completes there). One target for all of them: the first input byte picks the program
// and procedure.
//
// Input:
//   byte 0   program and procedure: 0..21 NFSv3, 22..27 MOUNT v3, 28..33 portmap v2 (mod 34)
//   byte 1   bit 0: AUTH_SYS uid/gid 1000 instead of 0; bit 1: over UDP; bit 2: from an
//            address that is no client
//   rest     the procedure's XDR arguments. Each 4-byte "@FH<n>" in them is replaced with the
//            nfs_fh3 (length and bytes) of object n % 8 of the image (kObjects below): real
//            handles carry a tag keyed with the store's secret that no mutation could forge.
//
// The store's state carries over from one input to the next (a CREATE stays created); every
// kResetEvery inputs the client is reset to the pristine image so its delta stays small.

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "clients/clients.h"
#include "core/config.h"
#include "core/loop.h"
#include "fuzz/fuzz_util.h"
#include "nfsd/mount.h"
#include "nfsd/nfs3.h"
#include "nfsd/nfs3_xdr.h"
#include "nfsd/portmap.h"
#include "nfsd/rpc.h"
#include "nfsd/service.h"
#include "store/store.h"

using namespace rootfarm;
using namespace rootfarm::nfsd;

namespace {

namespace fs = std::filesystem;

constexpr const char* kClientMac = "b8:27:eb:00:00:01";
constexpr const char* kClientIp = "10.42.0.20";
constexpr const char* kStrangerIp = "10.42.0.99";
constexpr uint64_t kResetEvery = 4096;

// The objects "@FH<n>" names, by path in the client's view.
constexpr const char* kObjects[] = {
    "/",    "/etc",           "/etc/hostname",  "/lib/hostname-link",
    "/tmp", "/home/pi/notes", "/boot/firmware", "/boot/firmware/config.txt",
};

void write(const fs::path& p, const std::string& content, fs::perms mode) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    fs::permissions(p, mode);
}

struct Server {
    fs::path state;
    Config config;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Clients> clients;
    std::unique_ptr<Service> service;
    std::unique_ptr<Loop> loop;
    std::thread loop_thread;
    std::vector<std::vector<uint8_t>> handles;  // nfs_fh3 as XDR, by kObjects index
    uint64_t inputs = 0;
    uint32_t xid = 1;

    Server() {
        state = fs::temp_directory_path() / ("rootfarm-nfs-fuzz-" + std::to_string(::getpid()));
        fs::remove_all(state);
        const fs::path root = state / "images/default/root";
        const fs::path boot = state / "images/default/boot";
        write(root / "etc/hostname", "golden\n", fs::perms(0644));
        write(root / "etc/secret", "s3cret\n", fs::perms(0600));
        write(root / "bin/tool", "#!/bin/sh\n", fs::perms(0755));
        write(root / "home/pi/notes", std::string(10000, 'n'), fs::perms(0644));
        write(root / "sbin/su", "su", fs::perms(04755));
        fs::create_directories(root / "lib");
        fs::create_symlink("../etc/hostname", root / "lib/hostname-link");
        fs::create_directories(root / "tmp");
        fs::permissions(root / "tmp", fs::perms(01777));
        fs::create_directories(root / "boot/firmware");
        write(boot / "config.txt", "arm_64bit=1\n", fs::perms(0644));
        write(boot / "cmdline.txt", "console=serial0 root=/dev/nfs\n", fs::perms(0644));
        if (::chown((root / "home/pi").c_str(), 1000, 1000) != 0 ||
            ::chown((root / "home/pi/notes").c_str(), 1000, 1000) != 0) {
            // Not root: every file is the fuzzing user's, which is still a valid image.
        }

        config.state_dir = state;
        config.server_ip = *Ipv4::parse("10.42.0.1");
        config.store.client_quota = 64u << 20;
        // Every input comes from the same two addresses: the bogus-call cap would soon drop
        // them all unread, and the decoders would see nothing.
        config.nfs.bogus_calls_per_second = 0;
        ClientConfig client;
        client.mac = *MacAddr::parse(kClientMac);
        client.ip = *Ipv4::parse(kClientIp);
        client.image = "default";
        client.hostname = "pi-fuzz";
        config.clients.push_back(client);

        store::StoreOptions options;
        options.state_dir = state;
        options.client_quota = config.store.client_quota;
        auto s = store::Store::open(options);
        if (!s.ok()) std::abort();
        store = std::move(*s);
        clients = std::make_unique<Clients>(config, store.get());
        service = std::make_unique<Service>(config, *clients);
        service->set_portmap({{kNfsProgram, kNfsVersion, kIpProtoTcp, 2049},
                              {kMountProgram, 3, kIpProtoTcp, 20048},
                              {kMountProgram, 3, kIpProtoUdp, 20048}});
        // The ring belongs to the thread that made it (io_uring SINGLE_ISSUER, core/loop.cc).
        std::promise<void> started;
        loop_thread = std::thread([this, &started] {
            auto l = Loop::create();
            if (!l.ok()) std::abort();
            loop = std::move(*l);
            started.set_value();
            loop->run();
        });
        started.get_future().wait();
        refresh_handles();
    }

    ~Server() {
        loop->stop();
        loop_thread.join();
        service.reset();
        clients.reset();
        store.reset();
        std::error_code ec;
        fs::remove_all(state, ec);
    }

    // Handles depend on the client's delta (its salt changes at a reset).
    void refresh_handles() {
        auto info = clients->by_ip(*Ipv4::parse(kClientIp));
        if (!info) std::abort();
        auto view = clients->view(*info, Clients::Ask::kCall);
        if (!view.ok()) std::abort();
        handles.clear();
        for (const char* path : kObjects) {
            store::ObjectId id = (*view)->root();
            std::string_view rest = path;
            while (!rest.empty()) {
                rest.remove_prefix(1);  // the '/' before each name
                const std::string_view name = rest.substr(0, rest.find('/'));
                if (name.empty()) break;
                auto next = (*view)->lookup(id, name);
                if (!next.ok()) std::abort();
                id = *next;
                rest.remove_prefix(name.size());
            }
            store::Handle h = (*view)->handle(id);
            std::vector<uint8_t> xdr;
            XdrWriter w(xdr);
            w.opaque(h.span());
            handles.push_back(std::move(xdr));
        }
    }

    void maybe_reset() {
        if (++inputs % kResetEvery != 0) return;
        if (!clients->reset(*MacAddr::parse(kClientMac), true).ok()) std::abort();
        refresh_handles();
    }
};

Server* server = nullptr;

struct Program {
    uint32_t prog, vers, proc;
};

Program program_of(uint8_t b) {
    uint32_t i = b % 34;
    if (i < kNfs3ProcCount) return {kNfsProgram, kNfsVersion, i};
    i -= kNfs3ProcCount;
    if (i < 6) return {kMountProgram, 3, i};
    return {kPortmapProgram, kPortmapVersion, i - 6};
}

// The arguments with every "@FH<n>" replaced by handle n % 8.
std::vector<uint8_t> expand_handles(const uint8_t* data, size_t size) {
    std::vector<uint8_t> out;
    out.reserve(size + 64);
    for (size_t i = 0; i < size;) {
        if (size - i >= 4 && data[i] == '@' && data[i + 1] == 'F' && data[i + 2] == 'H') {
            const auto& h = server->handles[data[i + 3] % server->handles.size()];
            out.insert(out.end(), h.begin(), h.end());
            i += 4;
            continue;
        }
        out.push_back(data[i++]);
    }
    return out;
}

// One call through Service::handle on the loop thread, as a transport makes it; the reply.
std::vector<uint8_t> call(const Program& p, bool user, bool udp, bool stranger,
                          const std::vector<uint8_t>& args) {
    auto record = std::make_shared<std::vector<uint8_t>>();
    XdrWriter w(*record);
    w.u32(server->xid++);  // a new xid each time: the DRC must not answer from an earlier input
    w.u32(0);              // CALL
    w.u32(2);              // RPC version
    w.u32(p.prog);
    w.u32(p.vers);
    w.u32(p.proc);
    std::vector<uint8_t> cred;
    XdrWriter c(cred);
    c.u32(0);  // stamp
    c.string("pi-fuzz");
    c.u32(user ? 1000 : 0);
    c.u32(user ? 1000 : 0);
    c.u32(0);  // no supplementary groups
    w.u32(kAuthSys);
    w.opaque(cred);
    w.u32(kAuthNone);
    w.opaque({});
    record->insert(record->end(), args.begin(), args.end());

    std::promise<std::vector<uint8_t>> replied;
    auto reply = replied.get_future();
    Request req;
    req.record = record;
    req.peer = *Ipv4::parse(stranger ? kStrangerIp : kClientIp);
    req.udp = udp;
    req.loop = server->loop.get();
    req.respond = [&replied](Reply r) { replied.set_value(std::move(r.bytes)); };
    server->loop->post([&req] {
        // The header above is a call: the record is never dropped unanswered.
        if (!server->service->handle(std::move(req))) std::abort();
    });
    // Every call is answered exactly once (service.h); a lost reply is a hung client.
    if (reply.wait_for(std::chrono::seconds(20)) != std::future_status::ready) std::abort();
    std::vector<uint8_t> bytes = reply.get();
    if (!bytes.empty() && !read_reply_header(bytes)) std::abort();
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quiet_logs();
    server = new Server();
    std::atexit([] { delete server; });
    // Every "@FH<n>" must name a live object: with handles that no longer resolve (a changed
    // handle layout, a renamed test file) the target would fuzz nothing past BADHANDLE.
    for (char n = '0'; n < '8'; ++n) {
        const uint8_t marker[] = {'@', 'F', 'H', static_cast<uint8_t>(n)};
        auto reply = call(program_of(kNfs3GetAttr), false, false, false,
                          expand_handles(marker, sizeof marker));
        auto h = read_reply_header(reply);
        if (!h || !h->accepted || h->stat != 0 || h->first_result != kNfs3Ok) std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    server->maybe_reset();
    (void)call(program_of(data[0]), data[1] & 1, data[1] & 2, data[1] & 4,
               expand_handles(data + 2, size - 2));
    return 0;
}
