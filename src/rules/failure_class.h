#pragma once
// The failure classes of DESIGN.md §4. A rule either names one of them or is a context
// rule (no class) that only extracts fields such as provider and model.

#include <array>
#include <optional>
#include <string_view>

namespace medic::rules {

enum class FailureClass {
  RateLimit,
  QuotaExhausted,
  Overloaded,
  AuthMissing,
  AuthExpired,
  AuthRegion,
  AuthAuxiliary,
  Timeout,
  Connection,
  ContextLength,
  EnvMissing,
  ProtocolViolation,
};

inline constexpr std::array kAllFailureClasses = {
    FailureClass::RateLimit,     FailureClass::QuotaExhausted, FailureClass::Overloaded,
    FailureClass::AuthMissing,   FailureClass::AuthExpired,    FailureClass::AuthRegion,
    FailureClass::AuthAuxiliary, FailureClass::Timeout,        FailureClass::Connection,
    FailureClass::ContextLength, FailureClass::EnvMissing,     FailureClass::ProtocolViolation,
};

/// The snake_case name used in rule files and on the wire ("rate_limit").
std::string_view to_string(FailureClass c);
std::optional<FailureClass> parse_failure_class(std::string_view name);

}  // namespace medic::rules
