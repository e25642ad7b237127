// load_w(i): element i of the weight buffer `w_words` (declared by the includer as uint[]), in the format
// chosen at compile time by W_F32, W_F16 or W_BF16 (one shader variant per weight format).
#ifndef QI_WEIGHTS_GLSL
#define QI_WEIGHTS_GLSL
#include "half_words.glsl"

#if defined(W_F32)
float load_w(uint i) { return uintBitsToFloat(w_words[i]); }
#elif defined(W_F16)
float load_w(uint i) { return f16_from_word(w_words[i >> 1], i); }
#elif defined(W_BF16)
float load_w(uint i) { return bf16_from_word(w_words[i >> 1], i); }
#else
#error "define W_F32, W_F16 or W_BF16"
#endif

#endif
