// Which elements of a workgroup-scope fp32 cooperative-matrix accumulator (VK_NV_cooperative_matrix2) each
// invocation holds. The extension leaves it to the implementation; the workgroup-scope attention works on its
// accumulators' elements and assumes the layout the NVIDIA driver was found to use (docs/performance.md): the
// subgroups tile the matrix as a grid of equal blocks numbered along columns first, and in a block lane l
// holds rows l/4 + 8i and columns 8j + 2·(l mod 4) + b as element 2·(i·block_columns/8 + j) + b.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "backend/vulkan/vk_context.h"

namespace qi::vk {

// Words of coopmat_workgroup_layout_probe's output: element (r, c) of the stored matrix at r·cols + c holds
// invocation · kWorkgroupProbeElementSlots + element; the last word holds the element count per invocation.
constexpr uint32_t kWorkgroupProbeElementSlots = 64;  // ELEMENT_SLOTS in the probe shader
constexpr uint32_t kWorkgroupProbeSubgroup = 32;      // the layout's lanes per subgroup

// The number of subgroup-grid columns of the layout the probe's output describes for a rows × cols matrix
// held by `threads` invocations; nullopt for any other layout (logged).
std::optional<uint32_t> decode_workgroup_layout(std::span<const float> words, uint32_t rows, uint32_t cols,
                                                uint32_t threads);

// Runs coopmat_workgroup_layout_probe_<rows>x<cols>_t<threads> on the device and decodes it;
// nullopt without the shader or workgroup-scope matrices.
std::optional<uint32_t> probe_workgroup_layout(Context& ctx, uint32_t rows, uint32_t cols, uint32_t threads);

}  // namespace qi::vk
