#include "io/component_inspection.h"

#include "core/error.h"
#include "io/weight_map.h"

namespace qi {

namespace {

struct ComponentPlan {
  std::vector<ExpectedTensor> expected;
  IgnorePredicate ignored = nullptr;
};

ComponentPlan plan_for(const std::string& component, const ModelDir& m, const TensorStore& store) {
  if (component == "transformer") return {expected_transformer_tensors(m.transformer), nullptr};
  if (component == "vae") {
    const bool has_encoder = store.has("encoder.conv_in.weight");
    return {expected_vae_tensors(m.vae, has_encoder), has_encoder ? nullptr : is_vae_encoder_key};
  }
  if (component == "text_encoder")
    return {expected_text_encoder_tensors(m.text_encoder, text_encoder_prefix(store)), is_ignored_text_encoder_key};
  throw InputError("unknown model component '" + component + "' (transformer, vae or text_encoder)");
}

}  // namespace

ComponentInspection inspect_component(const ModelDir& model, const std::string& component, bool stats,
                                      unsigned threads) {
  ComponentInspection r;
  r.component = component;
  ComponentPlan plan;
  try {
    r.store = TensorStore::open_dir(model.component(component.c_str()));
    plan = plan_for(component, model, r.store);
  } catch (const InputError& e) {
    r.open_error = e.what();
    return r;
  }
  r.expected_tensors = plan.expected.size();

  std::vector<const TensorView*> used;
  for (const auto& name : r.store.names()) {
    TensorReport t;
    t.view = &r.store.get(name);
    t.used = !plan.ignored || !plan.ignored(name);
    r.all_parameters += t.view->numel();
    if (t.used) {
      r.used_parameters += t.view->numel();
      used.push_back(t.view);
    }
    r.tensors.push_back(t);
  }

  if (stats) {
    r.read = prefetch_tensors(used, threads);
    std::vector<TensorHealth> health = compute_tensor_health(used, threads);
    size_t next = 0;
    for (auto& t : r.tensors) {
      if (!t.used) continue;
      t.health = health[next++];
      if (std::string problem = t.health->problem(); !problem.empty())
        r.unhealthy.push_back(t.view->name + " is " + problem);
    }
  }

  try {
    check_tensors(r.store, plan.expected, plan.ignored, component);
  } catch (const InputError& e) {
    r.check_error = e.what();
  }
  return r;
}

}  // namespace qi
