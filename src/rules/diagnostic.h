#pragma once
// A problem found while loading rules, with its place in the source (Falco's load_result
// model): every stage appends to one list, so `medic rules check` shows all of them at once.

#include <string>
#include <vector>

namespace medic::rules {

/// A place in a rule file; line and column are 1-based (0 when unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

enum class DiagnosticCode {
  YamlParse,          ///< the file is not valid YAML
  BadShape,           ///< a node has the wrong type (map expected, string expected, ...)
  UnknownKey,         ///< a key this format does not define
  MissingKey,         ///< a required key is absent
  DuplicateId,        ///< two rules share an id
  UnknownClass,       ///< `class:` names no failure class
  UnknownFlag,        ///< `flags:` holds a flag medic does not support
  BadValue,           ///< a value is out of range or malformed (priority, id)
  PatternRejected,    ///< Hyperscan refused the pattern
  ExtractorRejected,  ///< PCRE2 refused an extractor
  Io,                 ///< a rule file or directory could not be read
};

struct Diagnostic {
  SourceLocation where;
  DiagnosticCode code = DiagnosticCode::BadValue;
  std::string message;
};

using Diagnostics = std::vector<Diagnostic>;

/// Builds a diagnostic (out of line: GCC 12 warns falsely about nested aggregate
/// initialisation of the strings).
Diagnostic make_diagnostic(SourceLocation where, DiagnosticCode code, std::string message);

/// "file:line: message" (or "file: message" without a line), the format of every
/// rule error medic prints.
std::string format(const Diagnostic& d);

}  // namespace medic::rules
