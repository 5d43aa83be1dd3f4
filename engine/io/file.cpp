// engine/io/file.cpp — see file.h. POSIX calls (open, write, fsync, rename) rather than
// std::ofstream, because a stream cannot fsync.
#include "engine/io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace mgf {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t k = ::read(fd, buf, sizeof buf);
    if (k == 0) break;
    if (k < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("error while reading " + path + ": " + std::strerror(e));
    }
    out.insert(out.end(), buf, buf + k);
  }
  ::close(fd);
  return out;
}

void write_file_atomic(const std::string& path, const void* data, size_t n, int64_t crash_after) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what, int e) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(what + ": " + std::strerror(e));
  };
  // A killed writer may have left <path>.tmp behind (possibly read-only or half-written):
  // start from nothing rather than write into it.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw std::runtime_error("cannot write " + tmp + " (does the directory exist and is it writable?): " +
                             std::strerror(errno));
  const auto* p = static_cast<const uint8_t*>(data);
  size_t off = 0;
  while (off < n) {
    // In chunks of at most 4 KiB, so a simulated crash can stop in the middle of the data.
    if (crash_after >= 0 && off >= static_cast<size_t>(crash_after)) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("simulated crash after " + std::to_string(off) + " bytes while writing " + tmp);
    }
    const ssize_t k = ::write(fd, p + off, std::min<size_t>(n - off, 4096));
    if (k < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      fail("error while writing " + tmp + " (disk full?)", e);
    }
    off += static_cast<size_t>(k);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    fail("fsync of " + tmp + " failed", e);
  }
  if (::close(fd) != 0) fail("error while closing " + tmp, errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path, errno);
  // Make the rename durable. Best effort: some file systems refuse fsync on a directory, and
  // by now the new file is in place, so a failure here is not reported as a failed write.
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

void write_bytes_atomic(const std::string& path, const std::vector<uint8_t>& bytes, int64_t crash_after) {
  const fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  write_file_atomic(path, bytes.data(), bytes.size(), crash_after);
}

}  // namespace mgf
