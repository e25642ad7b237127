#include "io/json_fields.h"

#include <cmath>
#include <cstdint>
#include <set>

#include "core/error.h"

namespace qi {

// Far deeper than any config, index or safetensors header (those nest at most 3 levels), low enough that
// no input can make the parse callback's bookkeeping large.
constexpr int kMaxJsonDepth = 64;

nlohmann::json parse_json(std::string_view text, const std::string& origin, const char* what) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;  // keys seen so far in each enclosing object
  json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth)
      throw InputError(origin + ": " + what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end: open_objects.pop_back(); break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second)
          throw InputError(origin + ": " + what + " has the key '" + parsed.get<std::string>() + "' twice");
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    throw InputError(origin + ": " + what + " is not valid JSON (" + e.what() + ")");
  }
}

void require_json_object(const nlohmann::json& j, const std::string& origin, const char* what) {
  if (!j.is_object())
    throw InputError(origin + ": " + what + " must be a JSON object, got " + std::string(j.type_name()));
}

JsonFields::JsonFields(const nlohmann::json& object, std::string origin, std::string path)
    : object_(&object), origin_(std::move(origin)), path_(std::move(path)) {
  if (!object.is_object())
    throw InputError(origin_ + ": " + (path_.empty() ? std::string("the file") : "field '" + path_ + "'") +
                     " must be a JSON object, got " + std::string(object.type_name()));
}

std::string JsonFields::field_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void JsonFields::fail(const std::string& key, const std::string& problem) const {
  throw InputError(origin_ + ": field '" + field_path(key) + "' " + problem);
}

const nlohmann::json* JsonFields::find(const std::string& key) const {
  auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(const std::string& key) const { return find(key) != nullptr; }

const nlohmann::json& JsonFields::require(const std::string& key) const {
  const nlohmann::json* v = find(key);
  if (!v) fail(key, "is missing");
  return *v;
}

int JsonFields::to_int(const nlohmann::json& v, const std::string& key, int min, int max) const {
  if (!v.is_number_integer()) fail(key, "must be an integer, got " + (v.is_number() ? v.dump() : v.type_name()));
  bool fits_int64 = !v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX);
  bool in_range = fits_int64 && v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (!in_range)
    fail(key, "is " + v.dump() + ", outside the accepted range [" + std::to_string(min) + ", " +
                  std::to_string(max) + "]");
  return int(v.get<int64_t>());
}

double JsonFields::to_double(const nlohmann::json& v, const std::string& key) const {
  if (!v.is_number()) fail(key, "must be a number, got " + std::string(v.type_name()));
  double d = v.get<double>();
  if (!std::isfinite(d)) fail(key, "must be finite");
  return d;
}

int JsonFields::get_int(const std::string& key, int fallback, int min, int max) const {
  const nlohmann::json* v = find(key);
  return v ? to_int(*v, key, min, max) : fallback;
}

int JsonFields::require_int(const std::string& key, int min, int max) const {
  return to_int(require(key), key, min, max);
}

double JsonFields::get_double(const std::string& key, double fallback) const {
  const nlohmann::json* v = find(key);
  return v ? to_double(*v, key) : fallback;
}

bool JsonFields::get_bool(const std::string& key, bool fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "must be true or false, got " + std::string(v->type_name()));
  return v->get<bool>();
}

std::string JsonFields::get_string(const std::string& key, const std::string& fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "must be a string, got " + std::string(v->type_name()));
  return v->get<std::string>();
}

std::vector<int> JsonFields::get_int_list(const std::string& key, const std::vector<int>& fallback, int min,
                                          int max) const {
  return has(key) ? require_int_list(key, min, max) : fallback;
}

std::vector<int> JsonFields::require_int_list(const std::string& key, int min, int max) const {
  const nlohmann::json& v = require(key);
  if (!v.is_array()) fail(key, "must be a list of integers, got " + std::string(v.type_name()));
  std::vector<int> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(to_int(v[i], key + "[" + std::to_string(i) + "]", min, max));
  return out;
}

std::vector<double> JsonFields::get_double_list(const std::string& key, const std::vector<double>& fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) fail(key, "must be a list of numbers, got " + std::string(v->type_name()));
  std::vector<double> out;
  for (size_t i = 0; i < v->size(); ++i) out.push_back(to_double((*v)[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<bool> JsonFields::get_bool_list(const std::string& key, const std::vector<bool>& fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) fail(key, "must be a list of true/false values, got " + std::string(v->type_name()));
  std::vector<bool> out;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_boolean())
      fail(key + "[" + std::to_string(i) + "]", "must be true or false, got " + std::string((*v)[i].type_name()));
    out.push_back((*v)[i].get<bool>());
  }
  return out;
}

std::vector<std::string> JsonFields::get_string_list(const std::string& key) const {
  const nlohmann::json* v = find(key);
  if (!v) return {};
  if (!v->is_array()) fail(key, "must be a list of strings, got " + std::string(v->type_name()));
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string())
      fail(key + "[" + std::to_string(i) + "]", "must be a string, got " + std::string((*v)[i].type_name()));
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

std::optional<JsonFields> JsonFields::object(const std::string& key) const {
  const nlohmann::json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) fail(key, "must be a JSON object, got " + std::string(v->type_name()));
  return JsonFields(*v, origin_, field_path(key));
}

}  // namespace qi
