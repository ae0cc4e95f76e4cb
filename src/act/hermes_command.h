#pragma once
// One `hermes kanban` command as medic builds it, and its argv (DESIGN.md §6b). Task ids,
// reasons and provider names come from boards and logs that workers can write, so the
// argv never lets a value be read as an option: every option is one `--name=value`
// argument, and the positionals follow a `--`, which Hermes's argparse tree accepts for
// every verb medic uses (checked against hermes_cli/kanban.py build_parser at the pinned
// commit: `show --json -- -h` parses "-h" as the task id).
// Thread: any; pure.

#include <string>
#include <utility>
#include <vector>

namespace medic::act {

struct HermesCommand {
  std::string verb;                                          // show, block, unblock, ...
  std::vector<std::pair<std::string, std::string>> options;  // {"kind", "transient"}; value "" = a flag
  std::vector<std::string> positionals;                      // the task id first

  /// `hermes kanban --board=B <verb> --opt=value... -- <positionals...>`.
  std::vector<std::string> argv(const std::string& hermes, const std::string& board) const;
};

}  // namespace medic::act
