#include "app/subscribe_command.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "app/config.h"

namespace medic::app {

int run_subscribe(const cli::SubscribeOptions& options) {
  const std::string path = options.socket ? *options.socket : default_socket_path();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "medic: socket path too long (%zu bytes): %s\n", path.size(), path.c_str());
    return 2;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "medic: cannot connect to %s: %s (is `medic run` running?)\n", path.c_str(),
                 std::strerror(errno));
    return 2;
  }
  if (options.since) {
    const std::string req = "{\"op\":\"subscribe\",\"since\":" + std::to_string(*options.since) + "}\n";
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      std::fprintf(stderr, "medic: write to %s failed\n", path.c_str());
      return 2;
    }
  }
  std::string buf;
  char chunk[65536];
  std::uint64_t printed = 0;
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::fwrite(buf.data(), 1, nl + 1, stdout);
      std::fflush(stdout);
      buf.erase(0, nl + 1);
      ++printed;
      if (options.count && printed >= *options.count) {
        ::close(fd);
        return 0;
      }
    }
  }
  ::close(fd);
  return 0;
}

}  // namespace medic::app
