#include "state/checkpoint_writer.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "core/atomic_file.h"

namespace medic::state {

struct CheckpointWriter::Work {
  uv_work_t req{};
  CheckpointWriter* self = nullptr;
  Checkpoint cp;
  std::optional<Checkpoint> side;
  core::UniqueFd journal;
  std::string error;
  bool side_failed = false;
  bool journal_failed = false;
};

CheckpointWriter::CheckpointWriter(uv_loop_t* loop, std::string path, Callbacks callbacks, std::string side_path)
    : loop_(loop), path_(std::move(path)), side_path_(std::move(side_path)), cb_(std::move(callbacks)) {}

void CheckpointWriter::save() {
  if (busy_) {
    again_ = true;
    return;
  }
  busy_ = true;
  auto w = std::make_unique<Work>();
  w->req.data = w.get();
  w->self = this;
  w->cp = cb_.snapshot();
  if (cb_.side && !side_path_.empty()) w->side = cb_.side(std::exchange(side_again_, false));
  w->journal = cb_.journal_sync();
  Work* queued = w.release();  // the after-work callback owns it once queued
  const int rc = uv_queue_work(
      loop_, &queued->req,
      [](uv_work_t* r) {
        auto* wk = static_cast<Work*>(r->data);
        if (wk->journal && ::fdatasync(wk->journal.get()) != 0) {
          wk->error = std::string("journal fdatasync: ") + std::strerror(errno);
          wk->journal_failed = true;
          wk->side_failed = wk->side.has_value();
          return;  // no checkpoint that the journal on disk may be behind
        }
        if (wk->side) {
          if (auto ok = core::write_file_atomically(wk->self->side_path_, encode(*wk->side), 0640); !ok) {
            wk->error = ok.error().message;
            wk->side_failed = true;
            return;  // state.json on disk still lists the newly parked logs as open
          }
        }
        if (auto ok = core::write_file_atomically(wk->self->path_, encode(wk->cp), 0640); !ok)
          wk->error = ok.error().message;
      },
      [](uv_work_t* r, int) {
        std::unique_ptr<Work> wk(static_cast<Work*>(r->data));
        wk->self->done(*wk);
      });
  if (rc == 0) return;
  // libuv refuses work only without a work callback: never here. Counted, and the next
  // save (a second later) tries again; the loop thread never writes in its place.
  w.reset(queued);
  busy_ = false;
  ++errors_;
  spdlog::error("checkpoint not written: uv_queue_work: {}", uv_strerror(rc));
}

void CheckpointWriter::done(Work& w) {
  busy_ = false;
  failed_last_ = !w.error.empty();
  if (w.side_failed) side_again_ = true;
  if (w.journal_failed && cb_.journal_unsynced) cb_.journal_unsynced();
  if (!w.error.empty()) {
    ++errors_;
    spdlog::error("checkpoint not written: {}", w.error);
  } else {
    ++writes_;
  }
  if (again_) {
    again_ = false;
    save();
  }
}

core::Result<void> CheckpointWriter::save_now() {
  // The write in flight lands first (and no other after it): the stop's state is the last
  // one written, not overwritten by an older copy finishing late.
  again_ = false;
  wait();
  if (cb_.side && !side_path_.empty()) {
    if (auto side = cb_.side(std::exchange(side_again_, false))) {
      if (auto ok = core::write_file_atomically(side_path_, encode(*side), 0640); !ok) {
        side_again_ = true;
        ++errors_;
        return ok;
      }
    }
  }
  auto ok = core::write_file_atomically(path_, encode(cb_.snapshot()), 0640);
  if (ok) {
    ++writes_;
  } else {
    ++errors_;
  }
  return ok;
}

core::Result<std::optional<Parsed>> load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<Parsed>{};
    return core::fail(core::ErrorCode::Io, path + ": " + std::strerror(errno));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::fail(core::ErrorCode::Io, path + ": cannot be opened");
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse(ss.str());
  if (!parsed) return tl::unexpected(parsed.error());
  return std::optional<Parsed>(std::move(*parsed));
}

}  // namespace medic::state
