#pragma once
// `medic run`: the daemon (DESIGN.md §2). One libuv loop thread watches the Hermes root's
// boards and worker logs, tails every log through a Hyperscan stream, reads each board's
// task_events after its cursor, and when a worker exits (its log's exit trailer or a
// Hermes exit event, whichever comes first) decides once per run and publishes the
// decision on the Unix socket. Rule reloads compile on the threadpool and swap on the
// loop. State (offsets by file identity, cursors, engine state, in-flight evidence) is
// checkpointed, so a restart misses nothing and repeats nothing.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "artifacts/acceptance.h"
#include "core/result.h"
#include "publish/journal.h"
#include "rules/policy.h"

namespace medic::app {

struct DaemonOptions {
  std::string hermes_root;
  std::string state_dir;
  std::string socket_path;
  std::optional<std::string> rules_dir;
  std::size_t max_client_queue_bytes = 4u << 20;
  rules::Policy policy = rules::Policy::defaults();
  std::vector<artifacts::AcceptanceRule> acceptance;  // first match wins; else DESIGN 5's default
  // Where task workspaces may lie (artifacts::WorkspaceRoots); the config resolves the
  // default (WorkspaceRoots::defaults) when none is configured.
  std::vector<std::string> workspace_roots;
  // A pid death with no exit status to read and no failure in its log waits this long for
  // Hermes's run-ending event (Hermes's 60 s tick plus its 30 s crash grace).
  std::int64_t exit_event_wait_s = 90;
  // Hermes's dispatcher failure limit (kanban.failure_limit; DEFAULT_FAILURE_LIMIT = 2),
  // for predicting its breaker when a task sets no max_retries.
  int hermes_failure_limit = 2;
  // A task at rest (its run over and decided or finished, nothing waiting) is forgotten
  // after this long without news, and at most max_tasks_at_rest are kept (the longest idle
  // go first, none ended less than 10 min ago): memory and the checkpoint follow the
  // tasks of the last day, not of every day. What was decided stays in the journal.
  std::int64_t forget_tasks_idle_s = 24 * 3600;
  std::size_t max_tasks_at_rest = 20000;
  publish::JournalOptions journal;  // segment size and retention (bytes, age)
};

/// Runs until SIGINT or SIGTERM; returns the process exit code.
int run_daemon(const DaemonOptions& options);

}  // namespace medic::app
