// Strict JSON parsing and typed field access for the JSON files of a model directory (configs, indexes,
// safetensors headers). Every failure is an InputError naming the file (origin) and the field, never a bare
// nlohmann exception text.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace qi {

// Parses text as JSON, rejecting malformed text, duplicate object keys (which JSON libraries silently
// resolve differently) and absurd nesting. `what` says what the text is ("config", "safetensors header").
nlohmann::json parse_json(std::string_view text, const std::string& origin, const char* what);

// Typed, validated access to the fields of one JSON object. A field that is absent or null takes the
// fallback (mirroring how diffusers/transformers fill in class defaults); a present field of the wrong type or
// outside its range is an InputError "<origin>: field '<path>' ...".
class JsonFields {
 public:
  // `object` must outlive this accessor. `path` is the dotted location of object in the file ("" = root).
  JsonFields(const nlohmann::json& object, std::string origin, std::string path = "");

  bool has(const std::string& key) const;  // present and not null

  int get_int(const std::string& key, int fallback, int min, int max) const;
  int require_int(const std::string& key, int min, int max) const;
  double get_double(const std::string& key, double fallback) const;  // finite
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<int> get_int_list(const std::string& key, const std::vector<int>& fallback, int min, int max) const;
  std::vector<int> require_int_list(const std::string& key, int min, int max) const;
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& fallback) const;
  std::vector<bool> get_bool_list(const std::string& key, const std::vector<bool>& fallback) const;
  std::vector<std::string> get_string_list(const std::string& key) const;  // absent -> empty
  // A nested object; nullopt when absent or null, InputError when present but not an object.
  std::optional<JsonFields> object(const std::string& key) const;

  // Throws InputError "<origin>: field '<path.key>' <problem>".
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

 private:
  std::string field_path(const std::string& key) const;  // "text_config.hidden_size"
  const nlohmann::json* find(const std::string& key) const;  // null when absent or JSON null
  const nlohmann::json& require(const std::string& key) const;
  int to_int(const nlohmann::json& v, const std::string& key, int min, int max) const;
  double to_double(const nlohmann::json& v, const std::string& key) const;

  const nlohmann::json* object_;
  std::string origin_;
  std::string path_;
};

// Throws InputError "<origin>: <what> must be a JSON object" unless j is one.
void require_json_object(const nlohmann::json& j, const std::string& origin, const char* what);

}  // namespace qi
