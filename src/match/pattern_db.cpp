#include "match/pattern_db.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "core/hash.h"
#include "match/extractor_formats.h"
#include "match/field_value.h"
#include "match/matcher.h"

namespace medic::match {
namespace {

using rules::Diagnostic;
using rules::DiagnosticCode;

unsigned hs_flags(const rules::Rule& r) {
  // MULTILINE: `^` and `$` mean a line's start and end, as in the extractors, which
  // run on one line. UTF8 stays off: logs are not guaranteed valid UTF-8, and Hyperscan's
  // behaviour on invalid input in UTF8 mode is undefined.
  unsigned f = HS_FLAG_MULTILINE;
  if (r.caseless) f |= HS_FLAG_CASELESS;
  if (r.dotall) f |= HS_FLAG_DOTALL;
  return f;
}

// A clock time in a captured reset ("3:30am (Asia/Calcutta)") means the next such instant
// after the line was read.
std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

std::uint64_t PatternDb::fingerprint(const rules::RuleSet& rules) {
  // FNV-1a: stable across runs and builds, unlike std::hash.
  core::Fnv1a h;
  auto mix = [&](std::string_view s) {
    h.add(s).add_byte(0xff);  // separator, so ("ab","c") and ("a","bc") differ
  };
  mix(hs_version());
  mix(std::to_string(HS_MODE_STREAM));
  hs_platform_info_t platform{};
  if (hs_populate_platform(&platform) == HS_SUCCESS) {
    mix(std::to_string(platform.tune) + "/" + std::to_string(platform.cpu_features));
  }
  for (std::size_t i = 0; i < rules.rules.size(); ++i) {
    mix(rules.rules[i].pattern);
    mix(std::to_string(hs_flags(rules.rules[i])) + ":" + std::to_string(i));
  }
  return h.value();
}

std::string PatternDb::serialized() const {
  char* bytes = nullptr;
  std::size_t length = 0;
  if (hs_serialize_database(db_.get(), &bytes, &length) != HS_SUCCESS) return {};
  std::string out(bytes, length);
  std::free(bytes);  // allocated by Hyperscan's misc allocator, malloc by default
  return out;
}

PatternDb::CompileResult PatternDb::compile(rules::RuleSet rules, std::string_view cached) {
  CompileResult result;
  auto& diags = result.diagnostics;
  std::unique_ptr<PatternDb> db(new PatternDb());
  db->extractors_.resize(rules.rules.size());

  // A cached database of the same rule set: it was validated when it was written.
  if (!cached.empty() && !rules.rules.empty()) {
    hs_database_t* raw = nullptr;
    if (hs_deserialize_database(cached.data(), cached.size(), &raw) == HS_SUCCESS) {
      db->db_.reset(raw);
      // A database built for another CPU fails here (HS_DB_PLATFORM_ERROR): compile.
      hs_scratch_t* probe = nullptr;
      if (hs_alloc_scratch(raw, &probe) == HS_SUCCESS) {
        hs_free_scratch(probe);
        db->from_cache_ = true;
      } else {
        db->db_.reset();
      }
    }
  }

  std::vector<const char*> expressions;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  std::unordered_map<std::string, const pcre2_code*> compiled;  // expanded text -> regexes_
  for (std::size_t i = 0; i < rules.rules.size(); ++i) {
    const rules::Rule& r = rules.rules[i];
    // Validate each pattern on its own: hs_compile_multi stops at the first bad one.
    hs_expr_info_t* info_raw = nullptr;
    hs_compile_error_t* err_raw = nullptr;
    if (db->from_cache_) {
      // validated when the cache was written
    } else if (hs_expression_info(r.pattern.c_str(), hs_flags(r), &info_raw, &err_raw) != HS_SUCCESS) {
      HsCompileErrorPtr err(err_raw);
      diags.push_back(
          Diagnostic{r.pattern_where, DiagnosticCode::PatternRejected,
                     "rule '" + r.id + "': Hyperscan rejects the pattern: " + (err ? err->message : "unknown error")});
    } else {
      HsExprInfoPtr info(info_raw);
      if (info->min_width == 0) {
        diags.push_back(Diagnostic{r.pattern_where, DiagnosticCode::PatternRejected,
                                   "rule '" + r.id + "': the pattern can match an empty string"});
      }
    }
    expressions.push_back(r.pattern.c_str());
    flags.push_back(hs_flags(r));
    ids.push_back(static_cast<unsigned>(i));

    for (const rules::Extractor& ex : r.extract) {
      CompiledExtractor ce{ex.field, {}};
      for (std::size_t k = 0; k < ex.patterns.size(); ++k) {
        std::string expanded = expand_extractor(ex.patterns[k]);
        if (auto seen = compiled.find(expanded); seen != compiled.end()) {
          ce.patterns.push_back(seen->second);
          continue;
        }
        int code = 0;
        PCRE2_SIZE offset = 0;
        Pcre2CodePtr re(
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.c_str()), expanded.size(), 0, &code, &offset, nullptr));
        if (!re) {
          diags.push_back(Diagnostic{ex.where[k], DiagnosticCode::ExtractorRejected,
                                     "rule '" + r.id + "': extractor '" + ex.field + "': PCRE2 rejects it at offset " +
                                         std::to_string(offset) + ": " + pcre2_message(code)});
          continue;
        }
        // JIT is optional: when it is unavailable pcre2_match interprets the pattern.
        pcre2_jit_compile(re.get(), PCRE2_JIT_COMPLETE);
        ce.patterns.push_back(re.get());
        compiled.emplace(std::move(expanded), re.get());
        db->regexes_.push_back(std::move(re));
      }
      db->extractors_[i].push_back(std::move(ce));
    }
  }
  if (!diags.empty()) return result;
  if (db->from_cache_) {
    db->rules_ = std::move(rules);
    result.db = std::move(db);
    return result;
  }
  if (rules.rules.empty()) {
    Diagnostic d;
    d.code = DiagnosticCode::MissingKey;
    d.message = "the rule set holds no rules";
    diags.push_back(std::move(d));
    return result;
  }

  hs_database_t* raw = nullptr;
  hs_compile_error_t* err_raw = nullptr;
  const hs_error_t rc =
      hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(expressions.size()),
                       HS_MODE_STREAM, nullptr, &raw, &err_raw);
  if (rc != HS_SUCCESS) {
    HsCompileErrorPtr err(err_raw);
    rules::SourceLocation where;
    std::string who = "rule set";
    if (err && err->expression >= 0 && static_cast<std::size_t>(err->expression) < rules.rules.size()) {
      where = rules.rules[static_cast<std::size_t>(err->expression)].pattern_where;
      who = "rule '" + rules.rules[static_cast<std::size_t>(err->expression)].id + "'";
    }
    diags.push_back(Diagnostic{where, DiagnosticCode::PatternRejected,
                               who + ": Hyperscan compile failed: " + (err ? err->message : "unknown error")});
    return result;
  }
  db->db_.reset(raw);
  db->rules_ = std::move(rules);
  result.db = std::move(db);
  return result;
}

std::size_t PatternDb::database_bytes() const {
  std::size_t n = 0;
  hs_database_size(db_.get(), &n);
  return n;
}

std::size_t PatternDb::stream_state_bytes() const {
  std::size_t n = 0;
  hs_stream_size(db_.get(), &n);
  return n;
}

void PatternDb::extract(std::uint32_t index, std::string_view line, Matcher& matcher, Fields& out) const {
  pcre2_match_data* md = matcher.match_data();
  for (const CompiledExtractor& ex : extractors_[index]) {
    for (const pcre2_code* re : ex.patterns) {
      const int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, md, nullptr);
      if (rc <= 0) continue;  // no match (or an error such as a match limit): next pattern
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      // The first capture group that took part, else the whole match.
      std::size_t group = 0;
      for (int g = 1; g < rc; ++g) {
        if (ov[2 * g] != PCRE2_UNSET) {
          group = static_cast<std::size_t>(g);
          break;
        }
      }
      const std::string_view captured = line.substr(ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
      // Only a reset time reads the clock (a clock time means its next instant).
      if (auto value = convert_field(ex.field, captured, ex.field == "resets_at" ? now_s() : 0)) {
        out.push_back(Field{ex.field, std::move(*value)});
        break;
      }
    }
  }
}

}  // namespace medic::match
