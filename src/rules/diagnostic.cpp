#include "rules/diagnostic.h"

namespace medic::rules {

Diagnostic make_diagnostic(SourceLocation where, DiagnosticCode code, std::string message) {
  Diagnostic d;
  d.where = std::move(where);
  d.code = code;
  d.message = std::move(message);
  return d;
}

std::string format(const Diagnostic& d) {
  std::string out = d.where.file;
  if (d.where.line > 0) {
    out += ':';
    out += std::to_string(d.where.line);
  }
  out += ": ";
  out += d.message;
  return out;
}

}  // namespace medic::rules
