#include "cli/options.h"

#include <CLI/CLI.hpp>

namespace medic::cli {

ParseOutcome parse(int argc, char** argv) {
  CLI::App app{"medic: turns AI-agent worker failures into recovery decisions", "medic"};
  app.set_version_flag("--version", std::string("medic ") + MEDIC_VERSION);
  app.require_subcommand(1);

  ScanOptions scan;
  auto* scan_cmd = app.add_subcommand("scan", "Classify log files offline");
  scan_cmd->add_option("--rules", scan.rules_dir, "Rules directory (default: the shipped rules)");
  scan_cmd->add_flag("--json", scan.json, "One JSON object per hit, one per line");
  scan_cmd->add_flag("--summary", scan.summary, "Print counts per class and per rule (to stderr with --json)");
  scan_cmd->add_option("--chunk-bytes", scan.chunk_bytes, "Read size per scan call")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->group("");  // hidden: for tests and benchmarks
  scan_cmd
      ->add_option("--threads", scan.threads,
                   "Threads per large file (default: one per core, at most 8; 1: one stream)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}));
  scan_cmd->add_flag("--mmap", scan.mmap,
                     "Map regular files instead of reading them (faster where page faults are cheap; a file "
                     "truncated during the scan then kills the process with SIGBUS)");
  scan_cmd->add_option("paths", scan.paths, "Log files; '-' reads stdin")->required();

  auto* rules_cmd = app.add_subcommand("rules", "Check, test or export rule files");
  rules_cmd->require_subcommand(1);
  RulesCheckOptions check;
  auto* check_cmd = rules_cmd->add_subcommand("check", "Validate rules; print file:line: message");
  check_cmd->add_option("dir", check.rules_dir, "Rules directory (default: the shipped rules)");
  RulesTestOptions test;
  auto* test_cmd = rules_cmd->add_subcommand("test", "Run every rule's examples");
  test_cmd->add_option("dir", test.rules_dir, "Rules directory (default: the shipped rules)");
  RulesExportOptions exp;
  auto* export_cmd = rules_cmd->add_subcommand("export", "Print the patterns for rg -f or grep -E -f");
  export_cmd->add_option("dir", exp.rules_dir, "Rules directory (default: the shipped rules)");
  export_cmd->add_option("--format", exp.format, "rg or grep")->check(CLI::IsMember({"rg", "grep"}));
  RulesProfileOptions prof;
  auto* profile_cmd =
      rules_cmd->add_subcommand("profile", "Each rule's hits and share of scan time on sample logs: [DIR] FILE...");
  profile_cmd->add_option("--rules", prof.rules_dir, "Rules directory (or give it before the files)");
  profile_cmd->add_option("--rounds", prof.rounds, "Timing rounds per rule set, best kept (default: 3)")
      ->check(CLI::Range(1, 20));
  profile_cmd->add_option("paths", prof.paths, "Sample log files (a leading directory is the rules)")->required();

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "The daemon: watch Hermes boards and logs, publish decisions");
  run_cmd->add_option("--config", run.config, "YAML config file");
  run_cmd->add_option("--hermes-root", run.hermes_root,
                      "Hermes root (default: $HERMES_KANBAN_HOME, $HERMES_HOME, ~/.hermes)");
  run_cmd->add_option("--state-dir", run.state_dir, "State directory (default: ~/.local/state/medic)");
  run_cmd->add_option("--socket", run.socket, "Socket path (default: $XDG_RUNTIME_DIR/medic.sock)");
  run_cmd->add_option("--rules", run.rules_dir, "Rules directory (default: the shipped rules)");

  SubscribeOptions sub;
  auto* sub_cmd = app.add_subcommand("subscribe", "Print the daemon's messages, one JSON line each");
  sub_cmd->add_option("--socket", sub.socket, "Socket path (default: the daemon's)");
  sub_cmd->add_option("--since", sub.since, "Replay every message after this seq first");
  sub_cmd->add_option("--count", sub.count, "Exit after this many lines");

  PreflightOptions pre;
  auto* pre_cmd = app.add_subcommand("preflight", "Check (and repair) a worker profile's Codex login");
  pre_cmd->add_option("--profile-home", pre.profile_home, "The worker profile's HOME")->required();
  pre_cmd->add_option("--main-home", pre.main_home, "The main user's HOME (default: $HOME)");
  pre_cmd->add_option("--codex", pre.codex, "The Codex CLI executable (default: codex)");
  pre_cmd->add_option("--beneath", pre.beneath,
                      "A trusted directory the profile HOME must lie beneath, reached from it without "
                      "following a link (what `medic act` passes for an {assignee} template)");

  ActOptions act;
  auto* act_cmd = app.add_subcommand("act", "Apply the daemon's decisions through Hermes's CLI");
  act_cmd->add_option("--socket", act.socket, "Socket path (default: the daemon's)");
  act_cmd->add_option("--hermes", act.hermes, "The Hermes executable (default: hermes)");
  act_cmd->add_flag("--dry-run", act.dry_run, "Print the commands instead of running them");
  act_cmd->add_option("--state-dir", act.state_dir,
                      "Where act.json and the board reports live (default: the daemon's)");
  act_cmd->add_option("--since", act.since, "Apply decisions after this seq (default: where act stopped)");
  act_cmd->add_flag("!--no-dispatch", act.dispatch,
                    "Do not run `hermes kanban dispatch` after a complete or a timed release");
  act_cmd->add_option("--command-timeout", act.command_timeout_s,
                      "Seconds a `hermes` command may run before it is killed (default: 60)");
  act_cmd->add_option("--hermes-wait", act.hermes_wait_s,
                      "Seconds a complete of a run Hermes has not ended yet waits for Hermes to end it "
                      "(default: 90, its tick and crash grace); then it is completed anyway");
  act_cmd->add_option("--parallel", act.parallel, "Tasks worked on at once (default: 4)")->check(CLI::Range(1, 64));
  act_cmd->add_option("--profile-home", act.profile_home,
                      "A worker profile's HOME, with {assignee} for the profile name: repair_auth "
                      "decisions then run `medic preflight` there");

  DemoOptions demo;
  auto* demo_cmd = app.add_subcommand("demo", "Classify a sample Hermes worker log");
  demo_cmd->add_option("--rules", demo.rules_dir, "Rules directory (default: the shipped rules)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version; every real usage error is exit code 2.
    return ParseOutcome{std::nullopt, rc == 0 ? 0 : 2};
  }

  Options options;
  if (*scan_cmd) {
    options.command = scan;
  } else if (*check_cmd) {
    options.command = check;
  } else if (*test_cmd) {
    options.command = test;
  } else if (*export_cmd) {
    options.command = exp;
  } else if (*profile_cmd) {
    options.command = prof;
  } else if (*run_cmd) {
    options.command = run;
  } else if (*sub_cmd) {
    options.command = sub;
  } else if (*pre_cmd) {
    options.command = pre;
  } else if (*act_cmd) {
    options.command = act;
  } else {
    options.command = demo;
  }
  return ParseOutcome{options, 0};
}

}  // namespace medic::cli
