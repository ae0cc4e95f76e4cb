#include "state/checkpoint.h"

#include <simdjson.h>

#include "core/json_writer.h"
#include "match/hit.h"

namespace medic::state {
namespace {

bool i64(simdjson::dom::element e, const char* key, std::int64_t& out) {
  return e[key].get_int64().get(out) == simdjson::SUCCESS;
}

bool str(simdjson::dom::element e, const char* key, std::string& out) {
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return false;
  out = std::string(v);
  return true;
}

}  // namespace

std::string encode(const Checkpoint& cp) {
  std::string out;
  // Sized up front: a file entry is its path and about 100 bytes more. Growing by doubling
  // left up to twice the text allocated, and the parked logs' file can be megabytes.
  std::size_t guess =
      4096 + 64 * (cp.cursors.size() + cp.attempts.size() + cp.unhealthy_until.size()) + 300 * cp.runs.size();
  for (const auto& f : cp.files) guess += f.path.size() + 112;
  out.reserve(guess);
  core::JsonWriter w(out);
  w.begin_object();
  w.key("boards").begin_object();
  for (const auto& [slug, cursor] : cp.cursors) w.key(slug).value(cursor);
  w.end_object();
  w.key("files").begin_array();
  for (const auto& f : cp.files) {
    w.begin_object();
    w.key("path").value(f.path);
    w.key("dev").value(static_cast<std::int64_t>(f.dev));
    w.key("ino").value(static_cast<std::int64_t>(f.ino));
    w.key("offset").value(static_cast<std::int64_t>(f.offset));
    w.key("line").value(static_cast<std::int64_t>(f.line));
    if (f.fingerprint != 0) w.key("fp").value(static_cast<std::int64_t>(f.fingerprint));
    if (!f.board.empty()) w.key("board").value(f.board);
    w.end_object();
  }
  w.end_array();
  w.key("unhealthy_until").begin_object();
  for (const auto& [p, t] : cp.unhealthy_until) w.key(p).value(t);
  w.end_object();
  w.key("attempts").begin_object();
  for (const auto& [k, times] : cp.attempts) {
    w.key(k).begin_array();
    for (auto t : times) w.value(t);
    w.end_array();
  }
  w.end_object();
  w.key("runs").begin_array();
  for (const auto& r : cp.runs) {
    w.begin_object();
    w.key("key").value(r.key);
    w.key("run_id").value(r.run_id);
    w.key("started_at").value(r.started_at);
    w.key("provider").value(r.provider);
    w.key("live").value(r.live);
    w.key("finished").value(r.finished);
    w.key("evidence").begin_array();
    for (const auto& e : r.evidence) {
      w.begin_object();
      w.key("rule").value(e.rule);
      w.key("path").value(e.path);
      w.key("line").value(static_cast<std::int64_t>(e.line));
      w.key("text").value(e.text);
      w.key("fields");
      match::write_fields(w, e.fields);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  out += '\n';
  return out;
}

core::Result<Parsed> parse(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string json(text);
  if (parser.parse(json).get(doc) != simdjson::SUCCESS || !doc.is_object())
    return core::fail(core::ErrorCode::Parse, "not a JSON object");
  Parsed p;
  Checkpoint& cp = p.checkpoint;
  simdjson::dom::object boards;
  if (doc["boards"].get_object().get(boards) == simdjson::SUCCESS) {
    for (auto [k, v] : boards) {
      std::int64_t cursor = 0;
      if (v.get_int64().get(cursor) == simdjson::SUCCESS && cursor >= 0)
        cp.cursors[std::string(k)] = cursor;
      else
        ++p.bad_entries;
    }
  }
  simdjson::dom::array files;
  if (doc["files"].get_array().get(files) == simdjson::SUCCESS) {
    for (auto f : files) {
      std::int64_t dev = 0, ino = 0, offset = 0, line = 0, fp = 0;
      FileState fs;
      if (!i64(f, "dev", dev) || !i64(f, "ino", ino) || !i64(f, "offset", offset) || !i64(f, "line", line) ||
          !str(f, "path", fs.path) || offset < 0 || line < 1) {
        ++p.bad_entries;
        continue;
      }
      i64(f, "fp", fp);  // absent: an older medic, or mid-line
      str(f, "board", fs.board);
      fs.dev = static_cast<std::uint64_t>(dev);
      fs.ino = static_cast<std::uint64_t>(ino);
      fs.offset = static_cast<std::uint64_t>(offset);
      fs.line = static_cast<std::uint64_t>(line);
      fs.fingerprint = static_cast<std::uint64_t>(fp);
      cp.files.push_back(std::move(fs));
    }
  }
  simdjson::dom::object health;
  if (doc["unhealthy_until"].get_object().get(health) == simdjson::SUCCESS) {
    for (auto [k, v] : health) {
      std::int64_t until = 0;
      if (v.get_int64().get(until) == simdjson::SUCCESS)
        cp.unhealthy_until[std::string(k)] = until;
      else
        ++p.bad_entries;
    }
  }
  simdjson::dom::object attempts;
  if (doc["attempts"].get_object().get(attempts) == simdjson::SUCCESS) {
    for (auto [k, v] : attempts) {
      simdjson::dom::array list;
      if (v.get_array().get(list) != simdjson::SUCCESS) {
        ++p.bad_entries;
        continue;
      }
      auto& times = cp.attempts[std::string(k)];
      for (auto t : list) {
        std::int64_t at = 0;
        if (t.get_int64().get(at) == simdjson::SUCCESS)
          times.push_back(at);
        else
          ++p.bad_entries;
      }
    }
  }
  simdjson::dom::array runs;
  if (doc["runs"].get_array().get(runs) == simdjson::SUCCESS) {
    for (auto r : runs) {
      RunState run;
      simdjson::dom::array evidence;
      if (!str(r, "key", run.key) || !i64(r, "run_id", run.run_id) ||
          r["evidence"].get_array().get(evidence) != simdjson::SUCCESS) {
        ++p.bad_entries;
        continue;
      }
      i64(r, "started_at", run.started_at);
      str(r, "provider", run.provider);
      bool flag = false;
      if (r["live"].get_bool().get(flag) == simdjson::SUCCESS) run.live = flag;
      if (r["finished"].get_bool().get(flag) == simdjson::SUCCESS) run.finished = flag;
      for (auto e : evidence) {
        decide::Evidence ev;
        std::int64_t line = 0;
        simdjson::dom::object fields;
        if (!str(e, "rule", ev.rule) || !str(e, "path", ev.path) || !i64(e, "line", line) || !str(e, "text", ev.text) ||
            e["fields"].get_object().get(fields) != simdjson::SUCCESS) {
          ++p.bad_entries;
          continue;
        }
        ev.line = static_cast<std::uint64_t>(line);
        for (auto [fk, fv] : fields) {
          std::int64_t n = 0;
          double d = 0;
          std::string_view t;
          if (fv.get_int64().get(n) == simdjson::SUCCESS)
            ev.fields.push_back(match::Field{std::string(fk), n});
          else if (fv.get_double().get(d) == simdjson::SUCCESS)
            ev.fields.push_back(match::Field{std::string(fk), d});
          else if (fv.get_string().get(t) == simdjson::SUCCESS)
            ev.fields.push_back(match::Field{std::string(fk), std::string(t)});
          else
            ++p.bad_entries;
        }
        run.evidence.push_back(std::move(ev));
      }
      cp.runs.push_back(std::move(run));
    }
  }
  return p;
}

}  // namespace medic::state
