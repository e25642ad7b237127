// decode(ids): the NFC text back for every Hugging Face case, special tokens kept or skipped, U+FFFD for
// ids that split a character, and an InputError for ids outside the vocabulary.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "text/nfc.h"
#include "text/prompt_template.h"
#include "text/text_fixtures.h"

namespace qi {
namespace {

using test::fixture_tokenizer;

TEST(Decode, RoundTripsEveryCaseToItsNfcText) {
  size_t failures = 0;
  for (const auto& c : test::tokenizer_cases())
    if (fixture_tokenizer().decode(c.ids) != text::nfc(c.text)) ++failures;
  EXPECT_EQ(failures, 0u);
}

TEST(Decode, SpecialTokensAreKeptOrSkipped) {
  const std::vector<int32_t> ids = encode_prompt(fixture_tokenizer(), "a red fox");
  EXPECT_EQ(fixture_tokenizer().decode(ids), apply_prompt_template("a red fox"));
  EXPECT_EQ(fixture_tokenizer().decode(ids, /*skip_special_tokens=*/true),
            "system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial "
            "relationships of the objects and background:\nuser\na red fox\nassistant\n");
  // <tool_call> is an added token but not a special one: skipping special tokens keeps it.
  const std::vector<int32_t> tool = fixture_tokenizer().encode("<tool_call>x");
  EXPECT_EQ(fixture_tokenizer().decode(tool, true), "<tool_call>x");
}

TEST(Decode, IdsThatSplitACharacterBecomeReplacementCharacters) {
  // "猫" is three bytes; its first byte alone is one byte-level token.
  const int32_t first_byte = *fixture_tokenizer().token_id("ç");  // byte 0xE7
  EXPECT_EQ(fixture_tokenizer().decode({&first_byte, 1}), "\xEF\xBF\xBD");
}

TEST(Decode, UnknownIdsAreInputErrors) {
  for (int32_t id : {-1, 151665, 1 << 30}) {
    const std::vector<int32_t> ids = {100, id};
    EXPECT_THROW(fixture_tokenizer().decode(ids), InputError) << id;
  }
}

}  // namespace
}  // namespace qi
