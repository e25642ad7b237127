#include "pipeline/scheduler.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "core/dtype.h"
#include "core/error.h"

// The schedule must round exactly as numpy/torch do, one operation at a time; fusing a multiply and an add
// would change the last bit, so contraction is switched off for this file (-ffp-contract=off, CMakeLists.txt).

namespace qi {
namespace {

// QwenImagePipeline divides the loop timestep by this literal (not by num_train_timesteps) to form the
// transformer's timestep argument (PIPE 647).
constexpr float kPipelineTimestepScale = 1000.0f;

// diffusers reads scheduler_config.json numbers as Python floats (doubles); SchedulerConfig keeps them as
// float. The shortest decimal that round-trips a float is the decimal the JSON file spelled (config values
// have far fewer than 7 significant digits), so re-reading that decimal as a double recovers Python's value.
double config_double(float value) {
  char text[64];
  const auto written = std::to_chars(text, text + sizeof text, value);
  double result = 0;
  const auto parsed = std::from_chars(text, written.ptr, result);
  if (written.ec != std::errc() || parsed.ec != std::errc())
    throw std::logic_error("scheduler: cannot convert config value " + std::to_string(value));
  return result;
}

void check_supported(const SchedulerConfig& config) {
  const char* unsupported = config.use_karras_sigmas        ? "use_karras_sigmas"
                            : config.use_exponential_sigmas ? "use_exponential_sigmas"
                            : config.use_beta_sigmas        ? "use_beta_sigmas"
                            : config.stochastic_sampling    ? "stochastic_sampling"
                                                            : nullptr;
  if (unsupported)
    throw InputError(std::string("scheduler config: ") + unsupported + " = true is not supported");
  if (config.time_shift_type != "exponential" && config.time_shift_type != "linear")
    throw InputError("scheduler config: time_shift_type must be \"exponential\" or \"linear\", got \"" +
                     config.time_shift_type + "\"");
  if (config.num_train_timesteps <= 0)
    throw InputError("scheduler config: num_train_timesteps must be positive, got " +
                     std::to_string(config.num_train_timesteps));
  if (config.use_dynamic_shifting && config.max_image_seq_len == config.base_image_seq_len)
    throw InputError("scheduler config: max_image_seq_len equals base_image_seq_len, so the dynamic shift "
                     "is undefined");
}

// np.linspace(1.0, 1/n, n) (float64: step = (stop − start)/(n − 1), y_i = i·step + start, last = stop),
// then rounded to float32 as set_timesteps does.
std::vector<float> default_sigmas(int steps) {
  const double start = 1.0;
  const double stop = 1.0 / steps;
  std::vector<float> sigmas(static_cast<size_t>(steps));
  const double step = steps > 1 ? (stop - start) / (steps - 1) : 0.0;
  for (int i = 0; i < steps; ++i) sigmas[size_t(i)] = float(double(i) * step + start);
  if (steps > 1) sigmas.back() = float(stop);
  return sigmas;
}

// Step 2, the shift, in float32.
std::vector<float> shift_sigmas(const SchedulerConfig& config, const std::vector<float>& s,
                                int64_t image_seq_len) {
  std::vector<float> shifted(s.size());
  if (config.use_dynamic_shifting) {
    const double mu = dynamic_shift_mu(config, image_seq_len);
    // Python scalars meet the float32 array and are rounded to float32 first (numpy promotion rules).
    const float numerator = config.time_shift_type == "exponential" ? float(std::exp(mu)) : float(mu);
    for (size_t i = 0; i < s.size(); ++i) {
      const float one_over_s_minus_1 = 1.0f / s[i] - 1.0f;
      shifted[i] = numerator / (numerator + one_over_s_minus_1);
    }
  } else {
    const double shift = config_double(config.shift);
    const float shift_f = float(shift);
    const float shift_minus_1 = float(shift - 1.0);
    for (size_t i = 0; i < s.size(); ++i) shifted[i] = shift_f * s[i] / (1.0f + shift_minus_1 * s[i]);
  }
  return shifted;
}

// Step 3: stretch so the last sigma is shift_terminal.
void stretch_to_terminal(std::vector<float>& sigmas, double shift_terminal) {
  const float scale = (1.0f - sigmas.back()) / float(1.0 - shift_terminal);
  for (float& sigma : sigmas) sigma = 1.0f - (1.0f - sigma) / scale;
}

}  // namespace

double dynamic_shift_mu(const SchedulerConfig& config, int64_t image_seq_len) {
  const double base_shift = config_double(config.base_shift);
  const double max_shift = config_double(config.max_shift);
  const double slope = (max_shift - base_shift) / double(config.max_image_seq_len - config.base_image_seq_len);
  const double intercept = base_shift - slope * double(config.base_image_seq_len);
  return double(image_seq_len) * slope + intercept;
}

FlowMatchSchedule flow_match_schedule(const SchedulerConfig& config, int steps, int64_t image_seq_len,
                                      const std::vector<float>& custom_sigmas) {
  check_supported(config);
  if (steps < 1) throw UsageError("steps must be at least 1, got " + std::to_string(steps));
  if (image_seq_len < 1)
    throw UsageError("image sequence length must be at least 1, got " + std::to_string(image_seq_len));
  if (!custom_sigmas.empty() && custom_sigmas.size() != size_t(steps))
    throw UsageError("got " + std::to_string(custom_sigmas.size()) + " custom sigmas for " +
                     std::to_string(steps) + " steps; give exactly one sigma per step");
  for (float sigma : custom_sigmas)
    if (!(sigma > 0.0f && sigma <= 1.0f))
      throw UsageError("custom sigma " + std::to_string(sigma) + " is outside (0, 1]");

  std::vector<float> sigmas = shift_sigmas(config, custom_sigmas.empty() ? default_sigmas(steps) : custom_sigmas,
                                           image_seq_len);
  if (config.shift_terminal != 0.0f) {
    if (sigmas.back() >= 1.0f)
      throw UsageError("the last sigma is 1 (a single step, or custom sigmas ending at 1), so the schedule "
                       "cannot be stretched to shift_terminal " + std::to_string(config.shift_terminal) +
                       "; use at least 2 steps and end custom sigmas below 1");
    stretch_to_terminal(sigmas, config_double(config.shift_terminal));
  }
  if (config.invert_sigmas)
    for (float& sigma : sigmas) sigma = 1.0f - sigma;

  FlowMatchSchedule schedule;
  const float train_timesteps = float(config.num_train_timesteps);
  schedule.timesteps.reserve(size_t(steps));
  for (float sigma : sigmas) schedule.timesteps.push_back(sigma * train_timesteps);
  schedule.sigmas = std::move(sigmas);
  schedule.sigmas.push_back(config.invert_sigmas ? 1.0f : 0.0f);
  return schedule;
}

float model_timestep_fp32(float t) { return t / kPipelineTimestepScale; }

float model_timestep_bf16(float t) {
  const float t_bf16 = bf16_to_f32(f32_to_bf16(t));
  return bf16_to_f32(f32_to_bf16(t_bf16 / kPipelineTimestepScale));
}

}  // namespace qi
