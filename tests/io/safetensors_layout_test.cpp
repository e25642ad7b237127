// Header validation on in-memory images: every corrupt header is one InputError naming the tensor.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "temp_files.h"

namespace qi {
namespace {

using test::safetensors_image;

SafetensorsLayout parse(const std::vector<uint8_t>& image) { return parse_safetensors_layout(image, "mem.safetensors"); }

// Parses an image that must fail; returns the message.
std::string error_of(const std::vector<uint8_t>& image) {
  try {
    parse(image);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

TEST(SafetensorsLayout, ParsesAValidHeader) {
  auto image = safetensors_image(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[],"data_offsets":[12,16]},"c":{"dtype":"U8","shape":[0],"data_offsets":[16,16]}})",
      16);
  auto layout = parse(image);
  ASSERT_EQ(layout.tensors.size(), 3u);
  EXPECT_EQ(layout.metadata.at("format"), "pt");
  const auto& a = layout.tensors.at("a");
  EXPECT_EQ(a.dtype, DType::BF16);
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(a.begin, 0u);
  EXPECT_EQ(a.end, 12u);
  EXPECT_EQ(layout.tensors.at("b").shape, Shape{});
  EXPECT_EQ(layout.data_start, image.size() - 16);  // 16 data bytes follow the header
}

TEST(SafetensorsLayout, AcceptsEveryDtypeTheProjectReads) {
  for (auto [name, size] : {std::pair{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U8", 1}}) {
    std::string header = std::string(R"({"t":{"dtype":")") + name + R"(","shape":[3],"data_offsets":[0,)" +
                         std::to_string(3 * size) + "]}}";
    EXPECT_NO_THROW(parse(safetensors_image(header, size_t(3 * size)))) << name;
  }
}

TEST(SafetensorsLayout, RejectsFilesTooSmallForTheLengthField) {
  EXPECT_NE(error_of({1, 2, 3}).find("too small"), std::string::npos);
  EXPECT_NE(error_of({}).find("mem.safetensors: file is 0 bytes"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsHeaderLengthPastEndOfFile) {
  auto image = safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  image[0] = 0xff;  // claims 255+ bytes of header in a ~60-byte file
  EXPECT_NE(error_of(image).find("runs past the end"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsAbsurdHeaderLength) {
  std::vector<uint8_t> image = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  EXPECT_NE(error_of(image).find("exceeds the 100000000-byte limit"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsTruncatedData) {
  // The header promises 8 bytes of data, the file holds 5.
  auto image = safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 5);
  std::string msg = error_of(image);
  EXPECT_NE(msg.find("tensor 'a'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end of the 5-byte data area"), std::string::npos) << msg;
}

TEST(SafetensorsLayout, RejectsOffsetsBeyondTheDataArea) {
  auto image = safetensors_image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[1000,1004]}})", 16);
  EXPECT_NE(error_of(image).find("tensor 'a' has data_offsets [1000, 1004] past the end"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsOverlappingTensors) {
  auto image = safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 12);
  std::string msg = error_of(image);
  EXPECT_NE(msg.find("tensor 'b' overlaps tensor 'a'"), std::string::npos) << msg;
}

TEST(SafetensorsLayout, AllowsEmptyTensorsAnywhere) {
  auto image = safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}})",
                                 8);
  EXPECT_EQ(parse(image).tensors.size(), 2u);
}

TEST(SafetensorsLayout, RejectsByteSizeThatDisagreesWithShape) {
  auto image = safetensors_image(R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 8);
  std::string msg = error_of(image);
  EXPECT_NE(msg.find("tensor 'a' holds 8 bytes but BF16[2, 3] needs 12"), std::string::npos) << msg;
}

TEST(SafetensorsLayout, RejectsBeginAfterEnd) {
  auto image = safetensors_image(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 8);
  EXPECT_NE(error_of(image).find("begin after end"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsUnsupportedDtypesByName) {
  for (const char* dtype : {"F64", "I64", "BOOL", "F8_E4M3", "Q4"}) {
    std::string header = std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[1],"data_offsets":[0,8]}})";
    std::string msg = error_of(safetensors_image(header, 8));
    EXPECT_NE(msg.find(std::string("tensor 'w' has unsupported dtype ") + dtype), std::string::npos) << msg;
  }
}

TEST(SafetensorsLayout, RejectsMalformedJson) {
  std::string msg = error_of(safetensors_image(R"({"a":{"dtype":"F32",)", 0));
  EXPECT_NE(msg.find("mem.safetensors: safetensors header is not valid JSON"), std::string::npos) << msg;
  EXPECT_NE(error_of(safetensors_image("[1,2]", 0)).find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of(safetensors_image("", 0)).find("not valid JSON"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsDuplicateTensorNames) {
  auto image = safetensors_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                 R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                 2);
  EXPECT_NE(error_of(image).find("has the key 'a' twice"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsEntriesMissingAField) {
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    nlohmann::json entry = {{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {0, 1}}};
    entry.erase(field);
    std::string msg = error_of(safetensors_image(nlohmann::json{{"x", entry}}.dump(), 1));
    EXPECT_NE(msg.find(std::string("tensor 'x' has no ") + field), std::string::npos) << msg;
  }
}

TEST(SafetensorsLayout, RejectsWrongFieldTypes) {
  const char* headers[] = {
      R"({"x":{"dtype":5,"shape":[1],"data_offsets":[0,1]}})",
      R"({"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})",
      R"({"x":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})",
      R"({"x":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})",
      R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0]}})",
      R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})",
      R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})",
      R"({"x":[1,2,3]})",
  };
  for (const char* h : headers) EXPECT_NE(error_of(safetensors_image(h, 1)).find("tensor 'x'"), std::string::npos) << h;
}

TEST(SafetensorsLayout, RejectsShapesWhoseSizeOverflows) {
  auto image = safetensors_image(
      R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(error_of(image).find("overflows 64 bits"), std::string::npos);
  auto byte_overflow = safetensors_image(
      R"({"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(error_of(byte_overflow).find("overflows 64 bits"), std::string::npos);
}

TEST(SafetensorsLayout, RejectsNonStringMetadata) {
  EXPECT_NE(error_of(safetensors_image(R"({"__metadata__":{"n":1}})", 0)).find("__metadata__ entry 'n'"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors_image(R"({"__metadata__":[]})", 0)).find("__metadata__ must be a JSON object"),
            std::string::npos);
}

TEST(SafetensorsIndex, ParsesWeightMap) {
  auto map = parse_safetensors_index(R"({"metadata":{"total_size":8},"weight_map":{"a":"s1.safetensors"}})", "i.json");
  EXPECT_EQ(map.at("a"), "s1.safetensors");
}

TEST(SafetensorsIndex, RejectsBadIndexes) {
  auto error = [](const std::string& text) {
    try {
      parse_safetensors_index(text, "i.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("{").find("i.json: safetensors index is not valid JSON"), std::string::npos);
  EXPECT_NE(error("{}").find("i.json: safetensors index has no weight_map"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map":[]})").find("weight_map must be a JSON object"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map":{"a":3}})").find("weight_map entry 'a' must be a file name"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map":{"a":"../x.safetensors"}})").find("not a plain file name"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map":{"a":"/etc/passwd"}})").find("not a plain file name"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map":{"a":""}})").find("not a plain file name"), std::string::npos);
}

}  // namespace
}  // namespace qi
