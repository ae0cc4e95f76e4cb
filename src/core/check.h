#pragma once
// MEDIC_CHECK(condition, message): an invariant that, broken, means a bug (a bad Hyperscan
// database or scratch, an allocation that cannot fail). Prints where and why to stderr and
// aborts, as Suricata's BUG_ON does; never for input, which gets an error and is survived.

#include <string_view>

namespace medic::core {

[[noreturn]] void check_failed(const char* file, int line, const char* condition, std::string_view message);

}  // namespace medic::core

#define MEDIC_CHECK(condition, message)                                                     \
  do {                                                                                      \
    if (!(condition)) ::medic::core::check_failed(__FILE__, __LINE__, #condition, message); \
  } while (0)
