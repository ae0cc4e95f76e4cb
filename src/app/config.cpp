#include "app/config.h"

#include "app/rule_loading.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace medic::app {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string home() { return env_or("HOME", "/root"); }

std::string expand_home(const std::string& p) {
  if (p.rfind("~/", 0) == 0) return home() + p.substr(1);
  return p;
}

// $XDG_RUNTIME_DIR/medic.sock, else inside the state directory.
std::string socket_for(const std::string& state_dir) {
  if (const char* rt = std::getenv("XDG_RUNTIME_DIR"); rt && *rt) return std::string(rt) + "/medic.sock";
  return state_dir + "/medic.sock";
}

}  // namespace

std::string default_state_dir() { return env_or("XDG_STATE_HOME", home() + "/.local/state") + "/medic"; }

std::string default_socket_path() { return socket_for(default_state_dir()); }

DaemonOptions resolve_run_options(const cli::RunOptions& cli, rules::Diagnostics& diags) {
  DaemonOptions o;
  o.hermes_root = env_or("HERMES_KANBAN_HOME", env_or("HERMES_HOME", home() + "/.hermes"));
  o.state_dir = default_state_dir();
  std::optional<std::string> socket;
  if (cli.config) {
    std::ifstream in(*cli.config);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      diags.push_back(rules::make_diagnostic(rules::SourceLocation{*cli.config, 0, 0},
                                             rules::DiagnosticCode::Io, "cannot read the config file"));
    } else {
      try {
        const YAML::Node root = YAML::Load(text.str());
        if (root && root.IsMap()) {
          for (const auto& kv : root) {
            const std::string key = kv.first.Scalar();
            const auto at = rules::SourceLocation{*cli.config, kv.first.Mark().line + 1, 0};
            if (key == "hermes_root") o.hermes_root = expand_home(kv.second.Scalar());
            else if (key == "state_dir") o.state_dir = expand_home(kv.second.Scalar());
            else if (key == "socket") socket = expand_home(kv.second.Scalar());
            else if (key == "rules") o.rules_dir = expand_home(kv.second.Scalar());
            else if (key == "max_client_queue_bytes") o.max_client_queue_bytes = kv.second.as<std::size_t>();
            else if (key == "policy") {
              YAML::Emitter e;
              e << kv.second;
              // Re-read the policy section with its own line numbers offset to the file.
              rules::Diagnostics pd;
              o.policy = rules::read_policy(e.c_str(), *cli.config, pd);
              for (auto& d : pd) {
                d.where.line += kv.first.Mark().line + 1;
                diags.push_back(std::move(d));
              }
            } else {
              diags.push_back(rules::make_diagnostic(at, rules::DiagnosticCode::UnknownKey,
                                                     "unknown config key '" + key +
                                                         "' (hermes_root, state_dir, socket, rules, "
                                                         "max_client_queue_bytes, policy)"));
            }
          }
        } else if (root && !root.IsNull()) {
          diags.push_back(rules::make_diagnostic(rules::SourceLocation{*cli.config, 1, 0},
                                                 rules::DiagnosticCode::BadShape, "the config must be a YAML map"));
        }
      } catch (const YAML::Exception& e) {
        diags.push_back(rules::make_diagnostic(rules::SourceLocation{*cli.config, e.mark.line + 1, 0},
                                               rules::DiagnosticCode::YamlParse, "YAML error: " + e.msg));
      }
    }
  }
  if (cli.hermes_root) o.hermes_root = *cli.hermes_root;
  if (cli.state_dir) o.state_dir = *cli.state_dir;
  if (cli.socket) socket = *cli.socket;
  if (cli.rules_dir) o.rules_dir = *cli.rules_dir;
  if (!o.rules_dir) o.rules_dir = default_rules_dir();
  o.socket_path = socket ? *socket : socket_for(o.state_dir);
  return o;
}

}  // namespace medic::app
