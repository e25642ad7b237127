// Raw elements of 1, 2 or 4 bytes (elem_shift = log2 of the size) read from and assembled into uint[] words,
// so data movement works for every dtype without 8/16-bit storage. Each thread writes one whole output word
// holding 4 >> elem_shift elements (the allocation is padded to whole words).
#ifndef QI_ELEMENT_WORDS_GLSL
#define QI_ELEMENT_WORDS_GLSL

#define ELEMENT_BITS(shift) (8u << (shift))
#define ELEMENTS_PER_WORD(shift) (4u >> (shift))
// Element idx of words[] as the low bits of a uint.
#define READ_ELEMENT(words, idx, shift)                                                              \
  ((shift) == 2u ? words[idx]                                                                        \
                 : ((words[(idx) >> (2u - (shift))] >> (((idx) & (ELEMENTS_PER_WORD(shift) - 1u)) *   \
                                                        ELEMENT_BITS(shift))) &                       \
                    ((1u << ELEMENT_BITS(shift)) - 1u)))

#endif
