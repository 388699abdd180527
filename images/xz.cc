#include "images/xz.h"

#include <fcntl.h>
#include <lzma.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "images/errors.h"
#include "store/env.h"

namespace rootfarm::images {

namespace {

constexpr std::array<uint8_t, 6> kXzMagic = {0xfd, '7', 'z', 'X', 'Z', 0x00};
constexpr size_t kBlock = 1 << 16;  // the hole granularity: 16 ext4 blocks

bool all_zero(const uint8_t* p, size_t n) {
    return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

const char* lzma_message(lzma_ret r) {
    switch (r) {
        case LZMA_FORMAT_ERROR:
            return "not an xz stream";
        case LZMA_DATA_ERROR:
            return "corrupt data";
        case LZMA_BUF_ERROR:
            return "truncated stream";
        case LZMA_MEM_ERROR:
            return "out of memory";
        case LZMA_OPTIONS_ERROR:
            return "unsupported options";
        default:
            return "decoder error";
    }
}

class Decoder {
  public:
    Decoder() = default;
    ~Decoder() { lzma_end(&s_); }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;
    lzma_stream* get() { return &s_; }

  private:
    lzma_stream s_ = LZMA_STREAM_INIT;
};

// Writes one block of output: holes for zeros (the file is extended by ftruncate at the end).
Result<void> put(int fd, const std::filesystem::path& path, const uint8_t* p, size_t n,
                 uint64_t offset) {
    if (all_zero(p, n)) return {};
    return store::Env::Default()->pwrite(
        fd, path, std::string_view(reinterpret_cast<const char*>(p), n), offset);
}

Result<void> decompress(int in, int out, const std::filesystem::path& src,
                        const std::filesystem::path& dst, Progress& progress) {
    Decoder dec;
    // Concatenated streams are valid .xz (xz file format §2); no memory limit: the image's
    // own dictionary size (Raspberry Pi OS: 64 MiB) is what it takes.
    lzma_ret r = lzma_stream_decoder(dec.get(), UINT64_MAX, LZMA_CONCATENATED);
    if (r != LZMA_OK) return images::system_error(ENOMEM, "xz decoder");
    std::vector<uint8_t> inbuf(kBlock), outbuf(kBlock);
    lzma_stream* s = dec.get();
    s->next_out = outbuf.data();
    s->avail_out = outbuf.size();
    uint64_t written = 0;
    lzma_action action = LZMA_RUN;
    for (;;) {
        if (s->avail_in == 0 && action == LZMA_RUN) {
            ssize_t n = ::read(in, inbuf.data(), inbuf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return images::system_error(errno, "read " + src.string());
            s->next_in = inbuf.data();
            s->avail_in = static_cast<size_t>(n);
            if (n == 0) action = LZMA_FINISH;
        }
        r = lzma_code(s, action);
        if (s->avail_out == 0 || r == LZMA_STREAM_END) {
            size_t n = outbuf.size() - s->avail_out;
            if (Result<void> p = put(out, dst, outbuf.data(), n, written); !p) {
                return images::system_error(p.failure());
            }
            written += n;
            progress.add_bytes(n);
            s->next_out = outbuf.data();
            s->avail_out = outbuf.size();
        }
        if (r == LZMA_STREAM_END) break;
        if (r != LZMA_OK) {
            return image_error(ImageErrc::kNotAnImage, "{}: xz: {} at compressed byte {}",
                               src.string(), lzma_message(r), s->total_in);
        }
    }
    if (Result<void> t = store::Env::Default()->ftruncate(out, dst, written); !t) {
        return images::system_error(t.failure());
    }
    return {};
}

}  // namespace

bool is_xz(int fd) {
    std::array<uint8_t, kXzMagic.size()> head{};
    return ::pread(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()) &&
           head == kXzMagic;
}

Result<void> decompress_xz(const std::filesystem::path& src, const std::filesystem::path& dst,
                           Progress& progress) {
    int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return images::system_error(errno, "open " + src.string());
    store::Env& env = *store::Env::Default();
    Result<int> opened = env.open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!opened) {
        ::close(in);
        return images::system_error(opened.failure());
    }
    int out = *opened;
    core_log().info("decompressing {} into {}", src.string(), dst.string());
    Result<void> r = decompress(in, out, src, dst, progress);
    ::close(in);
    ::close(out);
    if (!r) (void)env.unlink(dst);
    return r;
}

}  // namespace rootfarm::images
