#include "core/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace medic::core {
namespace {

std::string why(int err) {
  switch (err) {
    case ELOOP:
      return "a symbolic link on the way (links are not followed)";
    case EXDEV:
      return "it leaves its directory";
    case ENOTDIR:
      return "a symbolic link or a non-directory on the way (links are not followed)";
    default:
      return std::strerror(err);
  }
}

// openat2 is tried once; a kernel without it (ENOSYS), or a seccomp filter that refuses
// it (EPERM), makes every later call take the component-by-component path at once.
std::atomic<bool> g_no_openat2{false};

int try_openat2(int dirfd, const std::string& rel, int flags, mode_t mode) {
  if (g_no_openat2.load(std::memory_order_relaxed)) return -ENOSYS;
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    const long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR) continue;
    // EAGAIN: RESOLVE_CACHED only; ENOSYS/EPERM: not available here.
    if (errno == ENOSYS || errno == EPERM) {
      g_no_openat2.store(true, std::memory_order_relaxed);
      return -ENOSYS;
    }
    return -errno;
  }
}

}  // namespace

bool is_single_component(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

Result<std::vector<std::string>> split_relative(std::string_view rel) {
  if (rel.find('\0') != std::string_view::npos) return fail(ErrorCode::InvalidArgument, "a NUL byte in the path");
  if (!rel.empty() && rel.front() == '/')
    return fail(ErrorCode::InvalidArgument, std::string(rel) + ": absolute, not relative");
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= rel.size()) {
    const std::size_t j = std::min(rel.find('/', i), rel.size());
    const std::string_view c = rel.substr(i, j - i);
    if (c == "..") return fail(ErrorCode::InvalidArgument, std::string(rel) + ": a '..' component");
    if (!c.empty() && c != ".") parts.emplace_back(c);
    i = j + 1;
  }
  return parts;
}

Result<std::string> normalize_absolute(std::string_view path) {
  if (path.empty() || path.front() != '/')
    return fail(ErrorCode::InvalidArgument, std::string(path) + ": not an absolute path");
  auto parts = split_relative(path.substr(1));
  if (!parts) return tl::unexpected(parts.error());
  std::string out;
  for (const auto& p : *parts) out += "/" + p;
  return out.empty() ? std::string("/") : out;
}

Result<std::string> relative_to(std::string_view root, std::string_view path) {
  auto r = normalize_absolute(root);
  if (!r) return tl::unexpected(r.error());
  auto p = normalize_absolute(path);
  if (!p) return tl::unexpected(p.error());
  if (*p == *r) return std::string();
  const std::string prefix = *r == "/" ? std::string("/") : *r + "/";
  if (p->compare(0, prefix.size(), prefix) != 0) return fail(ErrorCode::InvalidArgument, *p + ": not beneath " + *r);
  return p->substr(prefix.size());
}

Result<UniqueFd> open_trusted_dir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, path + ": " + std::strerror(errno));
  return UniqueFd(fd);
}

Result<UniqueFd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) {
  auto parts = split_relative(rel);
  if (!parts) return tl::unexpected(parts.error());
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (parts->empty()) {
    // The directory itself, with the caller's flags (".": no component to follow).
    const int fd = ::openat(dirfd, ".", flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
    if (fd < 0) return fail(ErrorCode::Io, std::string("'.': ") + why(errno));
    return UniqueFd(fd);
  }
  std::string clean;
  for (const auto& p : *parts) clean += (clean.empty() ? "" : "/") + p;
  const int fast = try_openat2(dirfd, clean, flags, mode);
  if (fast >= 0) return UniqueFd(fast);
  if (fast != -ENOSYS) {
    return fail(-fast == ENOENT                      ? ErrorCode::NotFound
                : (-fast == ELOOP || -fast == EXDEV) ? ErrorCode::InvalidArgument
                                                     : ErrorCode::Io,
                clean + ": " + why(-fast));
  }
  // Component by component: each directory opened O_NOFOLLOW relative to the last, so a
  // link swapped in at any moment is refused by that open, never followed.
  UniqueFd cur;
  int at = dirfd;
  for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
    const int fd = ::openat(at, (*parts)[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      return fail(e == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, clean + ": " + why(e));
    }
    cur.reset(fd);
    at = fd;
  }
  const int fd = ::openat(at, parts->back().c_str(), flags, mode);
  if (fd < 0) {
    const int e = errno;
    return fail(e == ENOENT  ? ErrorCode::NotFound
                : e == ELOOP ? ErrorCode::InvalidArgument
                             : ErrorCode::Io,
                clean + ": " + why(e));
  }
  return UniqueFd(fd);
}

Result<UniqueFd> open_dir_beneath(int dirfd, std::string_view rel, bool create) {
  auto parts = split_relative(rel);
  if (!parts) return tl::unexpected(parts.error());
  if (!create) return open_beneath(dirfd, rel, O_RDONLY | O_DIRECTORY);
  UniqueFd cur;
  int at = dirfd;
  std::string done;
  for (const auto& p : *parts) {
    done += (done.empty() ? "" : "/") + p;
    if (::mkdirat(at, p.c_str(), 0755) != 0 && errno != EEXIST) {
      return fail(ErrorCode::Io, done + ": cannot create: " + std::string(std::strerror(errno)));
    }
    // mkdirat never follows a link at the name; the open below refuses one that is there.
    const int fd = ::openat(at, p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      return fail(e == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, done + ": " + why(e));
    }
    cur.reset(fd);
    at = fd;
  }
  if (!cur) return open_beneath(dirfd, "", O_RDONLY | O_DIRECTORY);
  return cur;
}

Result<std::vector<std::string>> list_dir(int dirfd) {
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::Io, std::string("list: ") + std::strerror(errno));
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return fail(ErrorCode::Io, std::string("list: ") + std::strerror(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return fail(ErrorCode::Io, std::string("list: ") + std::strerror(err));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace medic::core
