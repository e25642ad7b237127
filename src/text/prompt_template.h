// The Qwen-Image prompt template (diffusers QwenImagePipeline, spec §2.3): the user's prompt is wrapped in a
// chat template, tokenised as one string, and the text encoder's outputs for the first
// kPromptTemplateDropIndex tokens (the system block and "<|im_start|>user\n") are dropped afterwards.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qi {

class Qwen2Tokenizer;

// The template is kPromptTemplatePrefix + prompt + kPromptTemplateSuffix.
inline constexpr std::string_view kPromptTemplatePrefix =
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial "
    "relationships of the objects and background:<|im_end|>\n<|im_start|>user\n";
inline constexpr std::string_view kPromptTemplateSuffix = "<|im_end|>\n<|im_start|>assistant\n";

// diffusers' prompt_template_encode_start_idx: the number of template tokens before the prompt. Exact for
// every prompt except one starting with "\n", which merges with the template's last "\n" (one prompt
// newline is then dropped instead, as in diffusers).
inline constexpr size_t kPromptTemplateDropIndex = 34;

// diffusers tokenises with truncation at tokenizer_max_length (1024) + the template prefix.
inline constexpr size_t kPromptTokenizerMaxLength = 1024;
inline constexpr size_t kPromptMaxTokens = kPromptTokenizerMaxLength + kPromptTemplateDropIndex;

// kPromptTemplatePrefix + prompt + kPromptTemplateSuffix.
std::string apply_prompt_template(std::string_view prompt);

// The ids diffusers feeds the text encoder for `prompt`: the templated prompt tokenised as one string and
// truncated to kPromptMaxTokens. InputError when the tokenizer lacks the template's special tokens or the
// prompt is not valid UTF-8.
std::vector<int32_t> encode_prompt(const Qwen2Tokenizer& tokenizer, std::string_view prompt);

}  // namespace qi
