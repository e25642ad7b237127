#include "pipeline/parity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/weight_loader.h"

namespace qi {

namespace {

bool is_integer_stage(const std::string& name) {
  return name.find("input_ids") != std::string::npos || name == "image.uint8";
}

ParityRow compare_one(const std::string& name, const std::vector<float>& a, const std::vector<float>& e,
                      const ParityTolerance& tol) {
  ParityRow r;
  r.stage = name;
  if (a.size() != e.size()) {
    r.max_abs = r.rel_l2 = r.mean_abs = INFINITY;
    return r;
  }
  double num = 0, den = 0, sum_abs = 0;
  bool finite = true;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) finite = false;
    const double d = double(a[i]) - double(e[i]);
    r.max_abs = std::max(r.max_abs, std::fabs(d));
    sum_abs += std::fabs(d);
    num += d * d;
    den += double(e[i]) * double(e[i]);
  }
  r.mean_abs = a.empty() ? 0 : sum_abs / double(a.size());
  r.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (!finite) r.max_abs = r.rel_l2 = r.mean_abs = INFINITY;
  if (name == "image.uint8")
    r.pass = finite && r.max_abs <= tol.image_max_abs && r.mean_abs <= tol.image_mean_abs;
  else if (is_integer_stage(name))
    r.pass = finite && r.max_abs == 0;
  else
    r.pass = finite && r.rel_l2 <= tol.rel_l2;
  return r;
}

std::vector<float> view_as_f32(const TensorView& v) {
  std::vector<float> out(size_t(v.numel()));
  if (v.dtype == DType::I32) {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t x;
      std::memcpy(&x, v.data + 4 * i, 4);
      out[i] = float(x);
    }
  } else if (v.dtype == DType::U8) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = float(v.data[i]);
  } else {
    widen_to_f32(v.data, v.dtype, v.numel(), out.data());
  }
  return out;
}

// diffusers post-processing of the decoder output [3, H, W] (spec §2.8): clamp to [-1, 1], x/2 + 0.5,
// clamp to [0, 1], channels last.
std::vector<float> postprocess_to_hwc(const std::vector<float>& chw, int64_t H, int64_t W) {
  std::vector<float> out(size_t(3 * H * W));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < H * W; ++p) {
      float v = std::clamp(chw[size_t(c * H * W + p)], -1.0f, 1.0f);
      out[size_t(p * 3 + c)] = std::clamp(v * 0.5f + 0.5f, 0.0f, 1.0f);
    }
  return out;
}

}  // namespace

ParityTolerance cpu_parity_tolerance() { return {1e-4, 1, 1e30}; }
ParityTolerance device_parity_tolerance() { return {1e-2, 8, 1.0}; }

void StageTensors::add(const std::string& name, std::vector<float> v) {
  if (!values.count(name)) order.push_back(name);
  values[name] = std::move(v);
}

const std::vector<float>* StageTensors::find(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

bool ParityReport::pass() const {
  return !rows.empty() && std::all_of(rows.begin(), rows.end(), [](const ParityRow& r) { return r.pass; });
}

const ParityRow* ParityReport::first_failure() const {
  for (const auto& r : rows)
    if (!r.pass) return &r;
  return nullptr;
}

std::string ParityReport::table() const {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %12s %12s %12s  %s\n", "stage", "max abs", "mean abs", "rel L2", "result");
  o << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-44s %12.4g %12.4g %12.4g  %s\n", r.stage.c_str(), r.max_abs, r.mean_abs,
                  r.rel_l2, r.pass ? "pass" : "FAIL");
    o << line;
  }
  if (const ParityRow* f = first_failure())
    o << "first divergence: " << f->stage << "\n";
  else if (!rows.empty())
    o << "all " << rows.size() << " stages pass\n";
  else
    o << "no stages in common\n";
  return o.str();
}

GenerationOptions reference_generation_options(const std::filesystem::path& reference_safetensors) {
  std::filesystem::path json_path = reference_safetensors;
  json_path.replace_extension(".json");
  std::ifstream in(json_path);
  if (!in) throw InputError("cannot open " + json_path.string() + " (the reference's generation settings)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    const auto& g = j.at("generation");
    GenerationOptions o;
    o.prompt = g.at("prompt").get<std::string>();
    if (g.contains("negative") && !g.at("negative").is_null()) o.negative_prompt = g.at("negative").get<std::string>();
    o.height = g.at("height").get<int>();
    o.width = g.at("width").get<int>();
    o.steps = g.at("steps").get<int>();
    o.cfg = g.at("true_cfg").get<float>();
    o.seed = g.at("seed").get<uint64_t>();
    o.max_sequence_length = g.value("max_seq", 512);
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(json_path.string() + ": bad generation settings: " + e.what());
  }
}

StageTensors collect_stages(Generator& generator, Backend& backend, const GenerationOptions& options) {
  StageTensors st;
  TensorSink sink = [&](const std::string& name, const Tensor& t) { st.add(name, backend.to_host_f32(t)); };
  generator.generate(options, sink);
  if (const auto* out = st.find("vae.decoder.out")) {
    const int64_t H = options.height, W = options.width;
    st.add("image.float", postprocess_to_hwc(*out, H, W));
  }
  return st;
}

ParityReport compare_stages(const StageTensors& actual, const StageTensors& expected, const ParityTolerance& tol) {
  ParityReport rep;
  for (const auto& name : expected.order)
    if (const auto* a = actual.find(name)) rep.rows.push_back(compare_one(name, *a, *expected.find(name), tol));
  return rep;
}

ParityReport compare_with_reference(const StageTensors& actual, const std::filesystem::path& reference_safetensors,
                                    const ParityTolerance& tol) {
  TensorStore ref = TensorStore::open_file(reference_safetensors);
  // Pipeline order is the order of reference.json's tensor list; fall back to the file's (sorted) order.
  StageTensors expected;
  std::vector<std::string> names;
  std::filesystem::path json_path = reference_safetensors;
  json_path.replace_extension(".json");
  if (std::ifstream in(json_path); in) {
    try {
      auto j = nlohmann::ordered_json::parse(in);
      for (auto& [k, v] : j.at("tensors").items()) names.push_back(k);
    } catch (const nlohmann::json::exception&) {
      names.clear();
    }
  }
  if (names.empty()) names = ref.names();
  for (const auto& n : names)
    if (ref.has(n)) expected.add(n, view_as_f32(ref.get(n)));
  return compare_stages(actual, expected, tol);
}

}  // namespace qi
