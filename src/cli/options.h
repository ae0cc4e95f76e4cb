#pragma once
// Command-line options as plain values. cli/options.cpp is the only includer of CLI11
// (it is slow to compile); everything else sees these structs.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace medic::cli {

struct ScanOptions {
  std::optional<std::string> rules_dir;
  bool json = false;
  bool summary = false;
  std::size_t chunk_bytes = 256 << 10;
  std::size_t threads = 0;  // 0: one per core (at most 8)
  bool mmap = false;        // map regular files instead of reading them
  std::vector<std::string> paths;
};

struct RulesCheckOptions {
  std::optional<std::string> rules_dir;
};

struct RulesTestOptions {
  std::optional<std::string> rules_dir;
};

struct RulesExportOptions {
  std::optional<std::string> rules_dir;
  std::string format = "rg";
};

struct RulesProfileOptions {
  std::optional<std::string> rules_dir;  // --rules, or a leading directory in paths
  std::vector<std::string> paths;
  int rounds = 3;
};

struct DemoOptions {
  std::optional<std::string> rules_dir;
};

struct RunOptions {
  std::optional<std::string> config;
  std::optional<std::string> hermes_root;
  std::optional<std::string> state_dir;
  std::optional<std::string> socket;
  std::optional<std::string> rules_dir;
};

struct SubscribeOptions {
  std::optional<std::string> socket;
  std::optional<std::uint64_t> since;
  std::optional<std::uint64_t> count;  // exit after this many lines (scripts, tests)
};

struct PreflightOptions {
  std::string profile_home;
  std::optional<std::string> main_home;  // default: $HOME
  std::string codex = "codex";
  std::optional<std::string> beneath;  // the profile HOME must lie beneath it, link-free
};

struct ActOptions {
  std::optional<std::string> socket;
  std::string hermes = "hermes";
  bool dry_run = false;
  std::optional<std::string> state_dir;  // act.json and the board-wide reports
  std::optional<std::uint64_t> since;    // default: where it stopped (first start: now)
  std::string profile_home;              // "{assignee}" template: run the auth preflight
  bool dispatch = true;                  // one dispatcher pass after a complete or a release
  std::uint64_t command_timeout_s = 60;  // a `hermes` call running longer is killed
  std::size_t parallel = 4;              // tasks worked on at once (one command at a time each)
  // How long a complete of a run Hermes has not ended waits for Hermes's word on it: its
  // dispatcher's tick (60 s) plus its crash grace (30 s), as the daemon waits for it.
  std::uint64_t hermes_wait_s = 90;
};

using Command = std::variant<ScanOptions, RulesCheckOptions, RulesTestOptions, RulesExportOptions, RulesProfileOptions,
                             DemoOptions, RunOptions, SubscribeOptions, PreflightOptions, ActOptions>;

struct Options {
  Command command;
};

/// Either options to run, or an exit code after CLI11 printed help, a version or a
/// usage error (2).
struct ParseOutcome {
  std::optional<Options> options;
  int exit_code = 0;
};

ParseOutcome parse(int argc, char** argv);

}  // namespace medic::cli
