#include "store/delta.h"

#include <charconv>

#include "store/codec.h"
#include "store/fs_util.h"
#include "store/names.h"

namespace rootfarm::store {

namespace {

// A snapshot record holds about this many bytes of operations.
constexpr size_t kSnapshotChunk = 1 << 20;

uint64_t data_of(const DeltaObject& o) {
    return o.has(DeltaObject::kData) && !o.has(DeltaObject::kDead) ? o.attr.size : 0;
}

void encode_op(const Op& op, Encoder& e) {
    e.u8(static_cast<uint8_t>(op.kind));
    e.u64(op.id);
    switch (op.kind) {
        case Op::Kind::kPutObject:
            e.attr(op.object.attr);
            e.u64(op.object.parent);
            e.u8(op.object.flags);
            e.u64(op.object.verifier);
            e.str(op.object.target);
            break;
        case Op::Kind::kPutEntry:
            e.str(op.name);
            e.u64(op.child);
            break;
        case Op::Kind::kDelEntry:
            e.str(op.name);
            break;
        case Op::Kind::kDropObject:
        case Op::Kind::kNextId:
            break;
    }
}

bool decode_op(Decoder& d, Op& op) {
    uint8_t kind;
    if (!d.u8(kind) || kind < 1 || kind > 5 || !d.u64(op.id)) return false;
    op.kind = static_cast<Op::Kind>(kind);
    switch (op.kind) {
        case Op::Kind::kPutObject:
            return d.attr(op.object.attr) && d.u64(op.object.parent) && d.u8(op.object.flags) &&
                   d.u64(op.object.verifier) && d.str(op.object.target);
        case Op::Kind::kPutEntry:
            return d.str(op.name) && d.u64(op.child);
        case Op::Kind::kDelEntry:
            return d.str(op.name);
        case Op::Kind::kDropObject:
        case Op::Kind::kNextId:
            return true;
    }
    return false;
}

}  // namespace

void DeltaState::apply(const Op& op) {
    switch (op.kind) {
        case Op::Kind::kPutObject: {
            auto [it, fresh] = objects.try_emplace(op.id);
            if (!fresh) data_bytes -= data_of(it->second);
            it->second = op.object;
            data_bytes += data_of(it->second);
            if (op.object.has(DeltaObject::kNew)) next_id = std::max(next_id, op.id + 1);
            if (op.object.has(DeltaObject::kDead)) {
                if (auto d = dirs.find(op.id); d != dirs.end()) {
                    entries -= d->second.size();
                    dirs.erase(d);
                }
            }
            break;
        }
        case Op::Kind::kDropObject: {
            if (auto it = objects.find(op.id); it != objects.end()) {
                data_bytes -= data_of(it->second);
                objects.erase(it);
            }
            if (auto d = dirs.find(op.id); d != dirs.end()) {
                entries -= d->second.size();
                dirs.erase(d);
            }
            break;
        }
        case Op::Kind::kPutEntry: {
            auto [it, fresh] =
                dirs[op.id].insert_or_assign(EntryKey{name_hash(op.name), op.name}, op.child);
            if (fresh) ++entries;
            break;
        }
        case Op::Kind::kDelEntry: {
            auto d = dirs.find(op.id);
            if (d == dirs.end()) break;
            auto it = d->second.find(EntryRef{name_hash(op.name), op.name});
            if (it == d->second.end()) break;
            d->second.erase(it);
            --entries;
            if (d->second.empty()) dirs.erase(d);
            break;
        }
        case Op::Kind::kNextId:
            next_id = std::max(next_id, op.id);
            break;
    }
}

std::vector<std::string> DeltaState::snapshot() const {
    std::vector<std::string> records;
    Encoder e;
    auto flush = [&](bool force) {
        if (e.bytes().empty() || (!force && e.bytes().size() < kSnapshotChunk)) return;
        records.push_back(e.take());
        e.clear();
    };
    Op op;
    op.kind = Op::Kind::kNextId;
    op.id = next_id;
    encode_op(op, e);
    for (const auto& [id, object] : objects) {
        op.kind = Op::Kind::kPutObject;
        op.id = id;
        op.object = object;
        encode_op(op, e);
        flush(false);
    }
    op.object = DeltaObject{};
    for (const auto& [dir, entries_of_dir] : dirs) {
        for (const auto& [key, child] : entries_of_dir) {
            op.kind = Op::Kind::kPutEntry;
            op.id = dir;
            op.name = key.name;
            op.child = child;
            encode_op(op, e);
            flush(false);
        }
    }
    flush(true);
    return records;
}

std::string encode_ops(std::span<const Op> ops) {
    Encoder e;
    for (const Op& op : ops) encode_op(op, e);
    return e.take();
}

bool decode_ops(std::string_view payload, std::vector<Op>& out) {
    Decoder d(payload);
    while (!d.done()) {
        Op op;
        if (!decode_op(d, op)) return false;
        out.push_back(std::move(op));
    }
    return true;
}

Result<DeltaMeta> load_delta_meta(Env& env, const std::filesystem::path& path) {
    Result<std::string> text = env.read_file(path);
    if (!text.ok()) return text.failure();
    DeltaMeta meta;
    bool have_image = false, have_salt = false;
    std::string_view rest = *text;
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
        size_t space = line.find(' ');
        if (space == std::string_view::npos) continue;
        std::string_view key = line.substr(0, space), value = line.substr(space + 1);
        const char* end = value.data() + value.size();
        if (key == "image") {
            meta.image = value;
            have_image = true;
        } else if (key == "salt") {
            have_salt = std::from_chars(value.data(), end, meta.salt, 16).ec == std::errc{};
        } else if (key == "first_id") {
            (void)std::from_chars(value.data(), end, meta.first_id);
        }
    }
    if (!have_image || !have_salt) return Error(errno_error(EIO), "parse " + path.string());
    return meta;
}

Result<void> save_delta_meta(Env& env, const std::filesystem::path& path, const DeltaMeta& meta) {
    char salt[32];
    auto [end, ec] = std::to_chars(salt, salt + sizeof salt, meta.salt, 16);
    std::string text = "rootfarm-delta 1\nimage " + meta.image + "\nsalt " +
                       std::string(salt, end) + "\nfirst_id " + std::to_string(meta.first_id) +
                       "\n";
    return env.write_file_atomic(path, text);
}

}  // namespace rootfarm::store
