#include "pipeline/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"

namespace qi {
namespace {

// The published Qwen-Image scheduler_config.json (spec §1.4) is what SchedulerConfig defaults to.
SchedulerConfig published_config() { return SchedulerConfig{}; }

struct SpecRow {
  int steps;
  int64_t seq;
  double mu;
  double head[6];  // σ[0..5]
  double tail[4];  // σ[n−3..n]
};

// Spec §2.6, verified there on diffusers' own class.
const SpecRow kSpecRows[] = {
    {50, 4096, 0.693548387, {1.0, 0.98970091, 0.97919148, 0.96846533, 0.95751566, 0.94633532},
     {0.09549850, 0.05847579, 0.01999998, 0}},
    {50, 6889, 0.834324597, {1.0, 0.99098831, 0.98176795, 0.97233158, 0.96267152, 0.95277965},
     {0.10544860, 0.06378275, 0.01999998, 0}},
    {50, 6032, 0.791129032, {1.0, 0.99061203, 0.98101419, 0.97119945, 0.96116012, 0.95088863},
     {0.10228205, 0.06208760, 0.01999998, 0}},
    {8, 4096, 0.693548387, {1.0, 0.91602397, 0.82004577, 0.70929456, 0.58007485, 0.42734694},
     {0.42734694, 0.24405390, 0.01999998, 0}},
};
// The table prints 8 decimals (μ: 9).
constexpr double kTableTolerance = 1e-8;
constexpr double kMuTolerance = 1e-9;

TEST(FlowMatchSchedule, MatchesTheSpecVectors) {
  for (const SpecRow& row : kSpecRows) {
    SCOPED_TRACE("steps " + std::to_string(row.steps) + ", seq " + std::to_string(row.seq));
    EXPECT_NEAR(dynamic_shift_mu(published_config(), row.seq), row.mu, kMuTolerance);
    const FlowMatchSchedule s = flow_match_schedule(published_config(), row.steps, row.seq);
    ASSERT_EQ(s.sigmas.size(), size_t(row.steps) + 1);
    ASSERT_EQ(s.timesteps.size(), size_t(row.steps));
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(s.sigmas[size_t(i)], row.head[i], kTableTolerance) << i;
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(s.sigmas[size_t(row.steps - 3 + i)], row.tail[i], kTableTolerance) << row.steps - 3 + i;
    EXPECT_EQ(s.sigmas.front(), 1.0f);
    EXPECT_EQ(s.sigmas.back(), 0.0f);
    for (int i = 0; i < row.steps; ++i) {
      EXPECT_LT(s.sigmas[size_t(i) + 1], s.sigmas[size_t(i)]) << i;
      EXPECT_EQ(s.timesteps[size_t(i)], s.sigmas[size_t(i)] * 1000.0f) << i;
    }
  }
}

TEST(ModelTimestep, Bf16PipelineQuantisesTwiceAsSpecified) {
  // Spec §2.6/§2.7: 1024², 50 steps in a bf16 pipeline.
  const FlowMatchSchedule s = flow_match_schedule(published_config(), 50, 4096);
  const float expected_head[] = {1.0f, 0.98828125f, 0.98046875f, 0.96875f};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(model_timestep_bf16(s.timesteps[i]), expected_head[i]) << i;
  EXPECT_EQ(model_timestep_bf16(s.timesteps.back()), 0.02001953125f);
  // 989.70 -> bf16 988 (spacing 4 in [512, 1024)) -> 0.988 -> bf16 0.98828125.
  EXPECT_EQ(model_timestep_bf16(989.70f), 0.98828125f);
  EXPECT_EQ(model_timestep_fp32(1000.0f), 1.0f);
}

TEST(FlowMatchSchedule, StaticShiftWhenDynamicShiftingIsOff) {
  SchedulerConfig config = published_config();
  config.use_dynamic_shifting = false;
  config.shift = 3.0f;
  config.shift_terminal = 0.0f;
  // s = linspace(1, 1/2, 2) = [1, 0.5]; σ = 3s/(1 + 2s) = [1, 0.75]; all exact in float.
  const FlowMatchSchedule s = flow_match_schedule(config, 2, 4096);
  EXPECT_EQ(s.sigmas, (std::vector<float>{1.0f, 0.75f, 0.0f}));
  EXPECT_EQ(s.timesteps, (std::vector<float>{1000.0f, 750.0f}));
}

TEST(FlowMatchSchedule, LinearTimeShift) {
  SchedulerConfig config = published_config();
  config.time_shift_type = "linear";
  config.shift_terminal = 0.0f;
  const int steps = 10;
  const int64_t seq = 1024;
  const double mu = dynamic_shift_mu(config, seq);
  const FlowMatchSchedule s = flow_match_schedule(config, steps, seq);
  for (int i = 0; i < steps; ++i) {
    const double t = 1.0 + i * (1.0 / steps - 1.0) / (steps - 1);
    EXPECT_NEAR(s.sigmas[size_t(i)], mu / (mu + (1.0 / t - 1.0)), 1e-6) << i;
  }
}

TEST(FlowMatchSchedule, MuIsExtrapolatedBeyondTheMaximumSequenceLength) {
  const SchedulerConfig config = published_config();
  // m = 0.4/7936, b = 0.5 − 256m; no clamping at max_image_seq_len 8192.
  const double m = 0.4 / 7936.0;
  EXPECT_NEAR(dynamic_shift_mu(config, 16384), 16384 * m + (0.5 - 256 * m), 1e-12);
  EXPECT_GT(dynamic_shift_mu(config, 16384), 0.9);
}

TEST(FlowMatchSchedule, CustomSigmasReplaceTheLinspace) {
  const SchedulerConfig config = published_config();
  const FlowMatchSchedule default_schedule = flow_match_schedule(config, 4, 35);
  // The linspace QwenImagePipeline builds for 4 steps, given explicitly, gives the same schedule.
  const FlowMatchSchedule custom = flow_match_schedule(config, 4, 35, {1.0f, 0.75f, 0.5f, 0.25f});
  EXPECT_EQ(custom.sigmas, default_schedule.sigmas);
  const FlowMatchSchedule other = flow_match_schedule(config, 4, 35, {1.0f, 0.9f, 0.5f, 0.1f});
  EXPECT_NE(other.sigmas, default_schedule.sigmas);
  EXPECT_NEAR(other.sigmas[3], 0.02, 1e-7);  // still stretched to shift_terminal
}

TEST(FlowMatchSchedule, InvertSigmas) {
  SchedulerConfig config = published_config();
  config.invert_sigmas = true;
  const FlowMatchSchedule plain = flow_match_schedule(published_config(), 4, 35);
  const FlowMatchSchedule inverted = flow_match_schedule(config, 4, 35);
  ASSERT_EQ(inverted.sigmas.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(inverted.sigmas[i], 1.0f - plain.sigmas[i]) << i;
    EXPECT_EQ(inverted.timesteps[i], inverted.sigmas[i] * 1000.0f) << i;
  }
  EXPECT_EQ(inverted.sigmas.back(), 1.0f);
}

TEST(FlowMatchSchedule, RefusesBadArguments) {
  const SchedulerConfig config = published_config();
  EXPECT_THROW(flow_match_schedule(config, 0, 35), UsageError);
  EXPECT_THROW(flow_match_schedule(config, 4, 0), UsageError);
  EXPECT_THROW(flow_match_schedule(config, 3, 35, {1.0f, 0.5f}), UsageError);
  EXPECT_THROW(flow_match_schedule(config, 2, 35, {1.0f, 0.0f}), UsageError);
  EXPECT_THROW(flow_match_schedule(config, 2, 35, {1.5f, 0.5f}), UsageError);
  EXPECT_THROW(flow_match_schedule(config, 2, 35, {1.0f, NAN}), UsageError);
  // One step: the only sigma is 1, which shift_terminal cannot stretch (diffusers yields NaN there).
  EXPECT_THROW(flow_match_schedule(config, 1, 35), UsageError);
}

TEST(FlowMatchSchedule, RefusesUnsupportedConfigs) {
  for (auto flag : {&SchedulerConfig::use_karras_sigmas, &SchedulerConfig::use_exponential_sigmas,
                    &SchedulerConfig::use_beta_sigmas, &SchedulerConfig::stochastic_sampling}) {
    SchedulerConfig config = published_config();
    config.*flag = true;
    EXPECT_THROW(flow_match_schedule(config, 4, 35), InputError);
  }
  SchedulerConfig config = published_config();
  config.time_shift_type = "cosine";
  EXPECT_THROW(flow_match_schedule(config, 4, 35), InputError);
}

}  // namespace
}  // namespace qi
