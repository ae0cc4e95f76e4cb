#include "proc/proc_stat.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace medic::proc {

std::optional<ProcStat> proc_stat(std::int64_t pid) {
  // read(2), not a stream: the process can be reaped between the open and the read
  // (ESRCH), which must cost a missing status, not an exception.
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[2048];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  const std::string content(buf, static_cast<std::size_t>(n));
  const auto close = content.rfind(')');  // the command name may hold spaces and ')'
  if (close == std::string::npos || close + 2 >= content.size()) return std::nullopt;
  std::istringstream rest(content.substr(close + 2));
  ProcStat st;
  std::string field;
  for (int i = 3; rest >> field; ++i) {
    if (i == 3) st.state = field[0];
    if (i == 22) st.start_ticks = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 52) st.exit_code = std::atoi(field.c_str());
  }
  return st;
}

std::int64_t boot_time() {
  static const std::int64_t btime = [] {
    std::ifstream up("/proc/stat");
    std::string key;
    long long t = 0;
    while (up >> key) {
      if (key == "btime") {
        up >> t;
        break;
      }
    }
    return static_cast<std::int64_t>(t);
  }();
  return btime;
}

std::int64_t started_at(const ProcStat& st) {
  return boot_time() + static_cast<std::int64_t>(st.start_ticks / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK)));
}

bool exit_code_readable(std::int64_t pid) {
  if (::geteuid() == 0) return true;
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == ::geteuid();
}

}  // namespace medic::proc
