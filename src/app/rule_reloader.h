#pragma once
// Reloads the rules without stopping the loop, taken out of the daemon (issue 13): the
// compile (reading the files and Hyperscan's compile, or a cache hit) runs on libuv's
// threadpool, since it can take seconds, and its result is handed back on the loop thread,
// where the caller swaps it in or keeps the running set. A request while a compile runs
// compiles once more after it (last writer wins: however many requests came meanwhile,
// the set handed back last is the newest on disk).
// Thread: the loop thread (`compile` runs on the threadpool and must touch nothing of the
// loop's).

#include <uv.h>

#include <functional>

#include "app/rule_loading.h"

namespace medic::app {

class RuleReloader {
 public:
  using Compile = std::function<LoadedRules()>;
  using OnLoaded = std::function<void(LoadedRules loaded)>;
  RuleReloader(uv_loop_t* loop, Compile compile, OnLoaded on_loaded);
  RuleReloader(const RuleReloader&) = delete;
  RuleReloader& operator=(const RuleReloader&) = delete;

  /// Compiles now, or once more after the compile running (nothing once stopped).
  void request();
  /// No compile starts from now on, and the one running (if any) hands back nothing; it
  /// is still busy() until the threadpool is done with it.
  void stop() {
    stopped_ = true;
    again_ = false;
  }
  bool busy() const { return running_; }

 private:
  struct Work;
  uv_loop_t* loop_;
  Compile compile_;
  OnLoaded on_loaded_;
  bool running_ = false;
  bool again_ = false;
  bool stopped_ = false;
};

}  // namespace medic::app
