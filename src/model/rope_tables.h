// Rotary-embedding angle tables, computed on the host in fp32 exactly as the reference does (inverse
// frequencies 1/θ^(2j/d) in fp32, angle = position·frequency in fp32). Layout [positions, pairs, 2] holding
// (cos, sin), as Backend::rope expects.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace qi {

// Text encoder (spec §5.2-5.3): 1-D positions 0..T-1, pair j uses θ^(−2j/head_dim). Text-only mRoPE with
// three identical position rows is exactly this table.
std::vector<float> halfsplit_rope_table(int64_t positions, int head_dim, float theta);

// MMDiT (spec §3.3): 3-axis tables for the image tokens of an hp×wp patch grid (centred positions, odd
// sizes putting the extra position on the negative side) and for `text_len` text tokens (all three axes at
// max(hp/2, wp/2) + i).
struct MmditRopeTables {
  std::vector<float> image;  // [hp·wp, head_dim/2, 2]
  std::vector<float> text;   // [text_len, head_dim/2, 2]
};
MmditRopeTables mmdit_rope_tables(const std::array<int, 3>& axes_dims, float theta, int64_t hp, int64_t wp,
                                  int64_t text_len);

}  // namespace qi
