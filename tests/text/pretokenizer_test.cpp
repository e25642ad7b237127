// The pre-tokenizer's pieces, including the places where PCRE2 and Oniguruma (which Hugging Face uses)
// could disagree about what \s means, and the byte-level alphabet.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/byte_level.h"
#include "text/pretokenizer.h"

namespace qi::text {
namespace {

std::vector<std::string> pieces_of(const std::string& text) {
  static const Qwen2PreTokenizer pretokenizer;
  std::vector<std::string_view> views;
  pretokenizer.split(text, views);
  return {views.begin(), views.end()};
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, SplitsWordsNumbersPunctuationAndSpaces) {
  EXPECT_EQ(pieces_of("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(pieces_of("I'll don't"), (Pieces{"I", "'ll", " don", "'t"}));
  EXPECT_EQ(pieces_of("WE'RE"), (Pieces{"WE", "'RE"}));  // contractions ignore case
  EXPECT_EQ(pieces_of("1234"), (Pieces{"1", "2", "3", "4"}));  // digits one at a time
  EXPECT_EQ(pieces_of("a  b"), (Pieces{"a", " ", " b"}));  // a run keeps its last space for the next word
  EXPECT_EQ(pieces_of("x!!\n\ny"), (Pieces{"x", "!!\n\n", "y"}));
  EXPECT_EQ(pieces_of("a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(pieces_of("end   "), (Pieces{"end", "   "}));
  EXPECT_EQ(pieces_of("猫が好き"), (Pieces{"猫が好き"}));
}

TEST(PreTokenizer, WhitespaceIsOnigurumasUnicodeWhitespace) {
  // U+0085 NEXT LINE is whitespace: the run before "b" leaves its last character to the word.
  EXPECT_EQ(pieces_of("a\xC2\x85\xC2\x85" "b"), (Pieces{"a", "\xC2\x85", "\xC2\x85" "b"}));
  // U+3000 IDEOGRAPHIC SPACE (Zs) likewise.
  EXPECT_EQ(pieces_of("a\xE3\x80\x80\xE3\x80\x80" "b"), (Pieces{"a", "\xE3\x80\x80", "\xE3\x80\x80" "b"}));
  // U+180E MONGOLIAN VOWEL SEPARATOR is a format character (Cf) since Unicode 6.3, not whitespace, so two of
  // them are one punctuation-like piece; PCRE2 10.42's own \s would count it as horizontal space.
  EXPECT_EQ(pieces_of("x\xE1\xA0\x8E\xE1\xA0\x8Ey"), (Pieces{"x", "\xE1\xA0\x8E\xE1\xA0\x8E", "y"}));
}

TEST(PreTokenizer, ThePcre2PatternDiffersOnlyInItsWhitespaceClasses) {
  std::string pattern(qwen2_split_pattern_pcre2());
  const std::string ws = R"(\t-\r\x{85}\p{Z})";
  for (auto [from, to] : {std::pair<std::string, std::string>{"[" + ws + "]", "\\s"}, {"[^" + ws + "]", "\\S"}, {ws, "\\s"}})
    for (size_t at; (at = pattern.find(from)) != std::string::npos;) pattern.replace(at, from.size(), to);
  EXPECT_EQ(pattern, kQwen2SplitPattern);
}

TEST(ByteLevel, EveryByteRoundTripsThroughItsCharacter) {
  for (int b = 0; b < 256; ++b) {
    const std::string byte(1, char(b));
    const std::string spelled = bytes_to_byte_level(byte);
    EXPECT_EQ(byte_level_to_bytes(spelled), byte) << b;
  }
  EXPECT_EQ(bytes_to_byte_level(" "), "Ġ");
  EXPECT_EQ(bytes_to_byte_level("\n"), "Ċ");
  EXPECT_EQ(bytes_to_byte_level(std::string(1, '\0')), "Ā");
  EXPECT_EQ(bytes_to_byte_level("a~"), "a~");
  EXPECT_EQ(bytes_to_byte_level("\xE7\x8C\xAB"), "çĮ«");  // 猫
  EXPECT_FALSE(byte_level_to_bytes("猫").has_value());  // not a byte-level character
}

}  // namespace
}  // namespace qi::text
