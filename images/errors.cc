#include "images/errors.h"

namespace rootfarm::images {

namespace {

class ImageCategory : public std::error_category {
  public:
    const char* name() const noexcept override { return "image"; }
    std::string message(int value) const override {
        switch (static_cast<ImageErrc>(value)) {
            case ImageErrc::kBadName:
                return "image name must be one path component";
            case ImageErrc::kExists:
                return "image exists (use --replace)";
            case ImageErrc::kNotFound:
                return "no such image";
            case ImageErrc::kInUse:
                return "image is in use by a client";
            case ImageErrc::kNotAnImage:
                return "not a disk image";
            case ImageErrc::kTruncated:
                return "disk image is truncated";
            case ImageErrc::kNoRootPartition:
                return "no ext4 root partition";
            case ImageErrc::kNoBootPartition:
                return "no FAT boot partition";
            case ImageErrc::kUnsupportedFat:
                return "unsupported FAT variant";
            case ImageErrc::kCorruptFat:
                return "corrupt FAT boot partition";
            case ImageErrc::kCorruptExt4:
                return "corrupt ext4 root partition";
            case ImageErrc::kBadSource:
                return "source is neither a disk image nor a directory";
        }
        return "unknown image error";
    }
};

}  // namespace

const std::error_category& image_category() {
    static const ImageCategory category;
    return category;
}

std::error_code system_error(const Error& e) {
    core_log().error("{}", e.message());
    return e.code();
}

std::error_code system_error(int err, std::string_view what) {
    std::error_code ec = errno_error(err);
    core_log().error("{}: {}", what, ec.message());
    return ec;
}

}  // namespace rootfarm::images
