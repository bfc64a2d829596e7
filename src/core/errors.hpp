// Exceptions the core throws. The glue maps each to a SQLSTATE, with the
// hint and detail carried along: ArgumentError (an std::invalid_argument) ->
// 22023 invalid_parameter_value; RangeError (an std::range_error) -> 22003
// numeric_value_out_of_range; Interrupted -> the pending cancel.
#pragma once
#include "cpp_only.hpp"

#include <stdexcept>
#include <string>

namespace normalize::core {

template <typename Base>
class HintedError : public Base {
public:
    HintedError(const std::string& message, std::string hint, std::string detail = std::string())
        : Base(message), hint_(std::move(hint)), detail_(std::move(detail)) {}
    const std::string& hint() const noexcept { return hint_; }
    const std::string& detail() const noexcept { return detail_; }

private:
    std::string hint_;
    std::string detail_;
};

// An argument the function cannot take.
class ArgumentError : public HintedError<std::invalid_argument> {
public:
    using HintedError::HintedError;
};

// A result that exists, but that double precision (or Boost.Math, which
// gives up on some arguments) cannot deliver.
class RangeError : public HintedError<std::range_error> {
public:
    using HintedError::HintedError;
};

// Thrown by long core loops when the host asks them to stop (query cancel,
// statement_timeout). Carries no message: the host reports its own.
class Interrupted : public std::exception {
public:
    const char* what() const noexcept override { return "interrupted"; }
};

// The host's "should I stop?" probe. It must not throw or longjmp.
using InterruptCheck = bool (*)();

inline void poll_interrupt(InterruptCheck check) {
    if (check != nullptr && check())
        throw Interrupted();
}

// Formats a double the way Postgres prints float8 (NaN, Infinity), so that
// messages quote the value the user passed.
std::string format_number(double value);

}  // namespace normalize::core
