// write_safetensors: header padded to 8 bytes, tensors stored back to back in the given order, written to a
// temporary file that replaces the target only once complete.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

namespace qi {

namespace {

// The format recommends padding the header so the data area starts 8-byte aligned.
constexpr size_t kHeaderAlignment = 8;

class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& target)
      : target_(target), path_(target.string() + ".tmp." + std::to_string(::getpid())) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot be created");
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void write(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot be written");
      p += n;
      size -= size_t(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail("cannot be flushed");
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot be closed");
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail("cannot be renamed into place");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw RuntimeFailure("writing " + target_.string() + ": temporary file " + path_ + " " + what + " (" +
                         std::strerror(errno) + ")");
  }

  std::filesystem::path target_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string where = "writing " + path.string() + ": tensor '" + t.name + "'";
    if (t.name == "__metadata__") throw InputError(where + ": the name is reserved for metadata");
    if (!names.insert(t.name).second) throw InputError(where + " appears twice");
    for (int64_t d : t.shape)
      if (d < 0) throw InputError(where + " has negative shape " + shape_str(t.shape));
    uint64_t expected = uint64_t(shape_numel(t.shape)) * dtype_size(t.dtype);
    if (t.data.size() != expected)
      throw InputError(where + " has " + std::to_string(t.data.size()) + " bytes, " + std::string(dtype_name(t.dtype)) +
                       shape_str(t.shape) + " needs " + std::to_string(expected));
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((kHeaderAlignment - text.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(text.size()) >> (8 * i));

  TempFile out(path);
  out.write(length, sizeof length);
  out.write(text.data(), text.size());
  for (const auto& t : tensors) out.write(t.data.data(), t.data.size());
  out.commit();
}

}  // namespace qi
