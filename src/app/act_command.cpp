#include "app/act_command.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <cstdlib>

#include "act/executor.h"
#include "app/config.h"
#include "loop/handles.h"
#include "loop/uv_handle.h"

namespace medic::app {
namespace {

// The options as the executor takes them, with the defaults resolved here (app/ owns the
// config's defaults and the process).
act::ExecutorOptions executor_options(const cli::ActOptions& o) {
  act::ExecutorOptions e;
  e.socket = o.socket ? *o.socket : default_socket_path();
  e.hermes = o.hermes;
  e.dry_run = o.dry_run;
  e.state_dir = o.state_dir ? *o.state_dir : default_state_dir();
  e.since = o.since;
  e.profile_home = o.profile_home;
  e.plan.dispatch = o.dispatch;
  e.command_timeout = std::chrono::seconds(o.command_timeout_s);
  e.hermes_wait_s = static_cast<std::int64_t>(o.hermes_wait_s);
  e.parallel = o.parallel;
  e.workspace_roots = default_workspace_roots();
  // `medic preflight` is this binary.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  e.preflight_program = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "medic";
  return e;
}

}  // namespace

int run_act(const cli::ActOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_default_logger(spdlog::stderr_color_mt("act"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  if (const char* lvl = std::getenv("MEDIC_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));

  uv_loop_t loop{};
  if (auto ok = loop::check(uv_loop_init(&loop), "uv_loop_init"); !ok) {
    spdlog::critical("act cannot start: event loop: {}", ok.error().message);
    return 1;
  }
  auto executor = act::Executor::create(&loop, executor_options(options));
  // A stop lets the commands in flight finish (at most 10 s): a decision is never left
  // half applied.
  auto on_signal = [](uv_signal_t* s, int signum) {
    spdlog::info("signal={}", signum);
    static_cast<act::Executor*>(s->data)->stop([loop = s->loop] { uv_stop(loop); });
  };
  loop::UvHandle<uv_signal_t> sigint, sigterm;
  auto start = [&]() -> core::Result<void> {
    if (!executor) return tl::unexpected(executor.error());
    auto si = loop::make_signal(&loop, executor->get(), SIGINT, on_signal);
    if (!si) return tl::unexpected(si.error());
    sigint = std::move(*si);
    auto st = loop::make_signal(&loop, executor->get(), SIGTERM, on_signal);
    if (!st) return tl::unexpected(st.error());
    sigterm = std::move(*st);
    return {};
  };
  const core::Result<void> made = start();
  int rc = 0;
  if (made) {
    (*executor)->start();
    uv_run(&loop, UV_RUN_DEFAULT);
  } else {
    spdlog::critical("act cannot start: event loop: {}", made.error().message);
    rc = 1;
  }
  // Only a start that ran writes act.json: a failed one leaves the last good one as it was
  // (an act.json written now would make the next start replay the whole journal).
  if (made) (*executor)->shutdown();
  if (executor) executor->reset();
  sigint.reset();
  sigterm.reset();
  if (const std::size_t open = loop::close_loop(&loop); open > 0)
    spdlog::debug("{} loop handle(s) were still open at the stop; closed", open);
  return rc;
}

}  // namespace medic::app
