// parse_show on `hermes kanban show --json` output in the shape Hermes prints it
// (hermes_cli/kanban.py:1642-1679 at aaf96885, json.dumps(indent=2)): status, overrides,
// the newest run and whether it is open, whether Hermes gave up after the decision's run
// began; a warning line before the JSON and output that is not JSON.
#include "act/task_show.h"

#include <gtest/gtest.h>

namespace medic::act {
namespace {

// Two runs (the newest still open), and Hermes's breaker tripping after run 7 began.
constexpr const char* kShow = R"({
  "task": {
    "id": "t_77ac35a7",
    "title": "write the report",
    "status": "blocked",
    "assignee": "researcher",
    "model_override": "gpt-5.5",
    "provider_override": "openrouter"
  },
  "latest_summary": null,
  "parents": [],
  "children": [],
  "comments": [],
  "events": [
    {"kind": "claimed", "payload": null, "created_at": 1780000000, "run_id": 6},
    {"kind": "crashed", "payload": {"rc": 1}, "created_at": 1780000100, "run_id": 6},
    {"kind": "claimed", "payload": null, "created_at": 1780000200, "run_id": 7},
    {"kind": "gave_up", "payload": {"failures": 3}, "created_at": 1780000300, "run_id": null}
  ],
  "runs": [
    {"id": 6, "profile": "researcher", "step_key": null, "status": "crashed", "outcome": "crashed",
     "summary": null, "error": "rc=1", "metadata": null, "worker_pid": 4242,
     "started_at": 1780000000, "ended_at": 1780000100},
    {"id": 7, "profile": "researcher", "step_key": null, "status": "running", "outcome": null,
     "summary": null, "error": null, "metadata": null, "worker_pid": 4343,
     "started_at": 1780000200, "ended_at": null}
  ]
}
)";

TEST(TaskShowTest, ReadsStatusOverridesAndTheNewestRun) {
  const TaskView t = parse_show(kShow, 7);
  EXPECT_TRUE(t.exists);
  EXPECT_EQ(t.status, "blocked");
  EXPECT_EQ(t.model_override, "gpt-5.5");
  EXPECT_EQ(t.provider_override, "openrouter");
  EXPECT_EQ(t.latest_run, 7);
  EXPECT_TRUE(t.latest_run_open);
}

TEST(TaskShowTest, GaveUpCountsOnlyAfterTheDecisionsRunBegan) {
  EXPECT_TRUE(parse_show(kShow, 7).gave_up);
  // A decision about a run that never appears in the events: the give-up is not about it.
  EXPECT_FALSE(parse_show(kShow, 9).gave_up);
  // Released since: an unblocked event after the give-up.
  std::string released = kShow;
  released.replace(released.find("\n  ],\n  \"runs\""), 0,
                   ",\n    {\"kind\": \"unblocked\", \"payload\": null, \"created_at\": 1780000400, \"run_id\": null}");
  EXPECT_FALSE(parse_show(released, 7).gave_up);
}

TEST(TaskShowTest, SkipsAWarningBeforeTheJsonAndRefusesWhatIsNotATask) {
  const TaskView warned = parse_show(std::string("warning: config.yaml has an unknown key\n") + kShow, 7);
  EXPECT_TRUE(warned.exists);
  EXPECT_EQ(warned.status, "blocked");
  EXPECT_FALSE(parse_show("no such task: t_missing\n", 7).exists);
  EXPECT_FALSE(parse_show("{\"task\": {\"status\": ", 7).exists);
  EXPECT_FALSE(parse_show("", 7).exists);
}

}  // namespace
}  // namespace medic::act
