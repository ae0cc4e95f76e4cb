#include "act/hermes_command.h"

namespace medic::act {

std::vector<std::string> HermesCommand::argv(const std::string& hermes, const std::string& board) const {
  std::vector<std::string> out{hermes, "kanban", "--board=" + board, verb};
  for (const auto& [name, value] : options) out.push_back(value.empty() ? "--" + name : "--" + name + "=" + value);
  if (!positionals.empty()) {
    out.emplace_back("--");
    for (const auto& p : positionals) out.push_back(p);
  }
  return out;
}

}  // namespace medic::act
