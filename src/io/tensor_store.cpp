// TensorStore: all tensors of one component, from one file or from the shards of a *.safetensors.index.json.
#include <algorithm>
#include <optional>

#include "core/error.h"
#include "io/json_fields.h"
#include "io/safetensors.h"
#include "io/text_file.h"

namespace qi {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndexSuffix = ".safetensors.index.json";
constexpr std::string_view kWeightsSuffix = ".safetensors";
// The names diffusers and transformers give a component's weights; preferred when a directory holds several.
constexpr const char* kPreferredStems[] = {"diffusion_pytorch_model", "model"};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The file in `candidates` named by a preferred stem, else the only candidate; InputError when there is a
// choice to make.
std::optional<fs::path> pick(const std::vector<fs::path>& candidates, std::string_view suffix, const fs::path& dir,
                             const char* what) {
  if (candidates.empty()) return std::nullopt;
  for (const char* stem : kPreferredStems)
    for (const auto& c : candidates)
      if (c.filename().string() == std::string(stem) + std::string(suffix)) return c;
  if (candidates.size() == 1) return candidates.front();
  std::string names;
  for (const auto& c : candidates) names += (names.empty() ? "" : ", ") + c.filename().string();
  throw InputError(dir.string() + ": several " + what + " files and none with a standard name (" + names + ")");
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

std::map<std::string, std::string> parse_safetensors_index(std::string_view json_text, const std::string& origin) {
  nlohmann::json root = parse_json(json_text, origin, "safetensors index");
  require_json_object(root, origin, "safetensors index");
  auto it = root.find("weight_map");
  if (it == root.end()) throw InputError(origin + ": safetensors index has no weight_map");
  if (!it->is_object())
    throw InputError(origin + ": weight_map must be a JSON object, got " + std::string(it->type_name()));
  std::map<std::string, std::string> map;
  for (const auto& [name, shard] : it->items()) {
    if (!shard.is_string())
      throw InputError(origin + ": weight_map entry '" + name + "' must be a file name, got " + shard.type_name());
    std::string file = shard.get<std::string>();
    if (!is_plain_file_name(file))
      throw InputError(origin + ": weight_map entry '" + name + "' names '" + file +
                       "', which is not a plain file name next to the index");
    map.emplace(name, std::move(file));
  }
  return map;
}

TensorStore TensorStore::open_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("weights directory " + dir.string() + " does not exist");
  std::vector<fs::path> indexes, singles;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (ends_with(name, kIndexSuffix)) indexes.push_back(entry.path());
    else if (ends_with(name, kWeightsSuffix)) singles.push_back(entry.path());
  }
  if (ec) throw InputError("weights directory " + dir.string() + " cannot be listed (" + ec.message() + ")");
  std::sort(indexes.begin(), indexes.end());
  std::sort(singles.begin(), singles.end());

  if (auto index = pick(indexes, kIndexSuffix, dir, "safetensors index")) {
    const std::string origin = index->string();
    auto weight_map = parse_safetensors_index(read_text_file(*index, "safetensors index"), origin);
    std::map<std::string, std::vector<std::string>> tensors_by_shard;
    for (const auto& [name, shard] : weight_map) tensors_by_shard[shard].push_back(name);

    TensorStore store;
    store.location_ = dir;
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& [shard, names] : tensors_by_shard) {
      fs::path shard_path = dir / shard;
      if (!fs::exists(shard_path, ec))
        throw InputError(origin + ": shard " + shard + " (holding " + std::to_string(names.size()) +
                         " tensors, e.g. '" + names.front() + "') does not exist in " + dir.string());
      shards[shard] = SafetensorsFile::open(shard_path);
    }
    for (const auto& [name, shard] : weight_map) {
      if (!shards.at(shard)->has(name))
        throw InputError(origin + ": tensor '" + name + "' is listed in shard " + shard + ", which does not hold it");
      store.views_.emplace(name, &shards.at(shard)->get(name));
    }
    for (const auto& [shard, file] : shards) {
      for (const auto& [name, view] : file->tensors()) {
        auto listed = weight_map.find(name);
        if (listed == weight_map.end())
          throw InputError(file->path().string() + ": tensor '" + name + "' is not listed in the index " + origin);
        if (listed->second != shard)
          throw InputError(file->path().string() + ": tensor '" + name + "' is also in this shard, but the index " +
                           origin + " lists it in " + listed->second);
      }
      store.files_.push_back(file);
    }
    return store;
  }
  if (auto single = pick(singles, kWeightsSuffix, dir, "safetensors")) return open_file(*single);
  throw InputError("weights directory " + dir.string() + " holds no .safetensors file");
}

TensorStore TensorStore::open_file(const fs::path& file) {
  TensorStore store;
  store.location_ = file;
  store.files_.push_back(SafetensorsFile::open(file));
  for (const auto& [name, view] : store.files_.front()->tensors()) store.views_.emplace(name, &view);
  return store;
}

bool TensorStore::has(const std::string& name) const { return views_.count(name) != 0; }

const TensorView& TensorStore::get(const std::string& name) const {
  auto it = views_.find(name);
  if (it == views_.end()) throw InputError(location_.string() + ": no tensor '" + name + "'");
  return *it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(views_.size());
  for (const auto& [name, view] : views_) out.push_back(name);
  return out;
}

uint64_t TensorStore::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, view] : views_) total += view->bytes;
  return total;
}

TensorStore TensorStore::from_memory(const std::string& location, std::vector<TensorToWrite> tensors) {
  TensorStore store;
  store.location_ = location;
  auto data = std::make_shared<std::vector<TensorToWrite>>(std::move(tensors));
  auto views = std::make_shared<std::map<std::string, TensorView>>();
  for (const TensorToWrite& t : *data) {
    if (t.data.size() != size_t(shape_numel(t.shape)) * dtype_size(t.dtype))
      throw InputError(location + ": in-memory tensor " + t.name + " " + shape_str(t.shape) + " holds " +
                       std::to_string(t.data.size()) + " bytes");
    TensorView v;
    v.name = t.name;
    v.dtype = t.dtype;
    v.shape = t.shape;
    v.data = t.data.data();
    v.bytes = t.data.size();
    v.file = location;
    if (!views->emplace(t.name, std::move(v)).second) throw InputError(location + ": tensor " + t.name + " given twice");
  }
  for (const auto& [name, view] : *views) store.views_[name] = &view;
  store.memory_data_ = std::move(data);
  store.memory_views_ = std::move(views);
  return store;
}

}  // namespace qi
