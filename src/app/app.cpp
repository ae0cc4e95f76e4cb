#include "app/app.h"

#include <cstdio>

#include "app/act_command.h"

#include "app/config.h"
#include "app/daemon.h"
#include "app/demo_command.h"
#include "app/preflight_command.h"
#include "app/subscribe_command.h"
#include "app/rules_command.h"
#include "app/scan_command.h"

namespace medic::app {

int run(const cli::Options& options) {
  struct Visitor {
    int operator()(const cli::ScanOptions& o) const { return run_scan(o); }
    int operator()(const cli::RulesCheckOptions& o) const { return run_rules_check(o); }
    int operator()(const cli::RulesTestOptions& o) const { return run_rules_test(o); }
    int operator()(const cli::RulesExportOptions& o) const { return run_rules_export(o); }
    int operator()(const cli::RulesProfileOptions& o) const { return run_rules_profile(o); }
    int operator()(const cli::DemoOptions& o) const { return run_demo(o); }
    int operator()(const cli::SubscribeOptions& o) const { return run_subscribe(o); }
    int operator()(const cli::PreflightOptions& o) const { return run_preflight(o); }
    int operator()(const cli::ActOptions& o) const { return run_act(o); }
    int operator()(const cli::RunOptions& o) const {
      rules::Diagnostics diags;
      DaemonOptions d = resolve_run_options(o, diags);
      for (const auto& x : diags) std::fprintf(stderr, "%s\n", rules::format(x).c_str());
      if (!diags.empty()) return 2;
      return run_daemon(d);
    }
  };
  return std::visit(Visitor{}, options.command);
}

}  // namespace medic::app
