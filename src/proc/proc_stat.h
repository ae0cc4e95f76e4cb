#pragma once
// What /proc says about a process: enough to tell a live worker from a reused pid and to
// read a zombie's exit status before its parent reaps it. Linux only. Pure reads.

#include <cstdint>
#include <optional>

namespace medic::proc {

/// /proc/<pid>/stat: the state, the start time (field 22, clock ticks since boot) and the
/// exit code (field 52, Linux >= 3.5: the waitpid status of a zombie).
struct ProcStat {
  char state = '?';
  std::uint64_t start_ticks = 0;
  int exit_code = 0;
};

/// nullopt when the process is gone (or reaped between open and read).
std::optional<ProcStat> proc_stat(std::int64_t pid);

/// The boot time in epoch seconds (/proc/stat btime), read once.
std::int64_t boot_time();

/// A process's start time in epoch seconds, from its stat.
std::int64_t started_at(const ProcStat& st);

/// Whether proc_stat's exit_code is the real one: the kernel shows it only to a reader
/// with ptrace-read access (root, or the process's own uid), and 0 otherwise.
bool exit_code_readable(std::int64_t pid);

}  // namespace medic::proc
