#pragma once
// A rule set compiled for scanning: one Hyperscan stream-mode database holding every rule's
// pattern (Hyperscan id = the rule's index, as Suricata maps ids back to rules) and each
// rule's PCRE2 extractors. Immutable after compile, so one PatternDb may be read by the
// loop thread while a reload compiles the next one elsewhere.

#include <memory>
#include <string_view>
#include <vector>

#include "match/hit.h"
#include "match/hs_ptr.h"
#include "rules/diagnostic.h"
#include "rules/rule.h"

namespace medic::match {

class Matcher;

class PatternDb {
 public:
  struct CompileResult {
    std::unique_ptr<PatternDb> db;  // null when diagnostics is non-empty
    rules::Diagnostics diagnostics;
  };

  /// Validates every pattern and extractor (collecting all diagnostics with file:line),
  /// then builds the database. Takes seconds for large sets: call it off the loop thread.
  ///
  /// `cached` may hold a database that serialized() wrote for a rule set with the same
  /// fingerprint(); when it deserializes on this CPU, pattern validation and the
  /// Hyperscan compile (most of the time) are skipped. Anything else is ignored.
  static CompileResult compile(rules::RuleSet rules, std::string_view cached = {});

  /// A hash of everything the Hyperscan database depends on: the Hyperscan version and
  /// each rule's pattern, flags and index. Equal fingerprints mean an equal database.
  static std::uint64_t fingerprint(const rules::RuleSet& rules);

  /// The database in Hyperscan's serialized form (for a cache), or empty on failure.
  std::string serialized() const;
  /// Whether compile() reused the cached database instead of compiling.
  bool from_cache() const { return from_cache_; }

  const rules::RuleSet& rules() const { return rules_; }
  const rules::Rule& rule(std::uint32_t index) const { return rules_.rules[index]; }
  const hs_database_t* hs() const { return db_.get(); }
  std::size_t database_bytes() const;
  std::size_t stream_state_bytes() const;

  /// Runs rule `index`'s extractors on one line and appends the typed fields found.
  void extract(std::uint32_t index, std::string_view line, Matcher& matcher, Fields& out) const;

 private:
  struct CompiledExtractor {
    std::string field;
    std::vector<const pcre2_code*> patterns;  // owned by regexes_
  };

  PatternDb() = default;

  rules::RuleSet rules_;
  HsDatabasePtr db_;
  bool from_cache_ = false;
  std::vector<std::vector<CompiledExtractor>> extractors_;  // per rule
  // Each distinct extractor pattern compiled (and JIT-compiled) once: rules share whole
  // blocks of them through YAML anchors, and the JIT compile dominates start-up.
  std::vector<Pcre2CodePtr> regexes_;
};

}  // namespace medic::match
