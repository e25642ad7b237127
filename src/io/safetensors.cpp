// SafetensorsFile: a read-only memory mapping of one .safetensors file with a validated header.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace qi {

namespace {

// Closes a file descriptor on every exit path; the mapping stays valid after close.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string origin = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw InputError("weights file " + origin + " does not exist");
    throw InputError("weights file " + origin + " cannot be opened (" + std::strerror(errno) + ")");
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError("weights file " + origin + " cannot be read (" + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode)) throw InputError("weights file " + origin + " is not a regular file");

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_size_ = size_t(st.st_size);
  if (file->map_size_ > 0) {
    void* map = ::mmap(nullptr, file->map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
      throw InputError("weights file " + origin + " cannot be mapped (" + std::strerror(errno) + ")");
    file->map_ = map;
  }
  const auto* base = static_cast<const uint8_t*>(file->map_);
  SafetensorsLayout layout = parse_safetensors_layout({base, file->map_size_}, origin);
  file->metadata_ = std::move(layout.metadata);
  for (auto& [name, entry] : layout.tensors) {
    TensorView v;
    v.name = name;
    v.dtype = entry.dtype;
    v.shape = std::move(entry.shape);
    v.file_offset = layout.data_start + entry.begin;
    v.data = base + v.file_offset;
    v.bytes = size_t(entry.end - entry.begin);
    v.file = path;
    file->tensors_.emplace(name, std::move(v));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InputError(path_.string() + ": no tensor '" + name + "'");
  return it->second;
}

}  // namespace qi
