#pragma once
// The daemon's configuration: the YAML config file (--config) under the command line.
// Defaults (issue 3): Hermes root $HERMES_KANBAN_HOME, else $HERMES_HOME, else ~/.hermes;
// state dir ~/.local/state/medic; socket $XDG_RUNTIME_DIR/medic.sock, else in the state dir.

#include <optional>
#include <string>
#include <vector>

#include "app/daemon.h"
#include "cli/options.h"
#include "rules/diagnostic.h"

namespace medic::app {

/// Builds daemon options; problems in the config file are collected as file:line.
DaemonOptions resolve_run_options(const cli::RunOptions& cli, rules::Diagnostics& diags);

/// The socket path `medic subscribe` uses when none is given (the daemon's default).
std::string default_socket_path();

/// The workspace roots a command without a config uses: WorkspaceRoots::defaults for the
/// default Hermes root ($HERMES_KANBAN_HOME, else $HERMES_HOME, else ~/.hermes) and $HOME.
std::vector<std::string> default_workspace_roots();

/// The daemon's default state directory ($XDG_STATE_HOME/medic, ~/.local/state/medic).
std::string default_state_dir();

}  // namespace medic::app
