#include "app/config.h"

#include "app/rule_loading.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
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

rules::SourceLocation at(const std::string& file, const YAML::Node& n) {
  return rules::SourceLocation{file, n.Mark().line + 1, 0};
}

// A scalar or a list of scalars, as a list.
std::vector<std::string> strings(const YAML::Node& n, const std::string& file, const char* what,
                                 rules::Diagnostics& diags) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
  } else if (n.IsSequence()) {
    for (const auto& item : n) {
      if (item.IsScalar())
        out.push_back(item.Scalar());
      else
        diags.push_back(rules::make_diagnostic(at(file, item), rules::DiagnosticCode::BadShape,
                                               std::string(what) + ": each entry must be a string"));
    }
  } else {
    diags.push_back(rules::make_diagnostic(at(file, n), rules::DiagnosticCode::BadShape,
                                           std::string(what) + " must be a string or a list of strings"));
  }
  return out;
}

// `acceptance:` (DESIGN 5): a list of entries, each a selector (board, assignee, title
// regex) and the checks; a check left out keeps the default.
std::vector<artifacts::AcceptanceRule> read_acceptance(const YAML::Node& list, const std::string& file,
                                                       rules::Diagnostics& diags) {
  std::vector<artifacts::AcceptanceRule> out;
  if (!list.IsSequence()) {
    diags.push_back(rules::make_diagnostic(at(file, list), rules::DiagnosticCode::BadShape,
                                           "acceptance must be a list of entries"));
    return out;
  }
  for (const auto& entry : list) {
    if (!entry.IsMap()) {
      diags.push_back(rules::make_diagnostic(at(file, entry), rules::DiagnosticCode::BadShape,
                                             "an acceptance entry must be a map"));
      continue;
    }
    artifacts::AcceptanceRule r;
    r.spec = artifacts::AcceptanceSpec::defaults();
    r.where = file + ":" + std::to_string(entry.Mark().line + 1);
    for (const auto& kv : entry) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      try {
        if (key == "board")
          r.board = v.as<std::string>();
        else if (key == "assignee")
          r.assignee = v.as<std::string>();
        else if (key == "title") {
          r.title_pattern = v.as<std::string>();
          if (auto re = artifacts::TitlePattern::compile(r.title_pattern)) {
            r.title = std::move(*re);
          } else {
            diags.push_back(rules::make_diagnostic(at(file, v), rules::DiagnosticCode::BadValue,
                                                   "title: not a valid regular expression: " + re.error().message));
          }
        } else if (key == "evidence")
          r.spec.evidence_globs = strings(v, file, "evidence", diags);
        else if (key == "state")
          r.spec.state_files = strings(v, file, "state", diags);
        else if (key == "outputs") {
          r.spec.outputs.clear();
          if (!v.IsSequence()) {
            diags.push_back(rules::make_diagnostic(at(file, v), rules::DiagnosticCode::BadShape,
                                                   "outputs must be a list of paths or maps"));
            continue;
          }
          for (const auto& o : v) {
            artifacts::OutputSpec spec;
            if (o.IsScalar()) {
              spec.glob = o.Scalar();
              r.spec.outputs.push_back(spec);
              continue;
            }
            if (!o.IsMap()) {
              diags.push_back(rules::make_diagnostic(at(file, o), rules::DiagnosticCode::BadShape,
                                                     "an output must be a path or a map with path"));
              continue;
            }
            std::optional<bool> non_empty;
            std::optional<std::uint64_t> min_bytes;
            for (const auto& f : o) {
              const std::string k = f.first.Scalar();
              if (k == "path")
                spec.glob = f.second.as<std::string>();
              else if (k == "non_empty")
                non_empty = f.second.as<bool>();
              else if (k == "min_bytes")
                min_bytes = f.second.as<std::uint64_t>();
              else if (k == "contains")
                spec.contains = strings(f.second, file, "contains", diags);
              else
                diags.push_back(
                    rules::make_diagnostic(at(file, f.first), rules::DiagnosticCode::UnknownKey,
                                           "unknown output key '" + k + "' (path, non_empty, min_bytes, contains)"));
            }
            if (spec.glob.empty()) {
              diags.push_back(
                  rules::make_diagnostic(at(file, o), rules::DiagnosticCode::MissingKey, "an output needs a path"));
              continue;
            }
            spec.min_bytes = min_bytes.value_or(non_empty.value_or(true) ? 1 : 0);
            r.spec.outputs.push_back(spec);
          }
        } else {
          diags.push_back(rules::make_diagnostic(
              at(file, kv.first), rules::DiagnosticCode::UnknownKey,
              "unknown acceptance key '" + key + "' (board, assignee, title, evidence, outputs, state)"));
        }
      } catch (const YAML::Exception& e) {
        diags.push_back(rules::make_diagnostic(at(file, v), rules::DiagnosticCode::BadValue, key + ": " + e.msg));
      }
    }
    // A path that leaves the workspace is refused at check time too; say so now.
    auto refuse = [&](const std::string& p) {
      if (p.empty() || p[0] == '/' || p.find("..") != std::string::npos) {
        diags.push_back(rules::make_diagnostic(at(file, entry), rules::DiagnosticCode::BadValue,
                                               "'" + p + "' escapes the task's workspace; paths are relative to it"));
      }
    };
    for (const auto& p : r.spec.evidence_globs) refuse(p);
    for (const auto& p : r.spec.state_files) refuse(p);
    for (const auto& o : r.spec.outputs) refuse(o.glob);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::string default_state_dir() { return env_or("XDG_STATE_HOME", home() + "/.local/state") + "/medic"; }

std::string default_socket_path() { return socket_for(default_state_dir()); }

std::vector<std::string> default_workspace_roots() {
  return artifacts::WorkspaceRoots::defaults(env_or("HERMES_KANBAN_HOME", env_or("HERMES_HOME", home() + "/.hermes")),
                                             env_or("HOME", ""));
}

DaemonOptions resolve_run_options(const cli::RunOptions& cli, rules::Diagnostics& diags) {
  DaemonOptions o;
  o.hermes_root = env_or("HERMES_KANBAN_HOME", env_or("HERMES_HOME", home() + "/.hermes"));
  o.state_dir = default_state_dir();
  std::optional<std::string> socket;
  std::optional<std::vector<std::string>> configured_roots;
  if (cli.config) {
    std::ifstream in(*cli.config);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      diags.push_back(rules::make_diagnostic(rules::SourceLocation{*cli.config, 0, 0}, rules::DiagnosticCode::Io,
                                             "cannot read the config file"));
    } else {
      try {
        const YAML::Node root = YAML::Load(text.str());
        if (root && root.IsMap()) {
          for (const auto& kv : root) {
            const std::string key = kv.first.Scalar();
            const auto at = rules::SourceLocation{*cli.config, kv.first.Mark().line + 1, 0};
            if (key == "hermes_root")
              o.hermes_root = expand_home(kv.second.Scalar());
            else if (key == "state_dir")
              o.state_dir = expand_home(kv.second.Scalar());
            else if (key == "socket")
              socket = expand_home(kv.second.Scalar());
            else if (key == "rules")
              o.rules_dir = expand_home(kv.second.Scalar());
            else if (key == "max_client_queue_bytes")
              o.max_client_queue_bytes = kv.second.as<std::size_t>();
            else if (key == "exit_event_wait_s")
              o.exit_event_wait_s = kv.second.as<std::int64_t>();
            else if (key == "hermes_failure_limit")
              o.hermes_failure_limit = kv.second.as<int>();
            else if (key == "forget_tasks_idle_s") {
              o.forget_tasks_idle_s = kv.second.as<std::int64_t>();
              if (o.forget_tasks_idle_s < 1)
                diags.push_back(rules::make_diagnostic(at, rules::DiagnosticCode::BadValue,
                                                       "forget_tasks_idle_s must be at least 1 (seconds)"));
            } else if (key == "max_tasks_at_rest")
              o.max_tasks_at_rest = kv.second.as<std::size_t>();
            else if (key == "journal_segment_bytes")
              o.journal.segment_bytes = kv.second.as<std::uint64_t>();
            else if (key == "journal_retain_bytes")
              o.journal.retain_bytes = kv.second.as<std::uint64_t>();
            else if (key == "journal_retain_days")
              o.journal.retain_age_s = kv.second.as<std::int64_t>() * 86400;
            else if (key == "acceptance")
              o.acceptance = read_acceptance(kv.second, *cli.config, diags);
            else if (key == "workspace_roots") {
              // DESIGN.md §6b: an explicit list replaces the default; "/" and system
              // directories are refused here rather than silently left out.
              std::vector<std::string> roots;
              for (const auto& r : strings(kv.second, *cli.config, "workspace_roots", diags)) {
                roots.push_back(expand_home(r));
                std::vector<std::string> dropped;
                artifacts::WorkspaceRoots::create({roots.back()}, &dropped);
                for (const auto& d : dropped) {
                  diags.push_back(rules::make_diagnostic(at, rules::DiagnosticCode::BadValue, "workspace_roots: " + d));
                }
              }
              configured_roots = std::move(roots);
            } else if (key == "policy") {
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
              diags.push_back(
                  rules::make_diagnostic(at, rules::DiagnosticCode::UnknownKey,
                                         "unknown config key '" + key +
                                             "' (hermes_root, state_dir, socket, rules, "
                                             "max_client_queue_bytes, workspace_roots, exit_event_wait_s, "
                                             "hermes_failure_limit, forget_tasks_idle_s, max_tasks_at_rest, "
                                             "journal_segment_bytes, "
                                             "journal_retain_bytes, journal_retain_days, acceptance, "
                                             "policy)"));
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
  // Absolute paths from here on: the workspace roots and every message name real places.
  std::error_code ec;
  for (std::string* p : {&o.hermes_root, &o.state_dir}) {
    const auto abs = std::filesystem::absolute(*p, ec);
    if (!ec) *p = abs.lexically_normal().string();
    while (p->size() > 1 && p->back() == '/') p->pop_back();
  }
  o.workspace_roots =
      configured_roots ? *configured_roots : artifacts::WorkspaceRoots::defaults(o.hermes_root, env_or("HOME", ""));
  return o;
}

}  // namespace medic::app
