#pragma once

#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace rootfarm {

// An error code and, for a failed file operation, what failed: "fdatasync <path>". The code is
// what callers branch on (NFS maps it to a status); the context is for the log. It is shared
// and allocated only when present, so a bare error code stays as cheap as before.
class Error {
  public:
    Error(std::error_code ec) : ec_(ec) {}
    Error(std::error_code ec, std::string context)
        : ec_(ec), context_(std::make_shared<const std::string>(std::move(context))) {}

    std::error_code code() const { return ec_; }
    // "" when the error carries no context.
    const std::string& context() const {
        static const std::string kNone;
        return context_ ? *context_ : kNone;
    }
    // "fdatasync /var/lib/rootfarm/clients/<mac>/journal: Input/output error", or only the
    // code's message when there is no context.
    std::string message() const {
        return context_ ? *context_ + ": " + ec_.message() : ec_.message();
    }

  private:
    std::error_code ec_;
    std::shared_ptr<const std::string> context_;
};

// A value or an error code. Run-time paths that can fail return this; exceptions are used only
// at start-up and for configuration, and are caught in main.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(std::error_code ec) : v_(std::in_place_index<1>, ec) {}
    Result(std::errc e) : v_(std::in_place_index<1>, std::make_error_code(e)) {}
    Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    // Precondition: ok().
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    std::error_code error() const { return ok() ? std::error_code{} : std::get<1>(v_).code(); }
    // The error with its context, to pass on to a Result of another type. Precondition: !ok().
    const Error& failure() const { return std::get<1>(v_); }
    // The error's full message, context included ("" if ok()).
    std::string message() const { return ok() ? std::string() : failure().message(); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() : e_(std::error_code{}) {}
    Result(std::error_code ec) : e_(ec) {}
    Result(std::errc e) : e_(std::make_error_code(e)) {}
    Result(Error e) : e_(std::move(e)) {}

    bool ok() const { return !e_.code(); }
    explicit operator bool() const { return ok(); }
    std::error_code error() const { return e_.code(); }
    const Error& failure() const { return e_; }
    std::string message() const { return ok() ? std::string() : e_.message(); }

  private:
    Error e_;
};

// The error code for an errno value (positive), e.g. errno_error(errno) or errno_error(-cqe->res).
inline std::error_code errno_error(int e) {
    return {e, std::generic_category()};
}

}  // namespace rootfarm
