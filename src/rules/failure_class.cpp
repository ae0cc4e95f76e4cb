#include "rules/failure_class.h"

namespace medic::rules {

std::string_view to_string(FailureClass c) {
  switch (c) {
    case FailureClass::RateLimit:
      return "rate_limit";
    case FailureClass::QuotaExhausted:
      return "quota_exhausted";
    case FailureClass::Overloaded:
      return "overloaded";
    case FailureClass::AuthMissing:
      return "auth_missing";
    case FailureClass::AuthExpired:
      return "auth_expired";
    case FailureClass::AuthRegion:
      return "auth_region";
    case FailureClass::AuthAuxiliary:
      return "auth_auxiliary";
    case FailureClass::Timeout:
      return "timeout";
    case FailureClass::Connection:
      return "connection";
    case FailureClass::ContextLength:
      return "context_length";
    case FailureClass::EnvMissing:
      return "env_missing";
    case FailureClass::ProtocolViolation:
      return "protocol_violation";
  }
  return "unknown";
}

std::optional<FailureClass> parse_failure_class(std::string_view name) {
  for (FailureClass c : kAllFailureClasses) {
    if (to_string(c) == name) return c;
  }
  return std::nullopt;
}

}  // namespace medic::rules
