// Exit-to-decision latency and tail+match throughput of the real daemon (issue 3 §11).
//
//   exit_latency latency N [WINDOW]  N writer processes append worker output to their own logs
//                                    all the time (a line every 20-60 ms) and each ends its run
//                                    with the exit trailer at its own moment within WINDOW s;
//                                    reports trailer-write -> decision-read p50/p99/max.
//   exit_latency throughput N MIB    N writers append MIB MiB each of LogHub text at full
//                                    speed, then a trailer; reports bytes/s from the first
//                                    write to the last decision.
//   exit_latency wake N [GAP_MS]     no medic: the host's own floor. Two processes on different
//                                    CPUs pass a byte there and back N times, each after an
//                                    idle gap of up to GAP_MS (default 60, the writers' pace):
//                                    two cross-process wake-ups, as many as an exit's path has
//                                    (writer -> medic, medic -> subscriber).
// latency and throughput report medic's CPU time and peak RSS (from /proc). Times are
// CLOCK_MONOTONIC, which every process on the host shares, so a writer's timestamp and the
// reader's compare. MEDIC_BENCH_TRACE=1 prints each exit's trailer-write and decision-read
// time (microseconds), to line up with medic's own log.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;
namespace fs = std::filesystem;

namespace {

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", err);
    std::exit(2);
  }
}

struct ProcStat {
  double cpu_s = 0;
  long rss_kb = 0;
  long hwm_kb = 0;
};

ProcStat proc_stat(pid_t pid) {
  ProcStat s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  const auto close = content.rfind(')');
  std::istringstream rest(content.substr(close + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // fields after ')' start at state (3rd); utime is 14th, stime 15th overall.
  if (f.size() > 12) s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::stol(line.substr(6));
  }
  return s;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// The host's floor for the exit path: a byte over a pipe to a process on the other CPU and
// back, after an idle gap, N times. On a VM an idle vCPU is halted, and waking it is the
// hypervisor's business.
int wake(int n, int max_gap_ms) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int there[2];
  int back[2];
  if (pipe(there) != 0 || pipe(back) != 0) return 2;
  const pid_t echo = fork();
  if (echo == 0) {
    pin_to_cpu(cpus > 1 ? 1 : 0);
    close(there[1]);  // so that the parent's close ends this loop
    close(back[0]);
    char c = 0;
    while (read(there[0], &c, 1) == 1) (void)!write(back[1], &c, 1);
    _exit(0);
  }
  pin_to_cpu(0);
  close(there[0]);
  close(back[1]);
  srand(1);
  std::vector<double> rtt_ms;
  for (int i = 0; i < n; ++i) {
    usleep(static_cast<useconds_t>(1000 * (1 + rand() % std::max(1, max_gap_ms))));
    char c = 'x';
    const std::int64_t t0 = mono_ns();
    if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) break;
    rtt_ms.push_back(static_cast<double>(mono_ns() - t0) / 1e6);
  }
  close(there[1]);
  waitpid(echo, nullptr, 0);
  std::printf("mode=wake round trips=%zu cpus=%ld (idle gaps up to %d ms)\n", rtt_ms.size(), cpus, max_gap_ms);
  std::printf("two wake-ups ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n", pct(rtt_ms, 50), pct(rtt_ms, 90),
              pct(rtt_ms, 99), pct(rtt_ms, 100));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s latency N [WINDOW_S] | throughput N MIB | wake N [GAP_MS]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const int n = std::atoi(argv[2]);
  if (mode == "wake") return wake(n, argc > 3 ? std::atoi(argv[3]) : 60);
  // latency: the window in seconds over which workers exit; throughput: MiB per writer.
  const int param = argc > 3 ? std::atoi(argv[3]) : (mode == "latency" ? 5 : 10);
  char tmpl[] = "/tmp/medic-bench-XXXXXX";
  const char* made = mkdtemp(tmpl);
  if (made == nullptr) {
    std::perror("mkdtemp");
    return 2;
  }
  const std::string dir = made;
  const std::string root = dir + "/hermes";
  const std::string logs = root + "/kanban/logs";
  fs::create_directories(logs);

  sqlite3* db = nullptr;
  sqlite3_open((root + "/kanban.db").c_str(), &db);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, slurp(MEDIC_SOURCE_DIR "/src/app/demo/hermes_schema.sql"));
  exec(db, "BEGIN");
  for (int i = 0; i < n; ++i) {
    const std::string t = "t_" + std::to_string(i);
    exec(db, "INSERT INTO tasks (id,title,assignee,status,created_at) VALUES ('" + t + "','bench','w','running',1)");
    exec(db, "INSERT INTO task_runs (task_id,status,started_at) VALUES ('" + t + "','running',1)");
    const std::string run = std::to_string(sqlite3_last_insert_rowid(db));
    exec(db, "UPDATE tasks SET current_run_id=" + run + " WHERE id='" + t + "'");
  }
  exec(db, "COMMIT");

  // Background text: LogHub lines (real system logs) and one failure line per run.
  std::string background;
  for (const auto& e : fs::directory_iterator(MEDIC_CORPUS_DIR "/loghub")) background += slurp(e.path().string());

  const std::string sock = dir + "/s.sock";
  // $MEDIC_BIN runs another build (a before/after comparison in one session).
  const char* bin_env = std::getenv("MEDIC_BIN");
  const std::string bin = bin_env != nullptr ? bin_env : MEDIC_BINARY;
  std::vector<std::string> args{bin,        "run", "--hermes-root", root,           "--state-dir", dir + "/state",
                                "--socket", sock,  "--rules",       MEDIC_RULES_DIR};
  std::vector<char*> cargs;
  cargs.reserve(args.size() + 1);
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, (dir + "/medic.log").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t medic = -1;
  posix_spawn(&medic, bin.c_str(), &fa, nullptr, cargs.data(), environ);

  int fd = -1;
  for (int tries = 0; tries < 1000; ++tries) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    close(fd);
    fd = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (fd < 0) {
    std::fprintf(stderr, "medic did not start\n");
    return 2;
  }
  // Subscribed at once, as a dispatcher is: a client that sends nothing is held for the
  // daemon's 0.5 s subscribe grace.
  const std::string subscribe = "{\"op\":\"subscribe\",\"since\":0}\n";
  (void)!write(fd, subscribe.data(), subscribe.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const ProcStat baseline = proc_stat(medic);
  // Hermes claims each task (medic, started first, reads these), then the workers start.
  exec(db, "BEGIN");
  for (int i = 0; i < n; ++i) {
    const std::string t = "t_" + std::to_string(i);
    exec(db,
         "INSERT INTO task_events (task_id,run_id,kind,payload,created_at) SELECT id, current_run_id, "
         "'claimed', '{\"run_id\":' || current_run_id || '}', 1 FROM tasks WHERE id='" +
             t + "'");
  }
  exec(db, "COMMIT");
  // Create every log first, so the daemon follows them before the measured writes.
  for (int i = 0; i < n; ++i) {
    std::ofstream(logs + "/t_" + std::to_string(i) + ".log") << "  ┊ 📋 kanban_show t_" << i << "\n";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500 + n));
  const ProcStat before = proc_stat(medic);

  // Writers: a pipe releases them together; each reports "<i> <trailer write ns>".
  int go[2];
  int report[2];
  pipe(go);
  pipe(report);
  const std::int64_t bytes_each = mode == "throughput" ? static_cast<std::int64_t>(param) << 20 : 0;
  std::vector<pid_t> writers;
  for (int i = 0; i < n; ++i) {
    const pid_t p = fork();
    if (p == 0) {
      close(go[1]);
      // Throughput writers build their text before the start, so the run measures medic
      // rather than string building in 100 processes.
      std::string block;
      if (mode == "throughput") {
        std::size_t at = (static_cast<std::size_t>(i) * 7919) % background.size();
        at = background.find('\n', at) + 1;
        while (block.size() < (256u << 10)) {
          const std::size_t nl = background.find('\n', at);
          if (nl == std::string::npos) {
            at = 0;
            continue;
          }
          block.append(background, at, nl + 1 - at);
          at = nl + 1;
        }
      }
      char c;
      (void)!read(go[0], &c, 1);
      const std::string path = logs + "/t_" + std::to_string(i) + ".log";
      const int lf = open(path.c_str(), O_WRONLY | O_APPEND);
      std::size_t pos = (static_cast<std::size_t>(i) * 7919) % background.size();
      auto next_line = [&] {
        const std::size_t nl = background.find('\n', pos);
        const std::size_t end = nl == std::string::npos ? background.size() : nl + 1;
        std::string l = background.substr(pos, end - pos);
        pos = end >= background.size() ? 0 : end;
        return l;
      };
      if (mode == "latency") {
        // Every worker appends all the time (a line every 20-60 ms) and exits at its own
        // moment within the window: many logs written at once, exits spread out.
        srand(static_cast<unsigned>(i) * 2654435761u);
        const std::int64_t exit_at = mono_ns() + (500 + rand() % (param * 1000)) * 1000000LL;
        while (mono_ns() < exit_at) {
          const std::string l = next_line();
          (void)!write(lf, l.data(), l.size());
          usleep(static_cast<useconds_t>(20000 + rand() % 40000));
        }
      } else {
        std::int64_t left = bytes_each;
        while (left > 0) {
          const auto w =
              static_cast<std::size_t>(std::min<std::int64_t>(left, static_cast<std::int64_t>(block.size())));
          (void)!write(lf, block.data(), w);
          left -= static_cast<std::int64_t>(w);
        }
        (void)!write(lf, "\n", 1);
      }
      const std::string fail = std::getenv("MEDIC_BENCH_FAIL") ? std::string(std::getenv("MEDIC_BENCH_FAIL")) + "\n"
                                                               : "   📝 Error: Request timed out.\n";
      (void)!write(lf, fail.data(), fail.size());
      const std::int64_t t = mono_ns();
      const std::string trailer = "[kanban-worker-exit] rc=1\n";
      (void)!write(lf, trailer.data(), trailer.size());
      const std::string rep = std::to_string(i) + " " + std::to_string(t) + "\n";
      (void)!write(report[1], rep.data(), rep.size());
      _exit(0);
    }
    writers.push_back(p);
  }
  close(go[0]);
  close(report[1]);
  const std::int64_t start = mono_ns();
  close(go[1]);  // release all writers at once

  std::map<int, std::int64_t> written;  // task -> trailer write time
  std::map<int, std::int64_t> decided;  // task -> decision read time
  std::string buf;
  std::string rbuf;
  const std::int64_t deadline = mono_ns() + 120LL * 1000000000LL;
  while (static_cast<int>(decided.size()) < n && mono_ns() < deadline) {
    pollfd p[2] = {{fd, POLLIN, 0}, {report[0], POLLIN, 0}};
    poll(p, 2, 1000);
    char chunk[65536];
    if (p[0].revents & POLLIN) {
      const ssize_t r = read(fd, chunk, sizeof chunk);
      const std::int64_t now = mono_ns();
      if (r <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(r));
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        const std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        const auto at = line.find("\"task_id\":\"t_");
        if (line.find("\"type\":\"decision\"") == std::string::npos || at == std::string::npos) continue;
        decided[std::atoi(line.c_str() + at + 13)] = now;
      }
    }
    if (p[1].revents & POLLIN) {
      const ssize_t r = read(report[0], chunk, sizeof chunk);
      if (r > 0) rbuf.append(chunk, static_cast<std::size_t>(r));
      std::size_t nl;
      while ((nl = rbuf.find('\n')) != std::string::npos) {
        int i = 0;
        long long t = 0;
        std::sscanf(rbuf.c_str(), "%d %lld", &i, &t);
        written[i] = t;
        rbuf.erase(0, nl + 1);
      }
    }
  }
  const std::int64_t end = mono_ns();
  for (pid_t w : writers) waitpid(w, nullptr, 0);
  // Reports still in the pipe.
  char chunk[65536];
  for (ssize_t r; (r = read(report[0], chunk, sizeof chunk)) > 0;) rbuf.append(chunk, static_cast<std::size_t>(r));
  for (std::size_t nl; (nl = rbuf.find('\n')) != std::string::npos; rbuf.erase(0, nl + 1)) {
    int i = 0;
    long long t = 0;
    std::sscanf(rbuf.c_str(), "%d %lld", &i, &t);
    written[i] = t;
  }
  const ProcStat after = proc_stat(medic);
  kill(medic, SIGTERM);
  waitpid(medic, nullptr, 0);

  std::vector<double> lat_ms;
  for (const auto& [i, t] : decided) {
    if (auto w = written.find(i); w != written.end()) lat_ms.push_back(static_cast<double>(t - w->second) / 1e6);
  }
  if (std::getenv("MEDIC_BENCH_TRACE")) {
    for (const auto& [i, t] : decided) {
      std::printf("trace t_%d written_us=%lld decided_us=%lld\n", i, static_cast<long long>(written[i] / 1000),
                  static_cast<long long>(t / 1000));
    }
  }
  std::printf("mode=%s writers=%d decisions=%zu/%d\n", mode.c_str(), n, decided.size(), n);
  if (mode == "latency") {
    std::printf("exit->decision ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f (exits spread over %d s)\n", pct(lat_ms, 50),
                pct(lat_ms, 90), pct(lat_ms, 99), pct(lat_ms, 100), param);
  } else {
    const double secs = static_cast<double>(end - start) / 1e9;
    const double total = static_cast<double>(bytes_each) * n;
    std::printf("tail+match: %.0f MiB in %.3f s = %.2f GB/s (first write to last decision)\n", total / (1 << 20), secs,
                total / secs / 1e9);
  }
  std::printf(
      "medic: cpu %.2f s during the run, rss %ld KiB (peak %ld KiB); with %d idle logs followed: "
      "%.2f KiB per file above the %ld KiB baseline\n",
      after.cpu_s - before.cpu_s, after.rss_kb, after.hwm_kb, n,
      static_cast<double>(before.rss_kb - baseline.rss_kb) / std::max(1, n), baseline.rss_kb);
  // MEDIC_BENCH_KEEP=1 keeps the run's directory (medic.log, the board, the logs) to look at.
  if (std::getenv("MEDIC_BENCH_KEEP")) {
    std::printf("kept: %s (medic.log there)\n", dir.c_str());
  } else {
    fs::remove_all(dir);
  }
  return static_cast<int>(decided.size()) == n ? 0 : 1;
}
