// 16-bit floats (F16, BF16) read from buffers declared as uint[] words, so no 16-bit storage feature is
// needed: element i is half (i & 1) of word i >> 1 (little-endian). BF16 widens exactly (bits << 16).
#ifndef QI_HALF_WORDS_GLSL
#define QI_HALF_WORDS_GLSL

// Mirrors vk::shader_dtype().
const uint DT_F32 = 0u;
const uint DT_F16 = 1u;
const uint DT_BF16 = 2u;

float f16_from_word(uint word, uint i) { return unpackHalf2x16(word >> ((i & 1u) * 16u)).x; }
float bf16_from_word(uint word, uint i) { return uintBitsToFloat((word >> ((i & 1u) * 16u)) << 16); }

float half_from_word(uint word, uint i, uint dtype) {
  return dtype == DT_BF16 ? bf16_from_word(word, i) : f16_from_word(word, i);
}

// Element i of a uint[] buffer holding F32, F16 or BF16 values (dtype known only at run time).
#define LOAD_ANY_FLOAT(words, i, dtype) \
  ((dtype) == DT_F32 ? uintBitsToFloat(words[i]) : half_from_word(words[(i) >> 1], (i), (dtype)))

#endif
