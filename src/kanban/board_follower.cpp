#include "kanban/board_follower.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "loop/handles.h"

namespace medic::kanban {
namespace {

void start_or_log(const loop::UvHandle<uv_timer_t>& t, uv_timer_cb cb, std::uint64_t ms) {
  if (auto ok = loop::start_timer(t, cb, ms); !ok) spdlog::error("event loop: {}", ok.error().message);
}

// Makes `slot`'s timer on first use; false (logged) when libuv refuses it.
bool ensure_timer(loop::UvHandle<uv_timer_t>& slot, uv_loop_t* loop, void* owner) {
  if (slot) return true;
  auto made = loop::make_timer(loop, owner);
  if (!made) {
    spdlog::error("event loop: {}", made.error().message);
    return false;
  }
  slot = std::move(*made);
  return true;
}

}  // namespace

BoardFollower::BoardFollower(uv_loop_t* loop, std::string slug, std::string db_path, std::int64_t cursor, bool& reading,
                             Callbacks callbacks)
    : loop_(loop),
      slug_(std::move(slug)),
      db_path_(std::move(db_path)),
      cursor_(cursor),
      reading_(reading),
      cb_(std::move(callbacks)) {}

void BoardFollower::notified() {
  read();
  if (!ensure_timer(settle_, loop_, this)) return;
  settle_step_ = 0;
  start_or_log(settle_, &BoardFollower::on_settle, kSettleMs[0]);
}

void BoardFollower::on_settle(uv_timer_t* t) {
  auto* self = static_cast<BoardFollower*>(t->data);
  self->read();
  if (++self->settle_step_ < kSettleMs.size())
    start_or_log(self->settle_, &BoardFollower::on_settle,
                 kSettleMs[self->settle_step_] - kSettleMs[self->settle_step_ - 1]);
}

void BoardFollower::read_soon() {
  if (!ensure_timer(busy_retry_, loop_, this)) return;
  if (uv_is_active(busy_retry_.handle())) return;
  start_or_log(
      busy_retry_, [](uv_timer_t* t) { static_cast<BoardFollower*>(t->data)->read(); }, 50);
}

bool BoardFollower::drain() {
  if (!reading_) read();
  return read_complete_;
}

// Opens (or reopens) the connection when needed; false when there is no board to read.
bool BoardFollower::open_reader() {
  if (reader_ && !opened_with_shm_ && ::access((db_path_ + "-shm").c_str(), F_OK) == 0) reader_.reset();
  // A kanban.db deleted and made again under the same name (a restored or recreated
  // board): the old connection reads the unlinked file forever. Read the new one, all of it.
  struct stat db_st {};
  const bool db_there = ::stat(db_path_.c_str(), &db_st) == 0;
  const core::FileId db_now{static_cast<std::uint64_t>(db_st.st_dev), static_cast<std::uint64_t>(db_st.st_ino)};
  if (reader_ && db_there && !(db_now == db_id_)) {
    spdlog::warn("board={} kanban.db was replaced; reading the new one from its first event", slug_);
    reader_.reset();
    cursor_ = 0;
    cb_.on_moved();
  }
  if (reader_) return true;
  opened_with_shm_ = ::access((db_path_ + "-shm").c_str(), F_OK) == 0;
  if (!db_there) {
    made_since_ = cursor_ < 0;
    return false;
  }
  db_id_ = db_now;
  auto r = BoardReader::open(db_path_);
  if (!r) {
    spdlog::warn("board={} open failed: {}", slug_, r.error().message);
    return false;
  }
  reader_.emplace(std::move(*r));
  if (cursor_ < 0) {
    cursor_ = made_since_ ? 0 : cb_.first_cursor(*reader_);
    cb_.on_moved();
  }
  spdlog::debug("board={} db={} cursor={}", slug_, db_path_, cursor_);
  return true;
}

void BoardFollower::read() {
  if (reading_ || !open_reader()) return;
  reading_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{reading_};
  for (;;) {
    auto events = reader_->events_after(cursor_);
    if (!events) {
      if (events.error().code == core::ErrorCode::Busy) {
        // Another process holds the board's lock (a DELETE-mode commit, an EXCLUSIVE
        // transaction): read again shortly, without blocking the loop meanwhile.
        read_complete_ = false;
        read_soon();
        return;
      }
      spdlog::warn("board={} read failed: {}", slug_, events.error().message);
      return;
    }
    if (events->empty()) {
      read_complete_ = true;
      reading_ = false;  // what waited for the board may read boards again
      cb_.on_caught_up();
      return;
    }
    for (const auto& e : *events) {
      spdlog::trace("board={} event={} kind={} task={} run={}", slug_, e.id, e.kind, e.task_id, e.run_id.value_or(-1));
      cursor_ = e.id;
      cb_.on_moved();
      cb_.on_event(e);
    }
  }
}

}  // namespace medic::kanban
