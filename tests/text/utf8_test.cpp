// Invalid UTF-8 is an InputError naming the problem and its byte offset; lossy conversion replaces each
// maximal malformed subpart with one U+FFFD, as Python and Rust do.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "text/prompt_template.h"
#include "text/text_fixtures.h"
#include "text/utf8.h"

namespace qi {
namespace {

struct Malformed {
  std::string bytes;
  const char* reason;
  size_t offset;
};

const Malformed kMalformed[] = {
    {"\xC0\xAF", "overlong encoding", 0},             // '/' in two bytes
    {"ab\xC1\xBF", "overlong encoding", 2},
    {"\xE0\x80\xAF", "overlong encoding", 0},         // '/' in three bytes
    {"\xF0\x80\x80\xAF", "overlong encoding", 0},     // '/' in four bytes
    {"x\xED\xA0\x80y", "UTF-16 surrogate", 1},        // U+D800
    {"\xED\xBF\xBF", "UTF-16 surrogate", 0},          // U+DFFF
    {"abc\xE2\x82", "truncated multi-byte sequence", 3},
    {"\xE2\x82x", "truncated multi-byte sequence", 0},
    {"\xF0\x9F\x98", "truncated multi-byte sequence", 0},
    {"\xC3", "truncated multi-byte sequence", 0},
    {"\x80", "stray continuation byte", 0},
    {"a\xBF" "b", "stray continuation byte", 1},
    {"\xE2\x82\xAC\xAC", "stray continuation byte", 3},  // one continuation byte too many after '€'
    {"\xF4\x90\x80\x80", "code point above U+10FFFF", 0},
    {"\xF5\x80\x80\x80", "code point above U+10FFFF", 0},
    {"\xFF", "invalid lead byte", 0},
    {"ok \xFE", "invalid lead byte", 3},
};

TEST(Utf8, EveryKindOfMalformedTextIsFoundWithItsOffset) {
  for (const Malformed& m : kMalformed) {
    const auto problem = text::find_utf8_problem(m.bytes);
    ASSERT_TRUE(problem.has_value()) << m.reason;
    EXPECT_STREQ(problem->reason, m.reason);
    EXPECT_EQ(problem->offset, m.offset) << m.reason;
  }
}

TEST(Utf8, EncodingMalformedTextIsAnInputError) {
  for (const Malformed& m : kMalformed) {
    try {
      test::fixture_tokenizer().encode(m.bytes);
      ADD_FAILURE() << "no error for " << m.reason;
    } catch (const InputError& e) {
      const std::string expected = std::string("text to tokenize is not valid UTF-8: ") + m.reason + " at byte " +
                                   std::to_string(m.offset);
      EXPECT_EQ(e.what(), expected);
    }
  }
  // A prompt's offset counts from the prompt, not from the template around it.
  try {
    encode_prompt(test::fixture_tokenizer(), "fox\x80");
    ADD_FAILURE() << "no error for a malformed prompt";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "prompt is not valid UTF-8: stray continuation byte at byte 3");
  }
}

TEST(Utf8, BoundaryCharactersAreAccepted) {
  for (const std::string s : {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                              "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_FALSE(text::find_utf8_problem(s).has_value());
    EXPECT_FALSE(test::fixture_tokenizer().encode(s).empty());
  }
}

TEST(Utf8, NulIsAnOrdinaryCharacter) {
  // Hugging Face's tokenizers treats U+0000 like any other character: byte 0 is the byte-level token "Ā".
  const std::string nul(1, '\0');
  EXPECT_EQ(test::fixture_tokenizer().encode(nul), std::vector<int32_t>{*test::fixture_tokenizer().token_id("Ā")});
  const std::string text("a\0b\0\0c", 6);
  EXPECT_EQ(test::fixture_tokenizer().decode(test::fixture_tokenizer().encode(text)), text);
}

TEST(Utf8, LossyConversionReplacesEachMaximalSubpart) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(text::to_utf8_lossy("a\xE2\x82" "b"), "a" + fffd + "b");  // one truncated sequence
  EXPECT_EQ(text::to_utf8_lossy("\xF0\x80"), fffd + fffd);           // F0 80 is no prefix of any character
  EXPECT_EQ(text::to_utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(text::to_utf8_lossy("\xF0\x9F\x98"), fffd);
  EXPECT_EQ(text::to_utf8_lossy("\xC0\xAF"), fffd + fffd);
  EXPECT_EQ(text::to_utf8_lossy("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace qi
