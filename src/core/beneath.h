#pragma once
// Path resolution that never leaves a directory and never follows a link (DESIGN.md
// §6b). Workers are AI agents running arbitrary tools: their logs, workspaces and state
// files may be links (to /etc/shadow), FIFOs or `../` paths, and medic may run as root.
// Everything medic opens on their behalf is opened *beneath* a directory medic trusts
// (an operator-configured root, opened once), one component at a time, refusing:
// - absolute paths and `..` components (lexically, before any syscall);
// - a symbolic link anywhere on the way, the last component included;
// - anything that is not what the caller asked for (a FIFO where a file was expected).
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) does it in one
// call on Linux >= 5.6; elsewhere each component is opened with openat(O_NOFOLLOW), which
// is race-free too: a swapped-in link is refused by the open itself, never followed.
// Thread: any. Errors: Result, with ErrorCode::InvalidArgument for a refused path.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace medic::core {

/// Splits a relative path into its components; empty components and "." are dropped.
/// Fails for an absolute path, a ".." component, a NUL byte or an empty result.
[[nodiscard]] Result<std::vector<std::string>> split_relative(std::string_view rel);

/// Lexically normalises an absolute path ("/a//b/./c/" -> "/a/b/c"); fails for a
/// relative path, a ".." component or a NUL byte. "/" stays "/".
[[nodiscard]] Result<std::string> normalize_absolute(std::string_view path);

/// `path` relative to `root` when `path` is `root` itself ("") or lies beneath it
/// (lexically, both normalised absolute paths); fails otherwise.
[[nodiscard]] Result<std::string> relative_to(std::string_view root, std::string_view path);

/// Opens a trusted directory (an operator-configured root: links in its own path are
/// the operator's choice and followed).
[[nodiscard]] Result<UniqueFd> open_trusted_dir(const std::string& path);

/// Opens `rel` beneath the directory `dirfd` with `flags` (O_CLOEXEC and O_NOFOLLOW are
/// always added). Every component must be reached without a link and without leaving
/// `dirfd`. An empty `rel` (or ".") reopens `dirfd` itself with `flags`.
[[nodiscard]] Result<UniqueFd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode = 0);

/// Opens the directory `rel` beneath `dirfd`, creating missing components (mode 0755)
/// when `create` is set; a link or non-directory on the way is refused.
[[nodiscard]] Result<UniqueFd> open_dir_beneath(int dirfd, std::string_view rel, bool create);

/// The names in the directory `dirfd` ("." and ".." left out), sorted.
[[nodiscard]] Result<std::vector<std::string>> list_dir(int dirfd);

/// True when `name` is a single path component: non-empty, not "." or "..", no '/'
/// and no NUL.
bool is_single_component(std::string_view name);

}  // namespace medic::core
