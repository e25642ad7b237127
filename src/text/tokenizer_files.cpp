#include "text/tokenizer_files.h"

#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace qi::text {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& path, const char* what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw InputError(std::string(what) + " " + path.string() + " does not exist");
  if (!fs::is_regular_file(status)) throw InputError(std::string(what) + " " + path.string() + " is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) throw InputError(std::string(what) + " " + path.string() + " cannot be read (" + ec.message() + ")");
  if (size > kMaxTokenizerFileBytes)
    throw InputError(std::string(what) + " " + path.string() + " is " + std::to_string(size) +
                     " bytes, more than the " + std::to_string(kMaxTokenizerFileBytes) + "-byte limit");
  std::ifstream in(path, std::ios::binary);
  std::string text(size, '\0');
  if (!in || !in.read(text.data(), std::streamsize(size)))
    throw InputError(std::string(what) + " " + path.string() + " cannot be read");
  return text;
}

json parse_json_file(const fs::path& path, const char* what) {
  const std::string text = read_file(path, what);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(path.string() + ": malformed JSON at byte " + std::to_string(e.byte));
  }
}

// Throws "<origin>: <field> <problem>".
[[noreturn]] void fail(const std::string& origin, const std::string& field, const std::string& problem) {
  throw InputError(origin + ": " + field + " " + problem);
}

int32_t token_id(const json& value, const std::string& origin, const std::string& field) {
  if (!value.is_number_integer()) fail(origin, field, "must be a whole number");
  const auto id = value.get<int64_t>();
  if (id < 0 || id > std::numeric_limits<int32_t>::max()) fail(origin, field, "is out of range: " + std::to_string(id));
  return int32_t(id);
}

const std::string& string_field(const json& object, const char* key, const std::string& origin, const std::string& field) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) fail(origin, field + "." + key, "must be a string");
  return it->get_ref<const std::string&>();
}

bool bool_field(const json& object, const char* key, bool fallback, const std::string& origin, const std::string& field) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(origin, field + "." + key, "must be true or false");
  return it->get<bool>();
}

TokenIdMap parse_vocab(const json& vocab, const std::string& origin, const std::string& field) {
  if (!vocab.is_object()) fail(origin, field, "must be an object mapping tokens to ids");
  TokenIdMap out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) out.emplace(token, token_id(id, origin, field + "[\"" + token + "\"]"));
  return out;
}

// vocab.json streamed straight into the map: a DOM of Qwen2's 151,643 entries costs several times more than
// the map itself. Accepts exactly one flat object of token -> whole number.
class VocabReader final : public json::json_sax_t {
 public:
  explicit VocabReader(std::string origin) : origin_(std::move(origin)) {}

  TokenIdMap read(const std::string& text) {
    json::sax_parse(text, this);
    if (!error_.empty()) throw InputError(origin_ + ": " + error_);
    return std::move(vocab_);
  }

  bool start_object(std::size_t) override {
    if (depth_ != 0) return not_an_id();
    depth_ = 1;
    return true;
  }
  bool end_object() override { return --depth_, true; }
  bool key(string_t& token) override { return key_ = std::move(token), true; }
  bool number_integer(number_integer_t id) override { return add(id); }
  bool number_unsigned(number_unsigned_t id) override {
    return id > number_unsigned_t(std::numeric_limits<int32_t>::max()) ? reject(field() + " is out of range: " + std::to_string(id))
                                                                        : add(number_integer_t(id));
  }
  bool null() override { return not_an_id(); }
  bool boolean(bool) override { return not_an_id(); }
  bool number_float(number_float_t, const string_t&) override { return not_an_id(); }
  bool string(string_t&) override { return not_an_id(); }
  bool binary(binary_t&) override { return not_an_id(); }
  bool start_array(std::size_t) override { return not_an_id(); }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    return reject("malformed JSON at byte " + std::to_string(position));
  }

 private:
  std::string field() const { return "[\"" + key_ + "\"]"; }
  bool reject(std::string problem) {
    if (error_.empty()) error_ = std::move(problem);
    return false;
  }
  bool not_an_id() {
    return reject(depth_ == 0 ? "the top level must be an object mapping tokens to ids" : field() + " must be a whole number");
  }
  bool add(number_integer_t id) {
    if (depth_ != 1) return not_an_id();
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) return reject(field() + " is out of range: " + std::to_string(id));
    vocab_.insert_or_assign(std::move(key_), int32_t(id));  // a repeated key takes its last id, as JSON readers do
    return true;
  }

  std::string origin_;
  TokenIdMap vocab_;
  std::string key_;
  int depth_ = 0;
  std::string error_;
};

// One added-token object of tokenizer.json's added_tokens or tokenizer_config.json's added_tokens_decoder.
// A token without "normalized" gets Hugging Face's default, normalized = !special.
AddedToken parse_added_token(const json& entry, int32_t id, const std::string& origin, const std::string& field) {
  if (!entry.is_object()) fail(origin, field, "must be an object");
  AddedToken t;
  t.id = id;
  t.content = string_field(entry, "content", origin, field);
  if (t.content.empty()) fail(origin, field + ".content", "is empty");
  t.special = bool_field(entry, "special", false, origin, field);
  t.normalized = bool_field(entry, "normalized", !t.special, origin, field);
  for (const char* unsupported : {"lstrip", "rstrip", "single_word"})
    if (bool_field(entry, unsupported, false, origin, field))
      fail(origin, field + "." + unsupported, "is true, which this tokenizer does not support (Qwen2 never sets it)");
  return t;
}

// "left right": exactly one space, as Hugging Face requires (byte-level tokens spell a space as "Ġ").
bool split_merge_line(std::string_view line, MergeRule& rule) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == line.size()) return false;
  if (line.find(' ', space + 1) != std::string_view::npos) return false;
  rule.left = std::string(line.substr(0, space));
  rule.right = std::string(line.substr(space + 1));
  return true;
}

std::vector<MergeRule> parse_json_merges(const json& merges, const std::string& origin) {
  if (!merges.is_array()) fail(origin, "model.merges", "must be an array");
  std::vector<MergeRule> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    MergeRule rule;
    if (m.is_string()) {
      if (!split_merge_line(m.get_ref<const std::string&>(), rule)) fail(origin, field, "must be two tokens separated by one space");
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      rule = {m[0].get<std::string>(), m[1].get<std::string>()};
    } else {
      fail(origin, field, "must be a string \"a b\" or a pair [\"a\", \"b\"]");
    }
    out.push_back(std::move(rule));
  }
  return out;
}

std::vector<MergeRule> parse_merges_txt(const std::string& text, const std::string& origin) {
  std::vector<MergeRule> out;
  size_t line_start = 0;
  for (size_t line_number = 1; line_start < text.size(); ++line_number) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    std::string_view line(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // transformers skips blank lines and the "#version: 0.2" header.
    if (line.empty() || (line_number == 1 && line.starts_with("#version"))) continue;
    MergeRule rule;
    if (!split_merge_line(line, rule))
      fail(origin, "line " + std::to_string(line_number), "must be two tokens separated by one space");
    out.push_back(std::move(rule));
  }
  return out;
}

}  // namespace

TokenizerDefinition read_tokenizer_json(const fs::path& file) {
  const std::string origin = file.string();
  const json root = parse_json_file(file, "tokenizer file");
  if (!root.is_object()) fail(origin, "the top level", "must be a JSON object");
  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) fail(origin, "model", "must be an object");
  if (auto type = model->find("type"); type != model->end() && *type != "BPE")
    fail(origin, "model.type", "is " + type->dump() + "; only BPE tokenizers are supported");
  if (bool_field(*model, "byte_fallback", false, origin, "model"))
    fail(origin, "model.byte_fallback", "is true, which this byte-level tokenizer does not support");

  TokenizerDefinition def;
  def.origin = origin;
  auto vocab = model->find("vocab");
  if (vocab == model->end()) fail(origin, "model.vocab", "is missing");
  def.vocab = parse_vocab(*vocab, origin, "model.vocab");
  auto merges = model->find("merges");
  if (merges == model->end()) fail(origin, "model.merges", "is missing");
  def.merges = parse_json_merges(*merges, origin);

  if (auto added = root.find("added_tokens"); added != root.end() && !added->is_null()) {
    if (!added->is_array()) fail(origin, "added_tokens", "must be an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const std::string field = "added_tokens[" + std::to_string(i) + "]";
      const json& entry = (*added)[i];
      if (!entry.is_object() || !entry.contains("id")) fail(origin, field, "must be an object with an id");
      def.added_tokens.push_back(parse_added_token(entry, token_id(entry["id"], origin, field + ".id"), origin, field));
    }
  }
  return def;
}

TokenizerDefinition read_vocab_and_merges(const fs::path& dir) {
  TokenizerDefinition def;
  const fs::path vocab_path = dir / "vocab.json", merges_path = dir / "merges.txt";
  def.origin = vocab_path.string() + " + merges.txt";
  def.vocab = VocabReader(vocab_path.string()).read(read_file(vocab_path, "tokenizer vocabulary"));
  def.merges = parse_merges_txt(read_file(merges_path, "tokenizer merges file"), merges_path.string());

  // content -> token; the two files must agree where both name a token.
  std::map<std::string, AddedToken> added;
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    const std::string origin = config_path.string();
    const json config = parse_json_file(config_path, "tokenizer config");
    if (!config.is_object()) fail(origin, "the top level", "must be a JSON object");
    if (auto decoder = config.find("added_tokens_decoder"); decoder != config.end() && !decoder->is_null()) {
      if (!decoder->is_object()) fail(origin, "added_tokens_decoder", "must be an object mapping ids to tokens");
      for (const auto& [key, entry] : decoder->items()) {
        const std::string field = "added_tokens_decoder[\"" + key + "\"]";
        int32_t id = -1;
        const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
        if (ec != std::errc() || end != key.data() + key.size() || id < 0) fail(origin, field, "is not keyed by a token id");
        AddedToken t = parse_added_token(entry, id, origin, field);
        if (!added.emplace(t.content, t).second) fail(origin, field, "repeats the token '" + t.content + "'");
      }
    }
  }
  const fs::path added_path = dir / "added_tokens.json";
  if (fs::exists(added_path)) {
    const std::string origin = added_path.string();
    const json tokens = parse_json_file(added_path, "added tokens file");
    if (!tokens.is_object()) fail(origin, "the top level", "must be an object mapping tokens to ids");
    for (const auto& [content, id_value] : tokens.items()) {
      const std::string field = "[\"" + content + "\"]";
      const int32_t id = token_id(id_value, origin, field);
      if (content.empty()) fail(origin, field, "is an empty token");
      auto it = added.find(content);
      if (it == added.end()) {
        // Not described by added_tokens_decoder: an ordinary (non-special, normalised) added token.
        added.emplace(content, AddedToken{content, id, false, true});
      } else if (it->second.id != id) {
        fail(origin, field, "has id " + std::to_string(id) + " but " + config_path.filename().string() + " gives it " +
                                std::to_string(it->second.id));
      }
    }
  }
  for (auto& [content, token] : added) def.added_tokens.push_back(std::move(token));
  return def;
}

TokenizerDefinition read_tokenizer_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("tokenizer directory " + dir.string() + " does not exist");
  if (fs::exists(dir / "tokenizer.json")) return read_tokenizer_json(dir / "tokenizer.json");
  if (fs::exists(dir / "vocab.json") || fs::exists(dir / "merges.txt")) return read_vocab_and_merges(dir);
  throw InputError("tokenizer directory " + dir.string() + " holds neither tokenizer.json nor vocab.json + merges.txt");
}

}  // namespace qi::text
