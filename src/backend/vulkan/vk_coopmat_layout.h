// Which element of a 16×16 fp32 GL_NV_cooperative_matrix accumulator each lane's component holds. The
// extension leaves it to the implementation; the register-softmax attention works on accumulator components
// in registers, handles one family of layouts (AccumulatorLayout in vk_context.h) and runs only where the
// probe found a member of it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "backend/vulkan/vk_context.h"

namespace qi::vk {

// Words of coopmat_layout_probe's output: element (r, c) of the stored matrix at r·16 + c holds
// lane · kProbeComponentSlots + component; the last word holds the component count per lane.
constexpr uint32_t kProbeComponentSlots = 64;  // COMPONENT_SLOTS in shaders/coopmat_layout_probe.comp
constexpr size_t kProbeWords = 16 * 16 + 1;

// The family member the probe's output describes; nullopt for any other layout (logged, with the map at
// debug level).
std::optional<AccumulatorLayout> decode_accumulator_layout(std::span<const float> words);

// Runs coopmat_layout_probe once on the device and decodes it; nullopt without the shader or without NV
// cooperative matrices of 32-lane subgroups.
std::optional<AccumulatorLayout> probe_accumulator_layout(Context& ctx);

// The specialization constants of the register kernels (ROW_HALF_BIT, COLUMN_HALF_BIT in
// shaders/coopmat_accumulator_layout.glsl) for the context's probed layout; the family's first member if none.
std::array<uint32_t, 2> accumulator_layout_constants(const Context& ctx);

}  // namespace qi::vk
