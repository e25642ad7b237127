#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/png_reader.h"
#include "io/png_writer.h"
#include "support/scratch_dir.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class PngFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qi_png_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// A small picture where every pixel differs from its neighbours.
std::vector<uint8_t> test_pattern(int width, int height) {
  std::vector<uint8_t> rgb(size_t(width) * size_t(height) * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(size_t(y) * size_t(width) + size_t(x)) * 3];
      p[0] = uint8_t(x * 7 + y);
      p[1] = uint8_t(y * 13 + x * 3);
      p[2] = uint8_t((x ^ y) * 5);
    }
  return rgb;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(A1111Parameters, FormatsLikeStableDiffusionWebui) {
  GenerationParameters p;
  p.prompt = "A red fox sitting in fresh snow";
  p.negative_prompt = "blurry";
  p.steps = 50;
  p.sampler = "Euler";
  p.cfg_scale = 4.0;
  p.seed = 1234;
  p.width = 1328;
  p.height = 928;
  p.model = "Qwen-Image";
  EXPECT_EQ(a1111_parameters(p),
            "A red fox sitting in fresh snow\n"
            "Negative prompt: blurry\n"
            "Steps: 50, Sampler: Euler, CFG scale: 4, Seed: 1234, Size: 1328x928, Model: Qwen-Image");

  p.negative_prompt.clear();
  p.cfg_scale = 4.5;
  p.model = "qwen-image:bf16, local";
  p.seed = 18446744073709551615u;
  EXPECT_EQ(a1111_parameters(p),
            "A red fox sitting in fresh snow\n"
            "Steps: 50, Sampler: Euler, CFG scale: 4.5, Seed: 18446744073709551615, Size: 1328x928, "
            "Model: \"qwen-image:bf16, local\"");

  p.prompt = "  \n";
  EXPECT_EQ(a1111_parameters(p).rfind("Steps: 50", 0), 0u);  // surrounding whitespace trimmed
  p.prompt = "bad \xff byte";
  EXPECT_THROW(a1111_parameters(p), InputError);
}

TEST_F(PngFiles, RoundTripsPixelsAndText) {
  const fs::path path = dir_ / "out.png";
  const int width = 37, height = 23;
  const std::vector<uint8_t> rgb = test_pattern(width, height);
  const std::string parameters = "a café at dusk\nNegative prompt: \nSteps: 4, CFG scale: 4, Seed: 1";
  const std::string cjk = "一只狐狸坐在雪地里";
  write_png_rgb8(path, width, height, rgb,
                 {{kParametersTextKey, parameters}, {"prompt_zh", cjk}, {"Software", "qwen-image-vk"}});

  const PngImage image = read_png_rgb8(path);
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.height, height);
  EXPECT_EQ(image.rgb, rgb);
  ASSERT_EQ(image.text.size(), 3u);
  EXPECT_EQ(image.text[0].key, "parameters");
  EXPECT_EQ(image.text[0].value, parameters);
  EXPECT_EQ(image.text[1].key, "prompt_zh");
  EXPECT_EQ(image.text[1].value, cjk);
  EXPECT_EQ(image.text[2].value, "qwen-image-vk");

  // Latin-1 text goes into tEXt (as PIL writes it, "café" as one byte 0xE9), other text into iTXt.
  const std::string bytes = file_bytes(path);
  EXPECT_NE(bytes.find(std::string("tEXtparameters\0a caf\xe9 at dusk", 29)), std::string::npos);
  EXPECT_NE(bytes.find("iTXtprompt_zh"), std::string::npos);
  EXPECT_EQ(entries(), std::vector<std::string>{"out.png"});  // no temporary file left
}

TEST_F(PngFiles, ReplacesAnExistingFile) {
  const fs::path path = dir_ / "out.png";
  std::ofstream(path) << "old";
  write_png_rgb8(path, 2, 2, test_pattern(2, 2));
  EXPECT_EQ(read_png_rgb8(path).rgb, test_pattern(2, 2));
  EXPECT_EQ(entries(), std::vector<std::string>{"out.png"});
}

TEST_F(PngFiles, FailedWriteLeavesTheTargetAndNoTemporaryFile) {
  const fs::path path = dir_ / "out.png";
  std::ofstream(path) << "old";
  // libpng refuses widths over its 1,000,000-pixel limit in the middle of writing the header.
  const int too_wide = 1'000'001;
  const std::string message = error_of([&] { write_png_rgb8(path, too_wide, 1, std::vector<uint8_t>(3 * size_t(too_wide))); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_EQ(file_bytes(path), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.png"});
}

TEST_F(PngFiles, FailedRenameLeavesNoTemporaryFile) {
  // The target is a non-empty directory: everything is written, then the final rename fails.
  const fs::path path = dir_ / "taken";
  fs::create_directories(path / "inside");
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2)), InputError);
  const std::string message = error_of([&] { write_png_rgb8(path, 2, 2, test_pattern(2, 2)); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_EQ(entries(), std::vector<std::string>{"taken"});
}

TEST_F(PngFiles, MissingDirectoryIsAnInputErrorNamingThePath) {
  const fs::path path = dir_ / "missing" / "out.png";
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2)), InputError);
  EXPECT_NE(error_of([&] { write_png_rgb8(path, 2, 2, test_pattern(2, 2)); }).find(path.string()),
            std::string::npos);
  EXPECT_TRUE(entries().empty());
}

TEST_F(PngFiles, RefusesBadArguments) {
  const fs::path path = dir_ / "out.png";
  EXPECT_THROW(write_png_rgb8(path, 2, 2, std::vector<uint8_t>(11)), InputError);
  EXPECT_THROW(write_png_rgb8(path, 0, 2, {}), InputError);
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2), {{"", "x"}}), InputError);
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2), {{" lead", "x"}}), InputError);
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2), {{std::string(80, 'k'), "x"}}), InputError);
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2), {{"key", "bad \xc3"}}), InputError);
  EXPECT_THROW(write_png_rgb8(path, 2, 2, test_pattern(2, 2), {{"key", std::string("nul\0", 4)}}), InputError);
  EXPECT_TRUE(entries().empty());
}

TEST_F(PngFiles, ReaderRejectsWhatIsNotAPng) {
  const fs::path path = dir_ / "fake.png";
  std::ofstream(path) << "definitely not a png file";
  EXPECT_THROW(read_png_rgb8(path), InputError);
  EXPECT_THROW(read_png_rgb8(dir_ / "absent.png"), InputError);
  // A truncated PNG: the signature and header survive, the image data does not.
  write_png_rgb8(dir_ / "full.png", 16, 16, test_pattern(16, 16));
  const std::string full = file_bytes(dir_ / "full.png");
  std::ofstream(dir_ / "cut.png", std::ios::binary) << full.substr(0, full.size() / 2);
  EXPECT_THROW(read_png_rgb8(dir_ / "cut.png"), InputError);
}

TEST_F(PngFiles, OutputPathCheck) {
  EXPECT_NO_THROW(check_output_path_writable(dir_ / "new.png"));
  const std::string missing = error_of([&] { check_output_path_writable(dir_ / "missing" / "a.png"); });
  EXPECT_NE(missing.find("does not exist"), std::string::npos) << missing;
  std::ofstream(dir_ / "file") << "x";
  EXPECT_THROW(check_output_path_writable(dir_ / "file" / "a.png"), InputError);
  fs::create_directories(dir_ / "sub");
  EXPECT_THROW(check_output_path_writable(dir_ / "sub"), InputError);
  EXPECT_THROW(check_output_path_writable(""), InputError);
}

// A directory whose permission bits forbid writing (root writes there anyway, so only for other users), and
// one nobody may write into, root included (/proc/sys).
TEST_F(PngFiles, OutputPathCheckRefusesAReadOnlyDirectory) {
  if (::geteuid() != 0) {
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    const std::string message = error_of([&] { check_output_path_writable(dir_ / "a.png"); });
    EXPECT_NE(message.find("not writable"), std::string::npos) << message;
    EXPECT_THROW(write_png_rgb8(dir_ / "a.png", 2, 2, test_pattern(2, 2)), InputError);
  }
  const auto locked = test::unwritable_directory();
  if (!locked) GTEST_SKIP() << "no directory here that even root cannot write (/proc/sys)";
  const std::string message = error_of([&] { check_output_path_writable(*locked / "a.png"); });
  EXPECT_NE(message.find("directory " + locked->string() + " is not writable"), std::string::npos) << message;
  EXPECT_THROW(write_png_rgb8(*locked / "a.png", 2, 2, test_pattern(2, 2)), InputError);
  EXPECT_FALSE(fs::exists(*locked / "a.png"));
}

}  // namespace
}  // namespace qi
