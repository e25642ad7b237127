// Stage-by-stage comparison of a generation with a reference (the fixture's reference.safetensors from
// diffusers, or another backend): one row per named tensor with max abs and relative L2 errors.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/model_dir.h"
#include "ops/backend.h"
#include "pipeline/generation.h"

namespace qi {

struct ParityTolerance {
  double rel_l2 = 1e-4;          // every float stage
  double image_max_abs = 1;      // uint8 image: largest per-pixel difference
  double image_mean_abs = 1e30;  // uint8 image: mean per-pixel difference
};
ParityTolerance cpu_parity_tolerance();     // spec'd bounds for the fp32 CPU backend vs diffusers
ParityTolerance device_parity_tolerance();  // bounds for GPU backends (fp16 operands allowed)

struct ParityRow {
  std::string stage;
  double max_abs = 0;
  double mean_abs = 0;
  double rel_l2 = 0;
  bool pass = false;
};

struct ParityReport {
  std::vector<ParityRow> rows;  // in pipeline order
  bool pass() const;
  const ParityRow* first_failure() const;
  std::string table() const;  // printable table + first divergence
};

// Every intermediate tensor of one generation, as host floats, keyed by the reference's names, in the order
// the pipeline produced them.
struct StageTensors {
  std::vector<std::string> order;
  std::map<std::string, std::vector<float>> values;
  void add(const std::string& name, std::vector<float> v);
  const std::vector<float>* find(const std::string& name) const;
};

// The generation settings of a fixture reference (reference.json beside the .safetensors file).
GenerationOptions reference_generation_options(const std::filesystem::path& reference_safetensors);

// Runs a generation and collects every stage ("image.float" [H, W, 3] included, derived from the decoder
// output as diffusers post-processes it).
StageTensors collect_stages(Generator& generator, Backend& backend, const GenerationOptions& options);

// Compares collected stages with the reference file (float stages by relative L2; token ids and the uint8
// image by their own rules). Names present on only one side are skipped.
ParityReport compare_with_reference(const StageTensors& actual, const std::filesystem::path& reference_safetensors,
                                    const ParityTolerance& tol);
ParityReport compare_stages(const StageTensors& actual, const StageTensors& expected, const ParityTolerance& tol);

}  // namespace qi
