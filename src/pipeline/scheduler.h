// The sigma / timestep schedule of diffusers' FlowMatchEulerDiscreteScheduler as QwenImagePipeline sets it
// up (spec §2.5), reproducing its float32/float64 arithmetic so the schedules agree to the last bit:
//
//   1. s_i = linspace(1, 1/n, n) in float64 (numpy), rounded to float32; or the user's custom sigmas,
//      rounded to float32.
//   2. Shift, in float32 with the shift parameters rounded to float32 as numpy does with Python scalars:
//      dynamic exponential  σ'_i = e^μ / (e^μ + (1/s_i − 1))      (time_shift_type "exponential")
//      dynamic linear       σ'_i = μ / (μ + (1/s_i − 1))          (time_shift_type "linear")
//      static               σ'_i = shift·s_i / (1 + (shift − 1)·s_i)   (use_dynamic_shifting false)
//      where μ = m·seq + b, m = (max_shift − base_shift)/(max_image_seq_len − base_image_seq_len),
//      b = base_shift − m·base_image_seq_len, in float64 and not clamped.
//   3. If shift_terminal ≠ 0: z_i = 1 − σ'_i, k = z_{n−1}/(1 − shift_terminal), σ_i = 1 − z_i/k, so the
//      last sigma becomes shift_terminal.
//   4. timesteps t_i = num_train_timesteps·σ_i (float32); σ_n = 0 is appended.
//      With invert_sigmas, σ_i ← 1 − σ_i before the timesteps are taken and σ_n = 1.
//
// The Karras / exponential / beta sigma conversions and stochastic sampling are not implemented; a
// config asking for them is refused.
#pragma once
#include <cstdint>
#include <vector>

#include "io/model_config.h"

namespace qi {

struct FlowMatchSchedule {
  std::vector<float> sigmas;     // steps + 1 values, decreasing from σ_0; the last is 0 (1 with invert_sigmas)
  std::vector<float> timesteps;  // steps values, num_train_timesteps·σ_i
};

// μ of the dynamic shift for an image of `image_seq_len` packed latent tokens (diffusers calculate_shift).
double dynamic_shift_mu(const SchedulerConfig& config, int64_t image_seq_len);

// The schedule for `steps` denoising steps of an image of `image_seq_len` packed latent tokens
// ((H/16)·(W/16)). `custom_sigmas`, when not empty, replaces the default linspace and must hold `steps`
// values in (0, 1]. Throws UsageError for bad steps or sigmas, InputError for a config this
// implementation does not support.
FlowMatchSchedule flow_match_schedule(const SchedulerConfig& config, int steps, int64_t image_seq_len,
                                      const std::vector<float>& custom_sigmas = {});

// The `timestep` argument the transformer receives for loop timestep t (spec §2.7).
// float32 pipeline: t/1000 in float32.
float model_timestep_fp32(float t);
// bf16 pipeline: t is cast to bf16, then divided by 1000 in bf16 arithmetic (computed in float32 and
// rounded back to bf16), i.e. bf16(bf16(t)/1000). Returned widened to float.
float model_timestep_bf16(float t);

}  // namespace qi
