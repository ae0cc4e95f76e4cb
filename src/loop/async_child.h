#pragma once
// Runs a program to completion on the loop without blocking it (uv_spawn): stdout and
// stderr captured together, a time limit after which the child gets SIGTERM and, 5 s
// later, SIGKILL, and one callback when it has exited and its output is closed.
// Ownership: the runner owns every child it started until its callback has run; closing
// the runner kills what is still running. Thread: the loop thread.

#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <string>
#include <vector>

namespace medic::loop {

struct ChildOutcome {
  int exit_code = -1;      // 127: could not start; 128 + signal when killed
  bool timed_out = false;  // killed for running past the limit
  std::string output;      // stdout+stderr, trailing newlines removed
};

class AsyncChildRunner {
 public:
  using Done = std::function<void(ChildOutcome)>;
  explicit AsyncChildRunner(uv_loop_t* loop) : loop_(loop) {}
  ~AsyncChildRunner();
  AsyncChildRunner(const AsyncChildRunner&) = delete;
  AsyncChildRunner& operator=(const AsyncChildRunner&) = delete;

  /// Starts `argv` (argv[0] looked up in PATH) with `env` entries ("NAME=value") replacing
  /// or adding variables. `done` runs on the loop thread, always exactly once (a spawn
  /// failure calls it from the next loop iteration).
  void run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::milliseconds limit,
           Done done);
  std::size_t running() const { return children_.size(); }

  struct Child;  // public for the libuv callbacks; defined in the .cpp

 private:
  void finish(Child* c);
  uv_loop_t* loop_;
  std::list<Child*> children_;  // owned until finished; then owned by their close callbacks
};

}  // namespace medic::loop
