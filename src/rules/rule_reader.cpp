#include "rules/rule_reader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <unordered_map>

namespace medic::rules {

std::uint64_t largest_repeat(std::string_view pattern) {
  std::uint64_t largest = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;  // an escaped character, whatever it is
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') ++i;  // "[]...]": a literal ]
      continue;
    }
    if (c != '{') continue;
    // {n}, {n,}, {m,n}: numbers only, else a literal brace.
    std::size_t j = i + 1;
    std::uint64_t a = 0, b = 0;
    bool digits = false, comma = false;
    for (; j < pattern.size() && j < i + 24; ++j) {
      const char d = pattern[j];
      if (d >= '0' && d <= '9') {
        std::uint64_t& n = comma ? b : a;
        n = std::min<std::uint64_t>(n * 10 + static_cast<std::uint64_t>(d - '0'), 1u << 30);
        digits = true;
      } else if (d == ',' && !comma) {
        comma = true;
      } else {
        break;
      }
    }
    if (digits && j < pattern.size() && pattern[j] == '}') largest = std::max({largest, a, b});
  }
  return largest;
}

namespace {

constexpr std::string_view kRuleKeys[] = {"id",    "class",    "context", "description", "pattern",
                                          "flags", "priority", "extract", "examples"};
constexpr std::string_view kExampleKeys[] = {"match", "no_match"};
constexpr std::string_view kExampleItemKeys[] = {"text", "fields"};
constexpr int kMinPriority = 0;
constexpr int kMaxPriority = 1000;

bool contains(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok_first(id.front())) return false;
  return std::all_of(id.begin(), id.end(), [&](char c) { return ok_first(c) || c == '-' || c == '_' || c == '.'; });
}

// Reads one file's rules; yaml-cpp reports errors by exception, which stops here.
class FileReader {
 public:
  FileReader(const RuleSource& source, Diagnostics& diags) : source_(source), diags_(diags) {}

  std::vector<Rule> read() {
    YAML::Node root;
    try {
      root = YAML::Load(source_.text);
    } catch (const YAML::Exception& e) {
      add(e.mark, DiagnosticCode::YamlParse, "YAML error: " + e.msg);
      return {};
    }
    std::vector<Rule> out;
    if (!root || root.IsNull()) return out;  // an empty file is allowed
    if (!root.IsSequence()) {
      add(root.Mark(), DiagnosticCode::BadShape, "a rule file must be a YAML list of rules");
      return out;
    }
    for (const auto& node : root) {
      const std::size_t before = diags_.size();
      Rule rule = read_rule(node);
      if (diags_.size() == before) out.push_back(std::move(rule));
    }
    return out;
  }

 private:
  SourceLocation at(const YAML::Mark& m) const {
    // yaml-cpp marks are 0-based; a null mark (-1) means "unknown".
    return SourceLocation{source_.path, m.line >= 0 ? m.line + 1 : 0, m.column >= 0 ? m.column + 1 : 0};
  }

  void add(const YAML::Mark& m, DiagnosticCode code, std::string message) {
    diags_.push_back(Diagnostic{at(m), code, std::move(message)});
  }

  bool scalar(const YAML::Node& n, std::string_view what, std::string& out) {
    if (!n.IsScalar()) {
      add(n.Mark(), DiagnosticCode::BadShape, std::string(what) + " must be a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  std::string rule_label(const Rule& r) const { return r.id.empty() ? std::string("rule") : "rule '" + r.id + "'"; }

  Rule read_rule(const YAML::Node& node) {
    Rule rule;
    rule.where = at(node.Mark());
    if (!node.IsMap()) {
      add(node.Mark(), DiagnosticCode::BadShape, "a rule must be a map with id, class, pattern");
      return rule;
    }
    // Read the id first so that every later message can name the rule.
    if (auto id = node["id"]; id) {
      if (scalar(id, "id", rule.id) && !valid_id(rule.id)) {
        add(id.Mark(), DiagnosticCode::BadValue,
            "rule id '" + rule.id + "' must be lower-case letters, digits, '-', '_' or '.'");
      }
    } else {
      add(node.Mark(), DiagnosticCode::MissingKey, "rule has no 'id'");
    }
    const std::string label = rule_label(rule);

    bool context = false;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& value = kv.second;
      if (!contains(kRuleKeys, key)) {
        add(kv.first.Mark(), DiagnosticCode::UnknownKey,
            label + ": unknown key '" + key +
                "' (expected id, class, context, description, pattern, flags, priority, "
                "extract, examples)");
      } else if (key == "class") {
        std::string name;
        if (!scalar(value, "class", name)) continue;
        if (auto c = parse_failure_class(name)) {
          rule.failure_class = c;
        } else {
          std::string known;
          for (FailureClass k : kAllFailureClasses) {
            if (!known.empty()) known += ", ";
            known += to_string(k);
          }
          add(value.Mark(), DiagnosticCode::UnknownClass,
              label + ": unknown class '" + name + "' (known: " + known + ")");
        }
      } else if (key == "context") {
        if (!value.IsScalar() || (value.Scalar() != "true" && value.Scalar() != "false")) {
          add(value.Mark(), DiagnosticCode::BadValue, label + ": context must be true or false");
        } else {
          context = value.Scalar() == "true";
        }
      } else if (key == "description") {
        std::string ignored;
        scalar(value, "description", ignored);
      } else if (key == "pattern") {
        if (scalar(value, "pattern", rule.pattern)) {
          rule.pattern_where = at(value.Mark());
          if (rule.pattern.empty()) {
            add(value.Mark(), DiagnosticCode::BadValue, label + ": pattern is empty");
          } else if (auto big = largest_repeat(rule.pattern); big > kMaxRepeat) {
            // Hyperscan unrolls counted repeats: three rules with {0,30000} took 31 s and
            // 418 MB to compile (issue 11). Refused here, before any compile.
            add(value.Mark(), DiagnosticCode::BadValue,
                label + ": a counted repeat of " + std::to_string(big) + " (the limit is " +
                    std::to_string(kMaxRepeat) + "): it would take minutes and hundreds of MB to compile; use + or *");
          }
        }
      } else if (key == "flags") {
        read_flags(value, rule, label);
      } else if (key == "priority") {
        read_priority(value, rule, label);
      } else if (key == "extract") {
        read_extract(value, rule, label);
      } else if (key == "examples") {
        read_examples(value, rule, label);
      }
    }
    if (!node["pattern"]) {
      add(node.Mark(), DiagnosticCode::MissingKey, label + " has no 'pattern'");
    }
    if (context && rule.failure_class) {
      add(node.Mark(), DiagnosticCode::BadValue, label + ": a context rule (context: true) takes no class");
    } else if (!context && !rule.failure_class && !node["class"]) {
      add(node.Mark(), DiagnosticCode::MissingKey,
          label + " has no 'class' (write 'context: true' for a rule that only extracts fields)");
    }
    if (context && rule.extract.empty()) {
      add(node.Mark(), DiagnosticCode::MissingKey, label + ": a context rule needs 'extract' (it only sets fields)");
    }
    return rule;
  }

  void read_flags(const YAML::Node& value, Rule& rule, const std::string& label) {
    if (!value.IsSequence()) {
      add(value.Mark(), DiagnosticCode::BadShape, label + ": flags must be a list");
      return;
    }
    for (const auto& f : value) {
      std::string name;
      if (!scalar(f, "a flag", name)) continue;
      if (name == "caseless") {
        rule.caseless = true;
      } else if (name == "dotall") {
        rule.dotall = true;
      } else {
        add(f.Mark(), DiagnosticCode::UnknownFlag,
            label + ": unknown flag '" + name + "' (supported: caseless, dotall)");
      }
    }
  }

  void read_priority(const YAML::Node& value, Rule& rule, const std::string& label) {
    std::string text;
    if (!scalar(value, "priority", text)) return;
    int p = 0;
    bool ok = false;
    try {
      p = value.as<int>();
      ok = true;
    } catch (const YAML::Exception&) {
    }
    if (!ok || p < kMinPriority || p > kMaxPriority) {
      add(value.Mark(), DiagnosticCode::BadValue,
          label + ": priority '" + text + "' must be an integer from 0 to 1000");
      return;
    }
    rule.priority = p;
  }

  void read_extract(const YAML::Node& value, Rule& rule, const std::string& label) {
    if (!value.IsMap()) {
      add(value.Mark(), DiagnosticCode::BadShape, label + ": extract must map field names to PCRE2 patterns");
      return;
    }
    for (const auto& kv : value) {
      Extractor ex;
      ex.field = kv.first.Scalar();
      if (!valid_id(ex.field)) {
        add(kv.first.Mark(), DiagnosticCode::BadValue,
            label + ": field name '" + ex.field + "' must be lower-case letters, digits or '_'");
        continue;
      }
      auto take = [&](const YAML::Node& p) {
        std::string text;
        if (scalar(p, "an extractor", text)) {
          ex.patterns.push_back(std::move(text));
          ex.where.push_back(at(p.Mark()));
        }
      };
      if (kv.second.IsSequence()) {
        for (const auto& p : kv.second) take(p);
      } else {
        take(kv.second);
      }
      if (ex.patterns.empty()) {
        add(kv.second.Mark(), DiagnosticCode::BadValue, label + ": field '" + ex.field + "' has no pattern");
        continue;
      }
      rule.extract.push_back(std::move(ex));
    }
  }

  void read_examples(const YAML::Node& value, Rule& rule, const std::string& label) {
    if (!value.IsMap()) {
      add(value.Mark(), DiagnosticCode::BadShape,
          label + ": examples must be a map with 'match' and/or 'no_match' lists");
      return;
    }
    for (const auto& kv : value) {
      const std::string key = kv.first.Scalar();
      if (!contains(kExampleKeys, key)) {
        add(kv.first.Mark(), DiagnosticCode::UnknownKey,
            label + ": unknown examples key '" + key + "' (expected match, no_match)");
        continue;
      }
      if (!kv.second.IsSequence()) {
        add(kv.second.Mark(), DiagnosticCode::BadShape, label + ": examples." + key + " must be a list");
        continue;
      }
      auto& into = key == "match" ? rule.match_examples : rule.no_match_examples;
      for (const auto& item : kv.second) {
        if (auto ex = read_example(item, key == "match", label)) into.push_back(std::move(*ex));
      }
    }
  }

  std::optional<Example> read_example(const YAML::Node& item, bool match, const std::string& label) {
    Example ex;
    ex.where = at(item.Mark());
    if (item.IsScalar()) {
      ex.text = item.Scalar();
      return ex;
    }
    if (!item.IsMap() || !match) {
      add(item.Mark(), DiagnosticCode::BadShape,
          label + (match ? ": an example must be a string or a map with text and fields"
                         : ": a no_match example must be a string"));
      return std::nullopt;
    }
    for (const auto& kv : item) {
      const std::string key = kv.first.Scalar();
      if (!contains(kExampleItemKeys, key)) {
        add(kv.first.Mark(), DiagnosticCode::UnknownKey,
            label + ": unknown example key '" + key + "' (expected text, fields)");
        return std::nullopt;
      }
    }
    if (!item["text"] || !scalar(item["text"], "example text", ex.text)) {
      if (!item["text"]) add(item.Mark(), DiagnosticCode::MissingKey, label + ": example has no 'text'");
      return std::nullopt;
    }
    if (auto fields = item["fields"]) {
      if (!fields.IsMap()) {
        add(fields.Mark(), DiagnosticCode::BadShape, label + ": example fields must be a map");
        return std::nullopt;
      }
      for (const auto& kv : fields) {
        std::string v;
        if (!scalar(kv.second, "an example field value", v)) return std::nullopt;
        ex.fields.emplace_back(kv.first.Scalar(), std::move(v));
      }
    }
    return ex;
  }

  const RuleSource& source_;
  Diagnostics& diags_;
};

}  // namespace

ReadResult read_rules(std::span<const RuleSource> sources) {
  ReadResult result;
  std::unordered_map<std::string, SourceLocation> seen;
  for (const RuleSource& source : sources) {
    FileReader reader(source, result.diagnostics);
    for (Rule& rule : reader.read()) {
      auto [it, inserted] = seen.emplace(rule.id, rule.where);
      if (!inserted) {
        result.diagnostics.push_back(Diagnostic{rule.where, DiagnosticCode::DuplicateId,
                                                "duplicate rule id '" + rule.id + "' (first defined at " +
                                                    it->second.file + ":" + std::to_string(it->second.line) + ")"});
        continue;
      }
      result.rules.rules.push_back(std::move(rule));
    }
  }
  return result;
}

}  // namespace medic::rules
