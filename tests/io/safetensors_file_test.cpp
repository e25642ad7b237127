// Memory-mapped files and the writer: round trips, bytes identical to the file, atomic replacement.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

// Reads `bytes` at `offset` with pread, independently of the mapping.
std::vector<uint8_t> pread_bytes(const fs::path& file, uint64_t offset, size_t bytes) {
  int fd = ::open(file.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  std::vector<uint8_t> out(bytes);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out.data() + done, bytes - done, off_t(offset + done));
    if (n <= 0) break;
    done += size_t(n);
  }
  ::close(fd);
  EXPECT_EQ(done, bytes);
  return out;
}

// An independent reading of a file's header: its length and JSON, with pread and plain nlohmann parsing.
struct RawHeader {
  uint64_t length = 0;
  nlohmann::json json;
  // Where a tensor's bytes start in the file: 8 + header length + data_offsets[0].
  uint64_t offset_of(const std::string& name) const {
    return 8 + length + json.at(name).at("data_offsets").at(0).get<uint64_t>();
  }
};

RawHeader read_raw_header(const fs::path& file) {
  auto length_bytes = pread_bytes(file, 0, 8);
  RawHeader h;
  for (int i = 7; i >= 0; --i) h.length = (h.length << 8) | length_bytes[size_t(i)];
  auto header = pread_bytes(file, 8, h.length);
  h.json = nlohmann::json::parse(header.begin(), header.end());
  return h;
}

TEST(SafetensorsFile, WriterRoundTripsEveryDtypeAndMetadata) {
  test::ScratchDir dir;
  std::vector<TensorToWrite> tensors = {
      test::patterned_tensor("w.f32", DType::F32, {3, 5}), test::patterned_tensor("w.f16", DType::F16, {7}),
      test::patterned_tensor("w.bf16", DType::BF16, {2, 2, 3}), test::patterned_tensor("ids", DType::I32, {9}),
      test::patterned_tensor("mask", DType::U8, {13}), test::patterned_tensor("empty", DType::F32, {0, 4}),
      test::patterned_tensor("scalar", DType::F32, {})};
  write_safetensors(dir / "t.safetensors", tensors, {{"format", "pt"}});

  auto file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const auto& t : tensors) {
    const TensorView& v = file->get(t.name);
    EXPECT_EQ(v.dtype, t.dtype) << t.name;
    EXPECT_EQ(v.shape, t.shape) << t.name;
    ASSERT_EQ(v.bytes, t.data.size()) << t.name;
    EXPECT_TRUE(std::equal(t.data.begin(), t.data.end(), v.data)) << t.name;
    EXPECT_EQ(v.file, dir / "t.safetensors");
  }
}

TEST(SafetensorsFile, WriterPadsTheHeaderToEightBytes) {
  test::ScratchDir dir;
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("x", DType::U8, {3})});
  auto bytes = test::read_file_bytes(dir / "t.safetensors");
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes[0] % 8, 0);
  EXPECT_EQ(SafetensorsFile::open(dir / "t.safetensors")->get("x").file_offset % 8, 0u);
}

TEST(SafetensorsFile, WriterReplacesAtomicallyAndLeavesNoTemporaryFile) {
  test::ScratchDir dir;
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("old", DType::U8, {3})});
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("new", DType::U8, {4})});
  auto file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_TRUE(file->has("new"));
  EXPECT_FALSE(file->has("old"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SafetensorsFile, WriterRejectsInconsistentTensorsWithoutTouchingTheTarget) {
  test::ScratchDir dir;
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("keep", DType::U8, {3})});
  TensorToWrite bad = test::patterned_tensor("bad", DType::F32, {4});
  bad.data.pop_back();
  EXPECT_THROW(write_safetensors(dir / "t.safetensors", {bad}), InputError);
  auto dup = test::patterned_tensor("a", DType::U8, {1});
  EXPECT_THROW(write_safetensors(dir / "t.safetensors", {dup, dup}), InputError);
  EXPECT_TRUE(SafetensorsFile::open(dir / "t.safetensors")->has("keep"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SafetensorsFile, WriterFailsCleanlyInAMissingDirectory) {
  test::ScratchDir dir;
  EXPECT_THROW(write_safetensors(dir / "no" / "t.safetensors", {test::patterned_tensor("x", DType::U8, {1})}),
               RuntimeFailure);
}

TEST(SafetensorsFile, OpenNamesTheFileOnErrors) {
  test::ScratchDir dir;
  try {
    SafetensorsFile::open(dir / "absent.safetensors");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.safetensors does not exist"), std::string::npos);
  }
  test::write_file(dir / "short.safetensors", std::string("\x05\x00", 2));
  try {
    SafetensorsFile::open(dir / "short.safetensors");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "short.safetensors").string() + ": file is 2 bytes"), std::string::npos);
  }
  EXPECT_THROW(SafetensorsFile::open(dir.path()), InputError);  // a directory
  test::write_file(dir / "empty.safetensors", std::string());
  EXPECT_THROW(SafetensorsFile::open(dir / "empty.safetensors"), InputError);
}

TEST(SafetensorsFile, TruncatedFileIsRejected) {
  test::ScratchDir dir;
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("x", DType::F32, {64})});
  fs::resize_file(dir / "t.safetensors", fs::file_size(dir / "t.safetensors") - 1);
  try {
    SafetensorsFile::open(dir / "t.safetensors");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'x' has data_offsets [0, 256] past the end"), std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsFile, GetNamesFileAndTensor) {
  test::ScratchDir dir;
  write_safetensors(dir / "t.safetensors", {test::patterned_tensor("x", DType::U8, {1})});
  try {
    SafetensorsFile::open(dir / "t.safetensors")->get("nope");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.safetensors: no tensor 'nope'"), std::string::npos);
  }
}

TEST(SafetensorsFile, TinyATensorsAreBitIdenticalToTheFileBytes) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  for (const char* component : {"transformer", "vae", "text_encoder"}) {
    auto store = TensorStore::open_dir(test::tiny_a_dir() / "model" / component);
    ASSERT_GT(store.size(), 0u);
    std::map<fs::path, RawHeader> headers;
    for (const auto& file : store.files()) headers[file->path()] = read_raw_header(file->path());
    for (const auto& name : store.names()) {
      const TensorView& v = store.get(name);
      ASSERT_EQ(v.bytes, size_t(v.numel()) * dtype_size(v.dtype)) << name;
      uint64_t offset = headers.at(v.file).offset_of(name);
      ASSERT_EQ(v.file_offset, offset) << name;
      auto expected = pread_bytes(v.file, offset, v.bytes);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), v.data)) << component << " " << name;
    }
  }
}

TEST(SafetensorsFile, ReferenceFileWithInt32TokenIdsOpens) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto file = SafetensorsFile::open(test::tiny_a_dir() / "reference" / "reference.safetensors");
  const TensorView& ids = file->get("tokens.prompt.input_ids");
  EXPECT_EQ(ids.dtype, DType::I32);
  EXPECT_GT(ids.numel(), 0);
}

}  // namespace
}  // namespace qi
