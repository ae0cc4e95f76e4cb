#include "rules/pattern_export.h"

#include <cctype>
#include <cstdio>

namespace medic::rules {
namespace {

bool is_ere_special(char c) {
  switch (c) {
    case '.':
    case '[':
    case ']':
    case '(':
    case ')':
    case '*':
    case '+':
    case '?':
    case '{':
    case '}':
    case '|':
    case '^':
    case '$':
    case '\\':
      return true;
    default:
      return false;
  }
}

// Both cases of an ASCII letter, for caseless ERE.
std::string both_cases(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (!std::isalpha(u)) return std::string(1, c);
  return std::string("[") + static_cast<char>(std::tolower(u)) + static_cast<char>(std::toupper(u)) + "]";
}

std::optional<std::string> to_grep_ere(const std::string& pattern, bool caseless) {
  // grep matches line by line, so "any byte but a newline" is simply '.'.
  std::string p = pattern;
  for (std::size_t at = p.find("[^\\n]"); at != std::string::npos; at = p.find("[^\\n]", at)) {
    p.replace(at, 5, ".");
  }
  std::string out;
  bool in_class = false;
  std::string class_extra;  // other-case letters to add before a class closes
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      const char* repl = nullptr;
      switch (e) {
        case 'd':
          repl = in_class ? "0-9" : "[0-9]";
          break;
        case 'D':
          if (in_class) return std::nullopt;
          repl = "[^0-9]";
          break;
        case 's':
          repl = in_class ? "[:space:]" : "[[:space:]]";
          break;
        case 'S':
          if (in_class) return std::nullopt;
          repl = "[^[:space:]]";
          break;
        case 'w':
          repl = in_class ? "[:alnum:]_" : "[[:alnum:]_]";
          break;
        case 'W':
          if (in_class) return std::nullopt;
          repl = "[^[:alnum:]_]";
          break;
        case 'b':
          if (in_class) return std::nullopt;
          repl = "\\b";
          break;
        case 'n':
          // grep never sees a newline: inside a class ([^'"\n]) it can go; outside, the
          // pattern could never match a line.
          if (!in_class) return std::nullopt;
          repl = "";
          break;
        case 'r':
        case 't':
          return std::nullopt;  // no escape for them in ERE
        default:
          break;
      }
      if (repl) {
        out += repl;
      } else if (in_class) {
        // Inside brackets a backslash is literal in POSIX; keep only the character,
        // placing ']' and '\\' where brackets accept them is beyond our rules' needs.
        if (e == ']' || e == '\\' || e == '^' || e == '-') return std::nullopt;
        out += e;
      } else if (is_ere_special(e)) {
        out += '\\';
        out += e;
      } else if (std::isalnum(static_cast<unsigned char>(e))) {
        return std::nullopt;  // \A, \z, \x41 …: not expressible here
      } else {
        out += caseless ? both_cases(e) : std::string(1, e);
      }
      continue;
    }
    if (in_class) {
      // A ']' first in the class was taken when the class opened, so this one closes it
      // (even after an escaped '[', which the output holds as a bare '[').
      if (c == ']') {
        out += class_extra;
        class_extra.clear();
        in_class = false;
        out += c;
        continue;
      }
      if (caseless && std::isalpha(static_cast<unsigned char>(c))) {
        const auto u = static_cast<unsigned char>(c);
        const char other = std::islower(u) ? static_cast<char>(std::toupper(u)) : static_cast<char>(std::tolower(u));
        // a range a-z gains A-Z
        if (i + 2 < p.size() && p[i + 1] == '-' && std::isalpha(static_cast<unsigned char>(p[i + 2]))) {
          const auto v = static_cast<unsigned char>(p[i + 2]);
          const char other_end =
              std::islower(v) ? static_cast<char>(std::toupper(v)) : static_cast<char>(std::tolower(v));
          class_extra += std::string(1, other) + "-" + other_end;
          out += p.substr(i, 3);
          i += 2;
          continue;
        }
        class_extra += other;
      }
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == '(' && i + 2 < p.size() && p[i + 1] == '?') {
      if (p[i + 2] != ':') return std::nullopt;  // lookaround, inline flags, named groups
      out += '(';
      i += 2;
      continue;
    }
    if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < p.size() && p[i + 1] == '?') {
      out += c;  // a lazy quantifier matches the same lines as a greedy one
      ++i;
      continue;
    }
    out += caseless ? both_cases(c) : std::string(1, c);
  }
  if (in_class) return std::nullopt;
  return out;
}

}  // namespace

std::optional<ExportFormat> parse_export_format(std::string_view name) {
  if (name == "rg") return ExportFormat::Rg;
  if (name == "grep") return ExportFormat::GrepEre;
  return std::nullopt;
}

std::optional<std::string> export_pattern(const Rule& rule, ExportFormat format) {
  if (rule.dotall) return std::nullopt;
  switch (format) {
    case ExportFormat::Rg: {
      // Byte mode, as Hyperscan matches: a non-ASCII literal (a rule's Chinese or
      // Cyrillic words) is written as its UTF-8 bytes, which is what rg accepts there.
      std::string p = rule.caseless ? "(?i-u:" : "(?-u:";
      for (const char c : rule.pattern) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x80) {
          p += c;
          continue;
        }
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\x%02X", b);
        p += esc;
      }
      return p + ")";
    }
    case ExportFormat::GrepEre:
      return to_grep_ere(rule.pattern, rule.caseless);
  }
  return std::nullopt;
}

}  // namespace medic::rules
