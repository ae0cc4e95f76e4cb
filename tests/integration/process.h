#pragma once
// Runs a real program (the medic binary) for integration tests and captures its output.

#include <string>
#include <vector>

namespace medic::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

/// The whole file, or "" when it cannot be read.
std::string read_file(const std::string& path);

/// Runs argv[0] (a path) with `args`, feeding `input` on stdin; waits for it to exit.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = {});

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  /// A fresh directory inside `parent` (a workspace beneath a daemon's allowed roots).
  explicit TempDir(const std::string& parent);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

}  // namespace medic::testing
