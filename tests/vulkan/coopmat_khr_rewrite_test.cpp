// The build-time rewrite of NV cooperative-matrix SPIR-V into SPV_KHR_cooperative_matrix
// (tools/shader_build/coopmat_nv_to_khr.cpp), behind the workgroup-scope matmul: checked on the embedded
// shader this build produced (no device needed) and by running the tool on small modules compiled here,
// including one it must refuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/vulkan/embedded_shaders.h"
#include "support/scratch_dir.h"

namespace qi::test {
namespace {

constexpr uint32_t kHeaderWords = 5;
constexpr uint32_t kOpExtension = 10, kOpCapability = 17, kOpConstant = 43;
constexpr uint32_t kCapabilityCooperativeMatrixNV = 5357, kCapabilityCooperativeMatrixKHR = 6022;
constexpr uint32_t kFirstNvOpcode = 5358, kLastNvOpcode = 5362;  // OpTypeCooperativeMatrixNV .. LengthNV
constexpr uint32_t kOpTypeCooperativeMatrixKHR = 4456, kOpCooperativeMatrixLoadKHR = 4457,
                   kOpCooperativeMatrixMulAddKHR = 4459;
constexpr uint32_t kCapabilityCooperativeMatrixConversionsNV = 5431;
constexpr uint32_t kScopeWorkgroup = 2;
constexpr uint32_t kUseA = 0, kUseB = 1, kUseAccumulator = 2;

struct Instruction {
  uint32_t opcode;
  std::vector<uint32_t> operands;
};

std::vector<Instruction> parse(const uint32_t* words, size_t count) {
  std::vector<Instruction> out;
  for (size_t at = kHeaderWords; at < count;) {
    const uint32_t n = words[at] >> 16;
    if (n == 0 || at + n > count) throw std::runtime_error("malformed SPIR-V");
    out.push_back({words[at] & 0xffffu, std::vector<uint32_t>(words + at + 1, words + at + n)});
    at += n;
  }
  return out;
}

std::string literal_string(const std::vector<uint32_t>& w) {
  std::string s(reinterpret_cast<const char*>(w.data()), w.size() * 4);
  return s.substr(0, s.find('\0'));
}

struct MatrixType {
  uint32_t component, scope, rows, cols, use;
};

// Checks a rewritten module's form and returns its matrix types by id; constants must precede their use.
std::map<uint32_t, MatrixType> check_khr_module(const std::vector<Instruction>& module) {
  std::map<uint32_t, uint32_t> constant;  // id -> value (32-bit constants declared so far)
  std::map<uint32_t, MatrixType> types;
  bool capability = false, extension = false;
  for (const Instruction& ins : module) {
    EXPECT_FALSE(ins.opcode >= kFirstNvOpcode && ins.opcode <= kLastNvOpcode) << "NV opcode " << ins.opcode << " left";
    if (ins.opcode == kOpCapability) {
      EXPECT_NE(ins.operands[0], kCapabilityCooperativeMatrixNV);
      capability = capability || ins.operands[0] == kCapabilityCooperativeMatrixKHR;
    }
    if (ins.opcode == kOpExtension) {
      EXPECT_NE(literal_string(ins.operands), "SPV_NV_cooperative_matrix");
      extension = extension || literal_string(ins.operands) == "SPV_KHR_cooperative_matrix";
    }
    if (ins.opcode == kOpConstant && ins.operands.size() == 3) constant[ins.operands[1]] = ins.operands[2];
    if (ins.opcode == kOpTypeCooperativeMatrixKHR) {
      EXPECT_EQ(ins.operands.size(), 6u);  // result, component type, scope, rows, columns, use
      for (size_t i = 2; i < 6; ++i) EXPECT_TRUE(constant.count(ins.operands[i])) << "operand " << i << " undeclared";
      types[ins.operands[0]] = {ins.operands[1], constant[ins.operands[2]], constant[ins.operands[3]],
                                constant[ins.operands[4]], constant[ins.operands[5]]};
    }
    if (ins.opcode == kOpCooperativeMatrixLoadKHR) {  // result type, result, pointer, layout, stride, ...
      EXPECT_TRUE(constant.count(ins.operands[3]));
      EXPECT_LE(constant[ins.operands[3]], 1u) << "layout must be RowMajorKHR or ColumnMajorKHR";
    }
  }
  EXPECT_TRUE(capability);
  EXPECT_TRUE(extension);
  return types;
}

TEST(CoopmatKhrRewrite, WorkgroupMatmulShaderHasOneTypePerUse) {
  const EmbeddedShader* shader = nullptr;
  for (const EmbeddedShader& s : embedded_shaders())
    if (std::string(s.name) == "matmul_coopmat_nv_wg128x128x32_f16_k8") shader = &s;
  if (!shader) GTEST_SKIP() << "this build's glslc lacks GL_NV_cooperative_matrix";
  const std::vector<Instruction> module = parse(shader->words, shader->word_count);
  const std::map<uint32_t, MatrixType> types = check_khr_module(module);
  ASSERT_EQ(types.size(), 3u);  // A 128×32 fp16, B 32×32 fp16, accumulators 128×32 fp32
  std::map<uint32_t, MatrixType> by_use;
  for (const auto& [id, t] : types) {
    EXPECT_EQ(t.scope, kScopeWorkgroup);
    by_use[t.use] = t;
  }
  ASSERT_EQ(by_use.size(), 3u);
  EXPECT_EQ(by_use[kUseA].rows, 128u);
  EXPECT_EQ(by_use[kUseA].cols, 32u);
  EXPECT_EQ(by_use[kUseB].rows, 32u);
  EXPECT_EQ(by_use[kUseB].cols, 32u);
  EXPECT_EQ(by_use[kUseAccumulator].rows, 128u);
  EXPECT_EQ(by_use[kUseAccumulator].cols, 32u);
  // Every multiply-add's result type is the accumulator type.
  int multiply_adds = 0;
  for (const Instruction& ins : module)
    if (ins.opcode == kOpCooperativeMatrixMulAddKHR) {
      ++multiply_adds;
      EXPECT_EQ(types.at(ins.operands[0]).use, kUseAccumulator);
    }
  EXPECT_EQ(multiply_adds, 4);  // SPLIT accumulators, one multiply-add each per slice
}

// Whether this build's glslc and rewriting tool are at hand (not where only the test binary was copied, as
// on the lent GPU machines).
bool build_tools_present() {
  return std::filesystem::exists(QI_GLSLC) && std::filesystem::exists(QI_COOPMAT_TOOL);
}

// Compiles `glsl` with this build's glslc and runs the tool on it; returns the tool's exit status and, on
// success, the rewritten module.
int compile_and_rewrite(const ScratchDir& dir, const std::string& glsl, std::vector<Instruction>* module,
                        const std::string& options = "") {
  const auto src = dir.write("shader.comp", glsl);
  const std::string nv = (dir / "nv.spv").string(), khr = (dir / "khr.spv").string();
  const std::string compile = std::string("'") + QI_GLSLC + "' --target-env=vulkan1.3 -fshader-stage=compute '" +
                              src.string() + "' -o '" + nv + "'";
  if (std::system(compile.c_str()) != 0) throw std::runtime_error("glslc failed: " + compile);
  const int rc = std::system(
      (std::string("'") + QI_COOPMAT_TOOL + "' " + options + " '" + nv + "' '" + khr + "' 2>/dev/null").c_str());
  if (rc == 0 && module) {
    std::ifstream in(khr, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<uint32_t> words(bytes.size() / 4);
    std::memcpy(words.data(), bytes.data(), words.size() * 4);
    *module = parse(words.data(), words.size());
  }
  return rc;
}

std::string gemm_shader(const char* a_shape, const char* b_shape, const char* multiply_add = "a, b, c") {
  return std::string(R"(#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Data { float16_t h[]; float f[]; };
void main() {
  fcoopmatNV<16, gl_ScopeWorkgroup, )") + a_shape + R"(> a;
  fcoopmatNV<16, gl_ScopeWorkgroup, )" + b_shape + R"(> b;
  coopMatLoadNV(a, h, 0, 32, false);
  coopMatLoadNV(b, h, 4096, 32, true);
  fcoopmatNV<32, gl_ScopeWorkgroup, 32, 32> c = fcoopmatNV<32, gl_ScopeWorkgroup, 32, 32>(0.0);
  c = coopMatMulAddNV()" + multiply_add + R"();
  coopMatStoreNV(c, f, 0, 32, false);
}
)";
}

TEST(CoopmatKhrRewrite, ToolGivesEachOperandItsUse) {
  if (!build_tools_present()) GTEST_SKIP() << "glslc or the rewriting tool is not where the build left it";
  ScratchDir dir;
  std::vector<Instruction> module;
  ASSERT_EQ(compile_and_rewrite(dir, gemm_shader("32, 16", "16, 32"), &module), 0);
  const std::map<uint32_t, MatrixType> types = check_khr_module(module);
  ASSERT_EQ(types.size(), 3u);
  std::map<uint32_t, uint32_t> use_count;
  for (const auto& [id, t] : types) {
    ++use_count[t.use];
    if (t.use == kUseA) {
      EXPECT_EQ(t.cols, 16u);
    }
    if (t.use == kUseB) {
      EXPECT_EQ(t.rows, 16u);
    }
  }
  EXPECT_EQ(use_count, (std::map<uint32_t, uint32_t>{{kUseA, 1}, {kUseB, 1}, {kUseAccumulator, 1}}));
}

TEST(CoopmatKhrRewrite, ToolClonesATypeNeededAsBothOperands) {
  if (!build_tools_present()) GTEST_SKIP() << "glslc or the rewriting tool is not where the build left it";
  // A and B of the same shape and component type are one NV type; a KHR type has one use, so B's value (and
  // the variables it passes through) is retyped to a clone of it.
  ScratchDir dir;
  std::vector<Instruction> module;
  ASSERT_EQ(compile_and_rewrite(dir, gemm_shader("32, 32", "32, 32"), &module), 0);
  const std::map<uint32_t, MatrixType> types = check_khr_module(module);
  std::map<uint32_t, uint32_t> use_count;
  for (const auto& [id, t] : types) {
    ++use_count[t.use];
    EXPECT_EQ(t.rows, 32u);
    EXPECT_EQ(t.cols, 32u);
  }
  EXPECT_EQ(use_count, (std::map<uint32_t, uint32_t>{{kUseA, 1}, {kUseB, 1}, {kUseAccumulator, 1}}));
  // Each load produces the type of the operand it feeds.
  // The multiply-add's operands have the types of their uses (through the variables glslang keeps them in).
  std::map<uint32_t, uint32_t> value_type;
  for (const Instruction& ins : module)
    if (ins.operands.size() >= 2 && types.count(ins.operands[0])) value_type[ins.operands[1]] = ins.operands[0];
  int multiply_adds = 0;
  for (const Instruction& ins : module) {
    if (ins.opcode != kOpCooperativeMatrixMulAddKHR) continue;
    ++multiply_adds;
    EXPECT_EQ(types.at(value_type.at(ins.operands[2])).use, kUseA);
    EXPECT_EQ(types.at(value_type.at(ins.operands[3])).use, kUseB);
  }
  EXPECT_EQ(multiply_adds, 1);
}

TEST(CoopmatKhrRewrite, ToolRefusesOneValueAsBothOperands) {
  if (!build_tools_present()) GTEST_SKIP() << "glslc or the rewriting tool is not where the build left it";
  ScratchDir dir;
  EXPECT_NE(compile_and_rewrite(dir, gemm_shader("32, 32", "32, 32", "a, a, c"), nullptr), 0);
}

// --tensor-loads: the loads from the storage buffer become tensor-addressed loads (a layout of the matrix's
// size and the load's stride; the column-major B through the transposing view), the load from shared memory
// stays a KHR load, and the module declares what they need.
TEST(CoopmatKhrRewrite, ToolTurnsStorageBufferLoadsIntoTensorLoads) {
  if (!build_tools_present()) GTEST_SKIP() << "glslc or the rewriting tool is not where the build left it";
  constexpr uint32_t kOpConstantFalse = 42, kOpUndef = 1;
  constexpr uint32_t kOpLoadTensor = 5367, kOpTypeTensorLayout = 5370, kOpTypeTensorView = 5371,
                     kOpCreateTensorLayout = 5372, kOpSetDimension = 5373, kOpSetStride = 5374,
                     kOpCreateTensorView = 5377;
  constexpr uint32_t kCapabilityTensorAddressing = 5439, kCapabilityCoopmatTensorAddressing = 5433;
  const std::string glsl = R"(#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Data { float16_t h[]; };
layout(std430, binding = 1) buffer Out { float f[]; };
shared float staged[32 * 32];
void main() {
  fcoopmatNV<16, gl_ScopeWorkgroup, 32, 16> a;
  fcoopmatNV<16, gl_ScopeWorkgroup, 16, 48> b;
  fcoopmatNV<32, gl_ScopeWorkgroup, 32, 48> c;
  coopMatLoadNV(a, h, 0, 40, false);
  coopMatLoadNV(b, h, 4096, 24, true);
  coopMatLoadNV(c, staged, 0, 48, false);
  c = coopMatMulAddNV(a, b, c);
  coopMatStoreNV(c, f, 0, 48, false);
}
)";
  ScratchDir dir;
  std::vector<Instruction> module;
  ASSERT_EQ(compile_and_rewrite(dir, glsl, &module, "--tensor-loads"), 0);
  const std::map<uint32_t, MatrixType> types = check_khr_module(module);
  std::map<uint32_t, uint32_t> constant;
  std::map<uint32_t, const Instruction*> defined;  // result id -> instruction (function-level values)
  std::set<uint32_t> capabilities, false_constants;
  std::set<std::string> extensions;
  uint32_t layout_type = 0, view_type = 0, khr_loads = 0;
  std::vector<const Instruction*> tensor_loads;
  for (const Instruction& ins : module) {
    if (ins.opcode == kOpConstant && ins.operands.size() == 3) constant[ins.operands[1]] = ins.operands[2];
    if (ins.opcode == kOpConstantFalse) false_constants.insert(ins.operands[1]);
    if (ins.opcode == kOpCapability) capabilities.insert(ins.operands[0]);
    if (ins.opcode == kOpExtension) extensions.insert(literal_string(ins.operands));
    if (ins.opcode == kOpTypeTensorLayout) {
      layout_type = ins.operands[0];
      EXPECT_EQ(constant.at(ins.operands[1]), 2u);  // two dimensions
      EXPECT_EQ(constant.at(ins.operands[2]), 0u);  // clamp mode Undefined
    }
    if (ins.opcode == kOpTypeTensorView) {  // two dimensions, no own extent, swapped
      view_type = ins.operands[0];
      ASSERT_EQ(ins.operands.size(), 5u);
      EXPECT_EQ(constant.at(ins.operands[1]), 2u);
      EXPECT_TRUE(false_constants.count(ins.operands[2]));
      EXPECT_EQ(constant.at(ins.operands[3]), 1u);
      EXPECT_EQ(constant.at(ins.operands[4]), 0u);
    }
    if (ins.opcode == kOpCreateTensorLayout || ins.opcode == kOpSetDimension || ins.opcode == kOpSetStride ||
        ins.opcode == kOpCreateTensorView || ins.opcode == kOpUndef)
      defined[ins.operands[1]] = &ins;
    if (ins.opcode == kOpLoadTensor) tensor_loads.push_back(&ins);
    if (ins.opcode == kOpCooperativeMatrixLoadKHR) ++khr_loads;
  }
  EXPECT_TRUE(capabilities.count(kCapabilityTensorAddressing));
  EXPECT_TRUE(capabilities.count(kCapabilityCoopmatTensorAddressing));
  EXPECT_TRUE(extensions.count("SPV_NV_tensor_addressing"));
  EXPECT_TRUE(extensions.count("SPV_NV_cooperative_matrix2"));
  ASSERT_NE(layout_type, 0u);
  ASSERT_NE(view_type, 0u);
  EXPECT_EQ(khr_loads, 1u);  // the accumulator from shared memory
  ASSERT_EQ(tensor_loads.size(), 2u);
  // Each tensor load: result type, result, pointer, object, layout, memory operand, addressing operands.
  // Its layout is SetStride(SetDimension(CreateTensorLayout)); returns {dim0, dim1, stride0, stride1}.
  auto layout_of = [&](uint32_t id) {
    const Instruction* strided = defined.at(id);
    EXPECT_EQ(strided->opcode, kOpSetStride);
    const Instruction* sized = defined.at(strided->operands[2]);
    EXPECT_EQ(sized->opcode, kOpSetDimension);
    EXPECT_EQ(defined.at(sized->operands[2])->opcode, kOpCreateTensorLayout);
    return std::vector<uint32_t>{constant.at(sized->operands[3]), constant.at(sized->operands[4]),
                                 constant.at(strided->operands[3]), constant.at(strided->operands[4])};
  };
  for (const Instruction* load : tensor_loads) {
    const MatrixType& t = types.at(load->operands[0]);
    EXPECT_EQ(defined.at(load->operands[3])->opcode, kOpUndef);
    EXPECT_EQ(load->operands[5], 0u);  // memory operand None
    if (t.use == kUseA) {              // row-major 32×16, stride 40: the tensor (32, 16), no view
      EXPECT_EQ(layout_of(load->operands[4]), (std::vector<uint32_t>{32, 16, 40, 1}));
      ASSERT_EQ(load->operands.size(), 7u);
      EXPECT_EQ(load->operands[6], 0u);
    } else {  // column-major 16×48, stride 24: the tensor (48, 16) through the view
      EXPECT_EQ(t.use, kUseB);
      EXPECT_EQ(layout_of(load->operands[4]), (std::vector<uint32_t>{48, 16, 24, 1}));
      ASSERT_EQ(load->operands.size(), 8u);
      EXPECT_EQ(load->operands[6], 1u);  // TensorView
      EXPECT_EQ(defined.at(load->operands[7])->opcode, kOpCreateTensorView);
    }
  }
  // Without the option the same module keeps KHR loads only.
  ASSERT_EQ(compile_and_rewrite(dir, glsl, &module), 0);
  for (const Instruction& ins : module) EXPECT_NE(ins.opcode, kOpLoadTensor);
}

bool declares_conversions(const std::vector<Instruction>& module) {
  bool capability = false, extension = false;
  for (const Instruction& ins : module) {
    capability = capability ||
                 (ins.opcode == kOpCapability && ins.operands[0] == kCapabilityCooperativeMatrixConversionsNV);
    extension =
        extension || (ins.opcode == kOpExtension && literal_string(ins.operands) == "SPV_NV_cooperative_matrix2");
  }
  EXPECT_EQ(capability, extension) << "the capability and its extension come together";
  return capability;
}

// The workgroup-scope attention converts its fp32 score accumulator into the fp16 B operand of P·V: that
// needs SPV_NV_cooperative_matrix2's CooperativeMatrixConversionsNV, which a GEMM does not.
TEST(CoopmatKhrRewrite, AccumulatorToOperandConversionDeclaresConversions) {
  const EmbeddedShader* attention = nullptr;
  const EmbeddedShader* gemm = nullptr;
  for (const EmbeddedShader& s : embedded_shaders()) {
    if (std::string(s.name) == "attention_coopmat_nv_workgroup_br64_bc32") attention = &s;
    if (std::string(s.name) == "matmul_coopmat_nv_wg128x128x32_f16_k8") gemm = &s;
  }
  if (!attention || !gemm) GTEST_SKIP() << "this build's glslc lacks GL_NV_cooperative_matrix";
  const std::vector<Instruction> module = parse(attention->words, attention->word_count);
  const std::map<uint32_t, MatrixType> types = check_khr_module(module);
  EXPECT_EQ(types.size(), 6u);  // K and Vᵀ (A), Qᵀ and Pᵀ (B), Sᵀ and Oᵀ (accumulators)
  EXPECT_TRUE(declares_conversions(module));
  EXPECT_FALSE(declares_conversions(parse(gemm->words, gemm->word_count)));
}

}  // namespace
}  // namespace qi::test
