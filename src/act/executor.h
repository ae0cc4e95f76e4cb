#pragma once
// The executor of `medic act` (DESIGN.md §6), a reconciler, taken out of app/ (issue 13).
// It subscribes to the daemon's socket and, for each decision, reads the task's state
// through Hermes's CLI (`show --json`), plans the transitions that reach the state the
// decision wants (act/planner.h: only those Hermes allows from there, never fighting
// Hermes's own breaker), and runs them as children (loop::AsyncChildRunner: a timeout per
// command, one task's commands in order, `parallel` tasks at once). It holds the timer for
// a retry_at itself (Hermes has no timed wake), by the wall clock, across restarts, and the
// decisions that wait for Hermes to end their run. Applied ids, timers, waits and the last
// seq applied live in <state_dir>/act.json (act/store.h), written atomically at most every
// 100 ms. Every command and its exit code is logged and added to the state reports. A dry
// run reads states and prints the commands only.
// What it does not own: the loop, the signals and the logger (app/act_command).
// Thread: the loop thread; children run as processes.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "act/hermes_command.h"
#include "act/planner.h"
#include "act/store.h"
#include "act/task_show.h"
#include "artifacts/acceptance.h"
#include "core/result.h"
#include "decide/decision.h"
#include "loop/async_child.h"
#include "loop/uv_handle.h"
#include "report/report_queue.h"

namespace medic::act {

struct ExecutorOptions {
  std::string socket;                  // the daemon's socket
  std::string hermes;                  // the `hermes` program
  bool dry_run = false;                // read states, print commands, hold nothing
  std::string state_dir;               // act.json and the board-wide reports
  std::optional<std::uint64_t> since;  // default: where it stopped (first start: now)
  std::string profile_home;            // "{assignee}" template: run the auth preflight
  PlanOptions plan;                    // one dispatcher pass after a complete or a release
  std::chrono::milliseconds command_timeout{60000};
  std::int64_t hermes_wait_s = 90;           // how long a decision waits for Hermes's word on its run
  std::size_t parallel = 4;                  // tasks worked on at once (one command at a time each)
  std::vector<std::string> workspace_roots;  // where a workspace report may go
  std::string preflight_program;             // `medic` itself, for `medic preflight`
};

class Executor {
 public:
  /// Makes its handles on `loop` and loads act.json; an error names the libuv call.
  [[nodiscard]] static core::Result<std::unique_ptr<Executor>> create(uv_loop_t* loop, ExecutorOptions options);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  /// Arms the timers and waits held across a restart (due ones fire at once) and connects.
  void start();
  /// Takes no more work; `on_stopped` runs once the jobs in flight are done, or after
  /// 10 s at most (a decision is never left half applied; the ones still queued are
  /// replayed at the next start, from act.json's seq).
  void stop(std::function<void()> on_stopped);
  /// Writes act.json and closes every handle (children still running are killed): call
  /// before the loop is closed.
  void shutdown();

  std::uint64_t commands() const { return commands_; }
  std::uint64_t failed_commands() const { return failed_commands_; }
  std::uint64_t refused() const { return refused_; }

 private:
  // An `unblock` act holds for a decision's retry_at.
  struct Timer {
    Executor* self = nullptr;
    std::string decision_id;
    std::string board;
    std::string task;
    std::string workspace;
    std::int64_t at = 0;
    bool overrides_breaker = false;
    loop::UvHandle<uv_timer_t> handle;  // armed while act runs; its data is this Timer
    // The task's state is read kPreReadMs before `at` (a `hermes` call takes about a
    // second), so at `at` only the release itself runs: unblock, then dispatch.
    bool state_read = false;
    bool pre_read_asked = false;
    std::vector<HermesCommand> release;  // planned from that read
    // The release's commands are running: the timer leaves act.json only when they are
    // done, so a stop (or a crash) in between releases the task again at the next start.
    bool releasing = false;
    // > 0: the task was parked this long after `at` (its timer was due when armed).
    std::int64_t parked_late_ms = 0;
  };
  // A decision waiting for Hermes to end its run (Plan::wait_for_hermes): planned again
  // at the daemon's `run_ended` for it, or at `until` without it.
  struct Wait {
    Executor* self = nullptr;
    WaitState st;
    loop::UvHandle<uv_timer_t> handle;  // fires at st.until; its data is this Wait
  };
  // One unit of work for a task: apply a decision, or release a task at its timer.
  struct Job {
    enum class Kind { Apply, Release };
    Kind kind = Kind::Apply;
    std::uint64_t seq = 0;      // Apply: the decision's seq (0: a wait planned again)
    decide::Decision decision;  // Apply
    bool wait_over = false;     // Apply: Hermes never ended the run in time; do not wait again
    std::string timer_id;       // Release
  };
  struct DispatchSlot {
    Executor* self = nullptr;
    std::string board;
    std::string decision_id;  // the first that asked (for the log and the reports)
    std::string task;
    std::string workspace;
    loop::UvHandle<uv_timer_t> timer;
  };

  Executor(uv_loop_t* loop, ExecutorOptions options);
  void connect();
  void schedule_reconnect();
  void on_line(std::string_view line);
  void enqueue(const std::string& key, Job job);
  void pump();
  void start_job(const std::string& key);
  void job_done(const std::string& key);
  // Runs `hermes kanban --board=B show --json -- T`, then `then` with the parsed view.
  // A run_ended for the task while the read was out reads it again (at most twice more).
  void show(const std::string& board, const std::string& task, std::int64_t run,
            std::function<void(const TaskView&)> then, int again = 0);
  // Runs the plan's commands in order, then `then`.
  void run_commands(const std::string& decision_id, const std::string& board, const std::string& task,
                    std::vector<HermesCommand> commands, std::function<void()> then);
  void run_preflight(const decide::Decision& d, std::function<void(bool, const std::string&)> then);
  void record(const std::string& decision_id, const std::string& task, const std::string& shown,
              const loop::ChildOutcome& r);
  void arm(Timer& t);
  void fire(const std::string& decision_id);
  void release_due();
  // A decision waits for Hermes to end its run; replan() queues it again.
  void wait_for_hermes(const decide::Decision& d);
  void arm(Wait& w);
  void replan(const std::string& decision_id, bool wait_over);
  void request_dispatch(const std::string& decision_id, const std::string& board, const std::string& task,
                        const std::string& workspace);
  void flush_reports(const std::string& board, const std::string& workspace);
  void load_state();
  void save_state();
  // act.json is written at most every 100 ms (each write fsyncs): the loop stays free for
  // timers and the dispatcher's children; a stop writes it at once.
  void mark_dirty();
  void remember(const std::string& id);
  std::string state_path() const { return o_.state_dir + "/act.json"; }
  void stopped();

  uv_loop_t* loop_;
  ExecutorOptions o_;
  artifacts::WorkspaceRoots workspace_roots_;
  std::unique_ptr<loop::AsyncChildRunner> children_;
  loop::UvHandle<uv_pipe_t> conn_;
  loop::UvHandle<uv_timer_t> reconnect_;
  loop::UvHandle<uv_timer_t> stop_deadline_;
  loop::UvHandle<uv_timer_t> save_timer_;
  loop::UvHandle<uv_timer_t> batch_timer_;
  std::unique_ptr<report::ReportQueue> reports_;
  std::string inbuf_;
  std::uint64_t reconnect_ms_ = 500;
  bool subscribed_ = false;
  // Work: one queue per task (its commands never interleave), `parallel` tasks at once.
  std::map<std::string, std::deque<Job>> queues_;
  std::set<std::string> busy_;
  // Seqs of decisions received but not yet applied: act.json's last_seq stays below the
  // oldest, so a stop (or a crash) before a decision is applied replays it.
  std::multiset<std::uint64_t> pending_seqs_;
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  bool pumping_ = false;                             // pump() is running (a job ended inside it)
  bool pump_again_ = false;                          // ... and asked for another pass
  std::vector<std::string> due_;                     // timers due in this loop turn
  std::map<std::string, DispatchSlot> dispatches_;   // by board; map nodes never move
  std::map<std::string, std::string> workspace_of_;  // decision id -> its task's workspace (for reports)
  // Persisted state.
  bool started_ = false;  // false: the first start subscribes from now on
  std::uint64_t last_seq_ = 0;
  std::deque<std::string> applied_order_;
  std::set<std::string> applied_;
  std::map<std::string, Timer> timers_;  // by decision id; map nodes never move
  std::map<std::string, Wait> waits_;    // by decision id
  // board/task -> how many run_ended messages came for it: a `show` out while one came
  // may have read the task before Hermes's tick moved it, and is read again.
  std::map<std::string, std::uint64_t> moves_;
  std::vector<report::CommandRow> pending_rows_;
  std::uint64_t commands_ = 0;
  std::uint64_t failed_commands_ = 0;
  std::uint64_t refused_ = 0;
  std::int64_t max_late_ms_ = 0;
};

}  // namespace medic::act
