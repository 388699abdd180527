#pragma once

// Counters and duration histograms for /metrics, written in the Prometheus text exposition
// format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats). A series is registered
// once with all its label values, before the hot path uses it; an update is then one or two
// relaxed atomic adds into the calling thread's own shard of slots, so NFS workers on different
// cores never write the same cache line. A scrape sums the shards.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rootfarm::metrics {

// name="value" pairs, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Cheap to copy; a default-constructed one counts into a
// slot no family writes out.
class Counter {
  public:
    Counter() = default;
    void add(uint64_t n = 1) const;

  private:
    friend class Registry;
    explicit Counter(uint32_t slot) : slot_(slot) {}
    uint32_t slot_ = 0;
};

// A histogram of durations, exposed in seconds. Cheap to copy; a default-constructed one
// observes into slots no family writes out.
class Histogram {
  public:
    Histogram() = default;
    void observe(std::chrono::nanoseconds d) const;

  private:
    friend class Registry;
    Histogram(uint32_t first_slot, const uint64_t* bounds_ns, uint32_t buckets)
        : first_slot_(first_slot), bounds_ns_(bounds_ns), buckets_(buckets) {}
    // Slots: one per finite bucket (not cumulative), one for +Inf, then the sum in ns.
    uint32_t first_slot_ = 0;
    const uint64_t* bounds_ns_ = nullptr;
    uint32_t buckets_ = 0;  // finite upper bounds
};

// Appends text in the exposition format: a family's "# HELP" and "# TYPE" lines, then its
// samples. Escapes label values and help text as the format asks.
class Exposition {
  public:
    // `type`: "counter", "gauge", "histogram". Each family must be written once, with all its
    // samples right after it.
    void family(std::string_view name, std::string_view help, std::string_view type);
    void sample(std::string_view name, const Labels& labels, double value);
    void sample(std::string_view name, const Labels& labels, uint64_t value);
    const std::string& text() const { return text_; }

  private:
    void series(std::string_view name, const Labels& labels);
    std::string text_;
};

// Label value escaping of the exposition format: backslash, double quote and line feed become
// \\, \" and \n.
std::string escape_label_value(std::string_view value);

// Default upper bounds (seconds) of a request's latency: 50 µs to 10 s.
std::span<const double> request_buckets();

// Every series of the process. Registration takes a lock; updates never do.
class Registry {
  public:
    // The process's registry: the services register into it and /metrics writes it.
    static Registry& global();

    // The series `name`{labels}; registering the same one again returns the same handle. The
    // first registration of a name fixes its help text and type. Aborts on a malformed name or
    // label name, a name registered with another type, or more series than the slots hold:
    // those are programming errors, found by the first start.
    Counter counter(std::string_view name, std::string_view help, const Labels& labels);
    // `bounds`: ascending upper bounds in seconds, without +Inf.
    Histogram histogram(std::string_view name, std::string_view help, const Labels& labels,
                        std::span<const double> bounds = request_buckets());

    // Writes every registered family, in the order of first registration.
    void write(Exposition& out) const;

    // A registry of its own (tests); its series take slots from the same process-wide pool.
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The families the services share, registered in Registry::global(), so each name has one
// help text and one set of labels:
// rootfarm_requests_total{service,op}: requests received.
Counter requests_total(std::string_view service, std::string_view op);
// rootfarm_request_duration_seconds{service,op}: from a request's arrival to its answer.
Histogram request_duration(std::string_view service, std::string_view op);
// rootfarm_replies_total{service,op}: answers sent, by their own type (DHCP OFFER, ACK).
Counter replies_total(std::string_view service, std::string_view op);
// rootfarm_errors_total{service,status}: answers that report an error, and requests dropped as
// malformed.
Counter errors_total(std::string_view service, std::string_view status);
// rootfarm_received_bytes_total{service} and rootfarm_sent_bytes_total{service}.
Counter received_bytes(std::string_view service);
Counter sent_bytes(std::string_view service);

}  // namespace rootfarm::metrics
