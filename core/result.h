#pragma once

#include <cerrno>
#include <system_error>
#include <utility>
#include <variant>

namespace rootfarm {

// A value or an error code. Run-time paths that can fail return this; exceptions are used only
// at start-up and for configuration, and are caught in main.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(std::error_code ec) : v_(std::in_place_index<1>, ec) {}
    Result(std::errc e) : v_(std::in_place_index<1>, std::make_error_code(e)) {}

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

    std::error_code error() const { return ok() ? std::error_code{} : std::get<1>(v_); }

  private:
    std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(std::error_code ec) : ec_(ec) {}
    Result(std::errc e) : ec_(std::make_error_code(e)) {}

    bool ok() const { return !ec_; }
    explicit operator bool() const { return ok(); }
    std::error_code error() const { return ec_; }

  private:
    std::error_code ec_;
};

// The error code for an errno value (positive), e.g. errno_error(errno) or errno_error(-cqe->res).
inline std::error_code errno_error(int e) {
    return {e, std::generic_category()};
}

}  // namespace rootfarm
