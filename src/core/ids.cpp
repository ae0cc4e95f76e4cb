#include "core/ids.h"

namespace medic::core {
namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool tail_char(char c) { return lower_alnum(c) || c == '_' || c == '-'; }

bool slug_like(std::string_view s) {
  if (s.empty() || s.size() > 64 || !lower_alnum(s.front())) return false;
  for (char c : s.substr(1)) {
    if (!tail_char(c)) return false;
  }
  return true;
}

}  // namespace

bool valid_task_id(std::string_view id) {
  if (id.size() < 3 || id.size() > 66 || id.substr(0, 2) != "t_") return false;
  for (char c : id.substr(2)) {
    if (!tail_char(c)) return false;
  }
  return true;
}

bool valid_board_slug(std::string_view slug) { return slug_like(slug); }

bool valid_provider_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.find("..") != std::string_view::npos) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '@' && c != '+' && c != '-') return false;
  }
  return true;
}

bool valid_profile_name(std::string_view name) { return slug_like(name); }

}  // namespace medic::core
