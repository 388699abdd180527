// Reading the configuration's images through the store, for the image checks of doctor.

#include "cli/doctor_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace rootfarm::cli::doctor {
namespace {

// A hint from the MAC prefix, only where one prefix has meant one boot family: b8:27:eb on
// Pi 1-3 and Zero (bootcode.bin + start.elf), dc:a6:32 and e4:5f:01 on Pi 4/400/CM4, 2c:cf:67 on
// Pi 5. d8:3a:dd and 28:cd:c1 are shared by several families.
std::optional<Model> model_of(const MacAddr& mac) {
    switch (mac.oui()) {
        case 0xb827eb:
            return Model::kPi3;
        case 0xdca632:
        case 0xe45f01:
            return Model::kPi4;
        case 0x2ccf67:
            return Model::kPi5;
        default:
            return std::nullopt;
    }
}

// The whole content of a regular file in the view, at most `limit` bytes.
Result<std::string> read_all(const store::ClientView& view, store::ObjectId id, size_t limit) {
    auto target = view.open_read(id);
    if (!target) return target.error();
    const size_t size = static_cast<size_t>(std::min<uint64_t>(target->attr.size, limit));
    std::string out(size, '\0');
    if (!target->file) return out;  // empty or all hole
    size_t done = 0;
    while (done < size) {
        const ssize_t n =
            ::pread(target->file->fd(), out.data() + done, size - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(errno);
        if (n == 0) break;  // past the backing file's end the size reads as zeros
        done += static_cast<size_t>(n);
    }
    return out;
}

}  // namespace

std::string name(Model m) {
    switch (m) {
        case Model::kPi3:
            return "Pi 3";
        case Model::kPi4:
            return "Pi 4";
        case Model::kPi5:
            return "Pi 5";
    }
    return "?";
}

std::map<std::string, Need> referenced_images(const Config& config) {
    std::map<std::string, Need> out;
    const bool default_used = config.defaults.enroll == DefaultsConfig::Enroll::kAnyPi;
    for (const ClientConfig& c : config.clients) {
        const std::string& image = c.image.empty() ? config.defaults.image : c.image;
        Need& need = out[image];
        if (auto m = model_of(c.mac)) {
            need.models.try_emplace(*m, c.mac.to_string());
        } else {
            need.unknown = true;
        }
    }
    // [defaults] image serves Pis enrolled on their first DHCP request, and unknown TFTP
    // clients: any model.
    if (default_used || !out.contains(config.defaults.image)) {
        out[config.defaults.image].unknown = true;
    }
    return out;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out.empty() ? "none" : out;
}

View open_image(store::Store& store, const std::string& image, Findings* report) {
    const std::vector<std::string> images = store.images();
    if (std::find(images.begin(), images.end(), image) == images.end()) {
        if (report) {
            report->push_back(
                {Severity::kProblem, "image",
                 "image " + image + " is not in the store (images: " + joined(images) + ")",
                 "rootfarm image import SOURCE " + image +
                     ", or name an existing image in the configuration"});
        }
        return nullptr;
    }
    auto view = store.image_view(image);
    if (!view) {
        if (report) {
            report->push_back({Severity::kProblem, "image",
                               "image " + image + " cannot be read: " + view.error().message(),
                               "see the store's log line above; re-import the image"});
        }
        return nullptr;
    }
    return *view;
}

std::vector<std::string> list_dir(const store::ClientView& view, store::ObjectId dir) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    for (int page = 0; page < 1000; ++page) {
        auto r = view.readdir(dir, cookie, 256);
        if (!r) break;
        for (const auto& e : r->entries) {
            names.push_back(e.name);
            cookie = e.cookie;
        }
        if (r->eof || r->entries.empty()) break;
    }
    return names;
}

Result<std::string> read_path(const store::ClientView& view, store::ObjectId dir,
                              std::initializer_list<std::string_view> path) {
    store::ObjectId id = dir;
    for (std::string_view part : path) {
        auto next = view.lookup(id, part);
        if (!next) return next.error();
        id = *next;
    }
    return read_all(view, id, 1 << 20);
}

}  // namespace rootfarm::cli::doctor
