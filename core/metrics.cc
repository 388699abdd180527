#include "core/metrics.h"

#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>

#include "core/mutex.h"

namespace rootfarm::metrics {

namespace {

// Slots are process-wide: kShards copies of kSlots counters. A thread takes a shard at its first
// update (round robin), so the few threads that update (one loop per core, the HTTP threads)
// each write their own; were there more threads than shards, two share one and their relaxed
// adds stay correct, merely contended.
constexpr unsigned kShards = 16;
constexpr uint32_t kSlots = 4096;
// Slots 0 and 1 take the updates of default-constructed handles and are never written out.
constexpr uint32_t kSinkSlots = 2;

struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kSlots> slot{};
};
Shard g_shards[kShards];
std::atomic<unsigned> g_next_shard{0};
thread_local unsigned t_shard = kShards;  // kShards: none taken yet

Mutex g_slots_mu;
uint32_t g_next_slot GUARDED_BY(g_slots_mu) = kSinkSlots;

std::atomic<uint64_t>* my_shard() {
    unsigned s = t_shard;
    if (s == kShards) [[unlikely]] {
        s = g_next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
        t_shard = s;
    }
    return g_shards[s].slot.data();
}

uint64_t read_slot(uint32_t slot) {
    uint64_t sum = 0;
    for (const Shard& s : g_shards) sum += s.slot[slot].load(std::memory_order_relaxed);
    return sum;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "metrics: %s\n", what.c_str());
    std::abort();
}

uint32_t allocate_slots(uint32_t n, std::string_view name) {
    MutexLock lock(g_slots_mu);
    if (kSlots - g_next_slot < n) die("no slot left for " + std::string(name));
    const uint32_t first = g_next_slot;
    g_next_slot += n;
    return first;
}

// The exposition format's metric and label names: [a-zA-Z_:][a-zA-Z0-9_:]* and
// [a-zA-Z_][a-zA-Z0-9_]* (the data model's rules; label names starting "__" are reserved).
bool valid_name(std::string_view s, bool colon) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                        (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

std::string format_double(double v) {
    // The format takes Go's float syntax: +Inf, -Inf and NaN by those names.
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    // Shortest round trip in %g style, as the Go client writes floats (strconv 'g', -1): le
    // labels then read "0.0001", not "1e-04".
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    return std::string(buf, r.ptr);
}

}  // namespace

void Counter::add(uint64_t n) const {
    my_shard()[slot_].fetch_add(n, std::memory_order_relaxed);
}

void Histogram::observe(std::chrono::nanoseconds d) const {
    const uint64_t ns = d.count() > 0 ? static_cast<uint64_t>(d.count()) : 0;
    uint32_t i = 0;
    // A bucket counts the observations <= its bound ("le"); the last slot is +Inf.
    while (i < buckets_ && ns > bounds_ns_[i]) ++i;
    std::atomic<uint64_t>* s = my_shard();
    s[first_slot_ + i].fetch_add(1, std::memory_order_relaxed);
    s[first_slot_ + buckets_ + 1].fetch_add(ns, std::memory_order_relaxed);
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

void Exposition::family(std::string_view name, std::string_view help, std::string_view type) {
    // HELP text escapes only backslash and line feed.
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    for (char c : help) {
        if (c == '\\') {
            text_ += "\\\\";
        } else if (c == '\n') {
            text_ += "\\n";
        } else {
            text_ += c;
        }
    }
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void Exposition::series(std::string_view name, const Labels& labels) {
    text_ += name;
    if (labels.empty()) {
        text_ += ' ';
        return;
    }
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) text_ += ',';
        text_ += labels[i].first;
        text_ += "=\"";
        text_ += escape_label_value(labels[i].second);
        text_ += '"';
    }
    text_ += "} ";
}

void Exposition::sample(std::string_view name, const Labels& labels, double value) {
    series(name, labels);
    text_ += format_double(value);
    text_ += '\n';
}

void Exposition::sample(std::string_view name, const Labels& labels, uint64_t value) {
    series(name, labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

std::span<const double> request_buckets() {
    static constexpr double kBounds[] = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
                                         5e-3,  10e-3,  25e-3,  50e-3,  0.1,  0.25,
                                         0.5,   1,      2.5,    5,      10};
    return kBounds;
}

struct Registry::Impl {
    enum class Kind { kCounter, kHistogram };
    struct Series {
        Labels labels;
        uint32_t first_slot;
    };
    struct Family {
        std::string name;
        std::string help;
        Kind kind;
        std::vector<double> bounds;       // histograms: seconds, for the le labels
        std::vector<uint64_t> bounds_ns;  // the same in ns, for observe()
        std::vector<std::string> le;      // the le label of each finite bound
        std::vector<Series> series;
    };

    // Finds or adds the family and the series; returns the family and the series' first slot.
    std::pair<Family*, uint32_t> add(std::string_view name, std::string_view help, Kind kind,
                                     const Labels& labels, std::span<const double> bounds) {
        if (!valid_name(name, true)) die("bad metric name '" + std::string(name) + "'");
        for (const auto& [label, _] : labels) {
            if (!valid_name(label, false) || label.starts_with("__") ||
                (kind == Kind::kHistogram && label == "le")) {
                die(std::string(name) + ": bad label name '" + label + "'");
            }
        }
        MutexLock lock(mu);
        Family* f = nullptr;
        for (Family& each : families) {
            if (each.name == name) f = &each;
        }
        if (f == nullptr) {
            f = &families.emplace_back();
            f->name = name;
            f->help = help;
            f->kind = kind;
            if (kind == Kind::kHistogram) {
                for (double b : bounds) {
                    if (!f->bounds.empty() && b <= f->bounds.back()) {
                        die(std::string(name) + ": bucket bounds must ascend");
                    }
                    f->bounds.push_back(b);
                    f->bounds_ns.push_back(static_cast<uint64_t>(std::llround(b * 1e9)));
                    f->le.push_back(format_double(b));
                }
            }
        } else if (f->kind != kind) {
            die(std::string(name) + " registered as both a counter and a histogram");
        } else if (kind == Kind::kHistogram &&
                   !std::equal(bounds.begin(), bounds.end(), f->bounds.begin(), f->bounds.end())) {
            die(std::string(name) + " registered with other buckets");
        }
        for (const Series& s : f->series) {
            if (s.labels == labels) return {f, s.first_slot};
        }
        const uint32_t n = kind == Kind::kCounter ? 1 : static_cast<uint32_t>(f->bounds.size()) + 2;
        const uint32_t first = allocate_slots(n, name);
        f->series.push_back({labels, first});
        return {f, first};
    }

    mutable Mutex mu;
    std::deque<Family> families
        GUARDED_BY(mu);  // a deque: histograms point into their family's bounds_ns
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Registry& Registry::global() {
    static Registry* registry = new Registry();  // never destroyed: threads may update late
    return *registry;
}

Counter Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
    return Counter(impl_->add(name, help, Impl::Kind::kCounter, labels, {}).second);
}

Histogram Registry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                              std::span<const double> bounds) {
    auto [family, first] = impl_->add(name, help, Impl::Kind::kHistogram, labels, bounds);
    return Histogram(first, family->bounds_ns.data(),
                     static_cast<uint32_t>(family->bounds_ns.size()));
}

void Registry::write(Exposition& out) const {
    MutexLock lock(impl_->mu);
    for (const Impl::Family& f : impl_->families) {
        if (f.kind == Impl::Kind::kCounter) {
            out.family(f.name, f.help, "counter");
            for (const Impl::Series& s : f.series)
                out.sample(f.name, s.labels, read_slot(s.first_slot));
            continue;
        }
        out.family(f.name, f.help, "histogram");
        const std::string bucket = f.name + "_bucket";
        for (const Impl::Series& s : f.series) {
            Labels labels = s.labels;
            labels.emplace_back("le", "");
            uint64_t cumulative = 0;
            for (size_t i = 0; i <= f.bounds.size(); ++i) {
                cumulative += read_slot(s.first_slot + static_cast<uint32_t>(i));
                labels.back().second = i < f.bounds.size() ? f.le[i] : "+Inf";
                out.sample(bucket, labels, cumulative);
            }
            const uint64_t sum_ns =
                read_slot(s.first_slot + static_cast<uint32_t>(f.bounds.size()) + 1);
            out.sample(f.name + "_sum", s.labels, static_cast<double>(sum_ns) / 1e9);
            out.sample(f.name + "_count", s.labels, cumulative);
        }
    }
}

namespace {

Labels service_labels(std::string_view service, std::string_view key = {},
                      std::string_view value = {}) {
    Labels labels{{"service", std::string(service)}};
    if (!key.empty()) labels.emplace_back(std::string(key), std::string(value));
    return labels;
}

}  // namespace

Counter requests_total(std::string_view service, std::string_view op) {
    return Registry::global().counter("rootfarm_requests_total",
                                      "Requests received, by service and operation.",
                                      service_labels(service, "op", op));
}

Histogram request_duration(std::string_view service, std::string_view op) {
    return Registry::global().histogram(
        "rootfarm_request_duration_seconds",
        "Time from a request's arrival to its answer, by service and operation.",
        service_labels(service, "op", op));
}

Counter replies_total(std::string_view service, std::string_view op) {
    return Registry::global().counter("rootfarm_replies_total", "Answers sent, by their type.",
                                      service_labels(service, "op", op));
}

Counter errors_total(std::string_view service, std::string_view status) {
    return Registry::global().counter(
        "rootfarm_errors_total",
        "Answers that report an error and requests dropped as malformed, by status.",
        service_labels(service, "status", status));
}

Counter received_bytes(std::string_view service) {
    return Registry::global().counter("rootfarm_received_bytes_total",
                                      "Bytes received in requests (RPC messages, datagrams).",
                                      service_labels(service));
}

Counter sent_bytes(std::string_view service) {
    return Registry::global().counter("rootfarm_sent_bytes_total",
                                      "Bytes sent in answers (RPC messages, datagrams, files).",
                                      service_labels(service));
}

}  // namespace rootfarm::metrics
