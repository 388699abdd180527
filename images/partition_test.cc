#include "images/partition.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "images/errors.h"
#include "images/test_util.h"

namespace rootfarm::images {
namespace {

using testing::TempDir;

void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
    put32(b, off, static_cast<uint32_t>(v));
    put32(b, off + 4, static_cast<uint32_t>(v >> 32));
}

// A Raspberry Pi OS-like MBR: FAT32 LBA at sector 8192, Linux after it.
std::vector<uint8_t> pi_mbr(uint64_t sectors) {
    std::vector<uint8_t> disk(sectors * 512);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk[446 + 4] = 0x0c;
    put32(disk, 446 + 8, 8192);
    put32(disk, 446 + 12, 1024);
    disk[462 + 4] = 0x83;
    put32(disk, 462 + 8, 9216);
    put32(disk, 462 + 12, 2048);
    return disk;
}

Result<std::vector<Partition>> read(const TempDir& dir, const std::vector<uint8_t>& disk) {
    auto path = dir.path() / "disk.img";
    testing::write_file(path,
                        std::string_view(reinterpret_cast<const char*>(disk.data()), disk.size()));
    int fd = ::open(path.c_str(), O_RDONLY);
    auto r = read_partitions(fd, disk.size());
    ::close(fd);
    return r;
}

TEST(Partition, ReadsPiMbr) {
    TempDir dir;
    auto parts = read(dir, pi_mbr(11264));
    ASSERT_TRUE(parts.ok()) << parts.error().message();
    ASSERT_EQ(parts->size(), 2u);
    EXPECT_EQ((*parts)[0].number, 1);
    EXPECT_EQ((*parts)[0].mbr_type, 0x0c);
    EXPECT_EQ((*parts)[0].offset, 8192u * 512);
    EXPECT_EQ((*parts)[0].size, 1024u * 512);
    EXPECT_EQ((*parts)[1].number, 2);
    EXPECT_EQ((*parts)[1].offset, 9216u * 512);
}

TEST(Partition, PartitionPastEndIsTruncated) {
    TempDir dir;
    auto parts = read(dir, pi_mbr(10000));  // the root partition would end at 11264
    EXPECT_EQ(parts.error(), make_error_code(ImageErrc::kTruncated));
}

TEST(Partition, TextFileIsNotAnImage) {
    TempDir dir;
    std::vector<uint8_t> text(4096, 'x');
    EXPECT_EQ(read(dir, text).error(), make_error_code(ImageErrc::kNotAnImage));
    EXPECT_EQ(read(dir, std::vector<uint8_t>(100)).error(),
              make_error_code(ImageErrc::kNotAnImage));
}

TEST(Partition, BadStatusByteIsNotAnImage) {
    TempDir dir;
    auto disk = pi_mbr(11264);
    disk[446] = 0x12;
    EXPECT_EQ(read(dir, disk).error(), make_error_code(ImageErrc::kNotAnImage));
}

TEST(Partition, EmptyTableIsNotAnImage) {
    TempDir dir;
    std::vector<uint8_t> disk(4096);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    EXPECT_EQ(read(dir, disk).error(), make_error_code(ImageErrc::kNotAnImage));
}

// UEFI 2.10 §5.3: protective MBR, header at LBA 1, entries at LBA 2.
std::vector<uint8_t> gpt_disk(uint32_t entries) {
    std::vector<uint8_t> disk(4096 * 512);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk[446 + 4] = 0xee;
    put32(disk, 446 + 8, 1);
    put32(disk, 446 + 12, 4095);
    std::memcpy(&disk[512], "EFI PART", 8);
    put64(disk, 512 + 72, 2);
    put32(disk, 512 + 80, entries);
    put32(disk, 512 + 84, 128);
    // Entry 1: some type GUID, LBAs 2048..3071. Entry 2 unused. Entry 3: 3072..4095.
    disk[1024] = 0xaf;
    put64(disk, 1024 + 32, 2048);
    put64(disk, 1024 + 40, 3071);
    disk[1024 + 256] = 0x0f;
    put64(disk, 1024 + 256 + 32, 3072);
    put64(disk, 1024 + 256 + 40, 4095);
    return disk;
}

TEST(Partition, ReadsGpt) {
    TempDir dir;
    auto parts = read(dir, gpt_disk(128));
    ASSERT_TRUE(parts.ok()) << parts.error().message();
    ASSERT_EQ(parts->size(), 2u);
    EXPECT_TRUE((*parts)[0].gpt);
    EXPECT_EQ((*parts)[0].offset, 2048u * 512);
    EXPECT_EQ((*parts)[0].size, 1024u * 512);
    EXPECT_EQ((*parts)[1].number, 3);
    EXPECT_EQ((*parts)[1].offset, 3072u * 512);
}

// Found by fuzz/partition_fuzz.cc: a GPT of unused entries was an image with no partition.
TEST(Partition, GptWithNoUsedEntryIsNotAnImage) {
    TempDir dir;
    EXPECT_EQ(read(dir, gpt_disk(0)).error(), make_error_code(ImageErrc::kNotAnImage));
    auto disk = gpt_disk(128);
    disk[1024] = 0;  // entries 1 and 3 get a zero type GUID: unused
    disk[1024 + 256] = 0;
    EXPECT_EQ(read(dir, disk).error(), make_error_code(ImageErrc::kNotAnImage));
}

TEST(Partition, GptWithAbsurdEntryCountIsRefused) {
    TempDir dir;
    EXPECT_EQ(read(dir, gpt_disk(1u << 30)).error(), make_error_code(ImageErrc::kNotAnImage));
}

}  // namespace
}  // namespace rootfarm::images
