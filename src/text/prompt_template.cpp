#include "text/prompt_template.h"

#include "core/error.h"
#include "text/qwen2_tokenizer.h"
#include "text/utf8.h"

namespace qi {

namespace {

// The added tokens the template is built from; without them it would be tokenised as plain text.
constexpr std::string_view kTemplateSpecialTokens[] = {"<|im_start|>", "<|im_end|>"};

}  // namespace

std::string apply_prompt_template(std::string_view prompt) {
  std::string templated;
  templated.reserve(kPromptTemplatePrefix.size() + prompt.size() + kPromptTemplateSuffix.size());
  templated.append(kPromptTemplatePrefix).append(prompt).append(kPromptTemplateSuffix);
  return templated;
}

std::vector<int32_t> encode_prompt(const Qwen2Tokenizer& tokenizer, std::string_view prompt) {
  for (std::string_view token : kTemplateSpecialTokens)
    if (!tokenizer.added_token_id(token))
      throw InputError(tokenizer.origin() + " has no added token " + std::string(token) +
                       ", which the Qwen-Image prompt template needs");
  text::require_utf8(prompt, "prompt");
  std::vector<int32_t> ids = tokenizer.encode(apply_prompt_template(prompt));
  if (ids.size() > kPromptMaxTokens) ids.resize(kPromptMaxTokens);
  return ids;
}

}  // namespace qi
