// Build-time tool: rewrites a SPIR-V module that uses SPV_NV_cooperative_matrix into one that uses
// SPV_KHR_cooperative_matrix.
//
// Why: Debian 12's glslc (glslang 11.13) compiles GL_NV_cooperative_matrix but neither
// GL_KHR_cooperative_matrix nor GL_NV_cooperative_matrix2. The KHR types are what VK_NV_cooperative_matrix2
// builds on: matrices of Workgroup scope, whose loads the driver stages through shared memory itself. The two
// extensions' instructions map one to one except that a KHR matrix type names its use (A, B or accumulator)
// and a KHR load/store names its layout by an integer constant instead of a boolean. So a shader written
// with NV types (glslang accepts gl_ScopeWorkgroup and any dimensions there) becomes a KHR shader here:
//   - each NV matrix type gets the use its operand position in OpCooperativeMatrixMulAddNV gives it (types
//     used by no multiply-add are accumulators); a type needed in two positions (an A and a B operand of the
//     same shape) is cloned per extra use and the values needing it are retyped where they are loaded or
//     converted (anything else, e.g. a value through a phi, is an error);
//   - loads/stores: the column-major boolean constant becomes a MemoryLayout constant (RowMajorKHR 0,
//     ColumnMajorKHR 1) and moves before the stride;
//   - the capability and extension are renamed, the multiply-add and length opcodes renumbered;
//   - a conversion between matrices of different uses (an fp32 accumulator to an fp16 operand: attention's
//     weights) adds SPV_NV_cooperative_matrix2's CooperativeMatrixConversionsNV capability and extension.
// With --tensor-loads, every load of a matrix from a storage buffer becomes a tensor-addressed load
// (SPV_NV_tensor_addressing, OpCooperativeMatrixLoadTensorNV): a two-dimensional tensor layout the matrix's
// size with the load's stride (a column-major load reads the transposed layout through a tensor view), so the
// driver fetches the tile from global memory itself. Loads from shared memory stay KHR loads.
// A newer glslang that compiles GL_KHR_cooperative_matrix makes this tool unnecessary for new shaders.
//
//   coopmat_nv_to_khr [--tensor-loads] <in.spv> <out.spv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

// Opcodes and enumerants from the SPIR-V registry (SPV_NV_cooperative_matrix, SPV_KHR_cooperative_matrix).
constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kHeaderWords = 5;
constexpr uint32_t kOpUndef = 1;
constexpr uint32_t kOpExtension = 10;
constexpr uint32_t kOpCapability = 17;
constexpr uint32_t kOpTypeInt = 21;
constexpr uint32_t kOpConstantTrue = 41;
constexpr uint32_t kOpConstantFalse = 42;
constexpr uint32_t kOpConstant = 43;
constexpr uint32_t kOpSpecConstantOp = 52;  // the last of the constant-declaring opcodes from OpConstantTrue
constexpr uint32_t kOpFunction = 54;
constexpr uint32_t kOpTypePointer = 32;
constexpr uint32_t kOpLoad = 61;
constexpr uint32_t kOpStore = 62;
constexpr uint32_t kOpCompositeConstruct = 80;
constexpr uint32_t kOpCompositeInsert = 82;
constexpr uint32_t kStorageClassFunction = 7;
constexpr uint32_t kOpVariable = 59;
constexpr uint32_t kFirstTypeOpcode = 19;  // OpTypeVoid
constexpr uint32_t kLastTypeOpcode = 39;   // OpTypeForwardPointer
constexpr uint32_t kOpFConvert = 115;
constexpr uint32_t kCapabilityCooperativeMatrixNV = 5357;
constexpr uint32_t kCapabilityCooperativeMatrixConversionsNV = 5431;  // SPV_NV_cooperative_matrix2
constexpr uint32_t kCapabilityCooperativeMatrixKHR = 6022;
constexpr uint32_t kOpTypeCooperativeMatrixNV = 5358;
constexpr uint32_t kOpCooperativeMatrixLoadNV = 5359;
constexpr uint32_t kOpCooperativeMatrixStoreNV = 5360;
constexpr uint32_t kOpCooperativeMatrixMulAddNV = 5361;
constexpr uint32_t kOpCooperativeMatrixLengthNV = 5362;
constexpr uint32_t kOpTypeCooperativeMatrixKHR = 4456;
constexpr uint32_t kOpCooperativeMatrixLoadKHR = 4457;
constexpr uint32_t kOpCooperativeMatrixStoreKHR = 4458;
constexpr uint32_t kOpCooperativeMatrixMulAddKHR = 4459;
constexpr uint32_t kOpCooperativeMatrixLengthKHR = 4460;
// SPV_NV_tensor_addressing and SPV_NV_cooperative_matrix2 (tensor-addressed loads).
constexpr uint32_t kOpTypeBool = 20;
constexpr uint32_t kStorageClassStorageBuffer = 12;
constexpr uint32_t kCapabilityCooperativeMatrixTensorAddressingNV = 5433;
constexpr uint32_t kCapabilityTensorAddressingNV = 5439;
constexpr uint32_t kOpCooperativeMatrixLoadTensorNV = 5367;
constexpr uint32_t kOpTypeTensorLayoutNV = 5370;
constexpr uint32_t kOpTypeTensorViewNV = 5371;
constexpr uint32_t kOpCreateTensorLayoutNV = 5372;
constexpr uint32_t kOpTensorLayoutSetDimensionNV = 5373;
constexpr uint32_t kOpTensorLayoutSetStrideNV = 5374;
constexpr uint32_t kOpCreateTensorViewNV = 5377;
constexpr uint32_t kTensorDimensions = 2;          // rows and columns
constexpr uint32_t kTensorClampModeUndefined = 0;  // every tile the shader loads lies inside its layout
constexpr uint32_t kMemoryAccessNone = 0;
constexpr uint32_t kTensorAddressingNone = 0;
constexpr uint32_t kTensorAddressingTensorView = 1;
constexpr uint32_t kUseMatrixA = 0;
constexpr uint32_t kUseMatrixB = 1;
constexpr uint32_t kUseAccumulator = 2;
constexpr uint32_t kLayoutRowMajor = 0;
constexpr uint32_t kLayoutColumnMajor = 1;
static_assert(kLayoutRowMajor == kUseMatrixA && kLayoutColumnMajor == kUseMatrixB, "layouts share the use constants");

struct Instruction {
  uint32_t opcode = 0;
  std::vector<uint32_t> operands;  // every word after the first
};

std::string decode_string(const std::vector<uint32_t>& words, size_t first) {
  std::string s;
  for (size_t i = first; i < words.size(); ++i)
    for (int b = 0; b < 4; ++b) {
      char ch = char((words[i] >> (8 * b)) & 0xffu);
      if (ch == 0) return s;
      s.push_back(ch);
    }
  return s;
}

std::vector<uint32_t> encode_string(const std::string& s) {
  std::vector<uint32_t> words((s.size() + 4) / 4, 0u);
  for (size_t i = 0; i < s.size(); ++i) words[i / 4] |= uint32_t(uint8_t(s[i])) << (8 * (i % 4));
  return words;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "coopmat_nv_to_khr: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const bool tensor_loads = argc == 4 && std::string(argv[1]) == "--tensor-loads";
  if (argc != 3 && !tensor_loads) fail("usage: coopmat_nv_to_khr [--tensor-loads] <in.spv> <out.spv>");
  const char* in_path = argv[argc - 2];
  const char* out_path = argv[argc - 1];
  std::ifstream in(in_path, std::ios::binary);
  if (!in) fail(std::string("cannot read ") + in_path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() % 4 != 0 || bytes.size() < kHeaderWords * 4) fail("not a SPIR-V module");
  std::vector<uint32_t> words(bytes.size() / 4);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  if (words[0] != kMagic) fail("not a little-endian SPIR-V module");
  std::vector<uint32_t> header(words.begin(), words.begin() + kHeaderWords);
  uint32_t bound = header[3];

  std::vector<Instruction> module;
  for (size_t at = kHeaderWords; at < words.size();) {
    uint32_t count = words[at] >> 16;
    if (count == 0 || at + count > words.size()) fail("truncated instruction");
    Instruction ins;
    ins.opcode = words[at] & 0xffffu;
    ins.operands.assign(words.begin() + at + 1, words.begin() + at + count);
    module.push_back(std::move(ins));
    at += count;
  }

  // Types of values, uses of the NV matrix types, the boolean and unsigned constants.
  std::map<uint32_t, uint32_t> type_of;
  std::map<uint32_t, uint32_t> use_of;  // NV matrix type id -> KHR use
  std::map<uint32_t, bool> bool_constant;
  uint32_t bool_type = 0;
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> matrix_shape;  // NV matrix type -> (rows id, columns id)
  std::set<uint32_t> storage_buffer_pointer_type;
  uint32_t uint_type = 0;
  // An instruction's first operand is its result type where it names a type and the instruction is inside a
  // function (outside, decorations and names also start with a type's id) or is a global constant/variable.
  std::map<uint32_t, bool> is_type;
  bool in_functions = false;
  for (const Instruction& ins : module) {
    bool type_decl = (ins.opcode >= kFirstTypeOpcode && ins.opcode <= kLastTypeOpcode) ||
                     ins.opcode == kOpTypeCooperativeMatrixNV;
    if (type_decl && !ins.operands.empty()) is_type[ins.operands[0]] = true;
    in_functions = in_functions || ins.opcode == kOpFunction;
    bool global_value = (ins.opcode >= kOpConstantTrue && ins.opcode <= kOpSpecConstantOp) ||
                        ins.opcode == kOpVariable || ins.opcode == kOpUndef;
    if ((in_functions || global_value) && ins.operands.size() >= 2 && is_type.count(ins.operands[0]))
      type_of[ins.operands[1]] = ins.operands[0];
    if (ins.opcode == kOpTypeInt && ins.operands.size() == 3 && ins.operands[1] == 32 && ins.operands[2] == 0)
      uint_type = ins.operands[0];
    if (ins.opcode == kOpConstantTrue || ins.opcode == kOpConstantFalse)
      bool_constant[ins.operands[1]] = ins.opcode == kOpConstantTrue;
    if (ins.opcode == kOpTypeBool) bool_type = ins.operands[0];
    if (ins.opcode == kOpTypeCooperativeMatrixNV) matrix_shape[ins.operands[0]] = {ins.operands[3], ins.operands[4]};
    if (ins.opcode == kOpTypePointer && ins.operands[1] == kStorageClassStorageBuffer)
      storage_buffer_pointer_type.insert(ins.operands[0]);
  }
  // The use each multiply-add operand needs, and the uses each NV type is needed in.
  std::map<uint32_t, uint32_t> required_use;  // value -> use
  auto require = [&](uint32_t value, uint32_t use) {
    if (!type_of.count(value)) fail("cannot find the type of multiply-add operand %" + std::to_string(value));
    auto [it, fresh] = required_use.emplace(value, use);
    if (!fresh && it->second != use)
      fail("value %" + std::to_string(value) + " is used as two different operands of multiply-adds");
  };
  std::map<uint32_t, std::set<uint32_t>> uses_of_type;
  for (const Instruction& ins : module)
    if (ins.opcode == kOpCooperativeMatrixMulAddNV) {
      uses_of_type[ins.operands[0]].insert(kUseAccumulator);
      require(ins.operands[2], kUseMatrixA);
      require(ins.operands[3], kUseMatrixB);
      require(ins.operands[4], kUseAccumulator);
    }
  for (const auto& [value, use] : required_use) uses_of_type[type_of[value]].insert(use);
  // A type needed in one use gets it. A type needed in several keeps the first for itself and gets a clone per
  // other use. The values needing another use are retyped to the clone together with everything their value
  // flows through: Function variables (glslang keeps matrices in them, even optimised) with their loads and
  // stores, element inserts, and at the source a load from memory, a conversion or a fill. A value needing
  // another use flowing into one that needs the first, or through anything else (a phi, a call), is an error.
  std::map<uint32_t, size_t> definition;  // result id -> index in module (values and variables)
  std::map<uint32_t, std::vector<uint32_t>> loads_from, stores_to, stored_into, inserted_into;
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> pointer_type;  // pointer type id -> (storage class, pointee)
  for (size_t i = 0; i < module.size(); ++i) {
    const Instruction& ins = module[i];
    if (ins.opcode == kOpTypePointer) pointer_type[ins.operands[0]] = {ins.operands[1], ins.operands[2]};
    if (ins.operands.size() >= 2 && type_of.count(ins.operands[1]) && type_of[ins.operands[1]] == ins.operands[0])
      definition.emplace(ins.operands[1], i);
    if (ins.opcode == kOpLoad) loads_from[ins.operands[2]].push_back(ins.operands[1]);
    if (ins.opcode == kOpStore) {
      stores_to[ins.operands[0]].push_back(ins.operands[1]);
      stored_into[ins.operands[1]].push_back(ins.operands[0]);
    }
    if (ins.opcode == kOpCompositeInsert) inserted_into[ins.operands[3]].push_back(ins.operands[1]);
  }
  std::map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> clones;  // type -> (clone id, use)
  std::map<uint32_t, uint32_t> function_pointer_clone;                      // clone id -> its pointer type id
  for (const auto& [type, uses] : uses_of_type) {
    use_of[type] = *uses.begin();
    for (auto u = std::next(uses.begin()); u != uses.end(); ++u) {
      const uint32_t clone = bound++;
      clones[type].push_back({clone, *u});
      matrix_shape[clone] = matrix_shape[type];
      std::set<uint32_t> seen;
      std::vector<uint32_t> work;
      for (const auto& [value, use] : required_use)
        if (use == *u && type_of[value] == type) work.push_back(value);
      auto refuse = [&](uint32_t id, const std::string& why) {
        fail("matrix type %" + std::to_string(type) + " is needed as two different multiply-add operands, and %" +
             std::to_string(id) + " " + why + "; give the A, B and accumulator matrices distinct types");
      };
      while (!work.empty()) {
        const uint32_t id = work.back();
        work.pop_back();
        if (!seen.insert(id).second) continue;
        auto def = definition.find(id);
        if (def == definition.end()) refuse(id, "has no definition the tool can follow");
        Instruction& ins = module[def->second];
        if (ins.opcode == kOpVariable) {  // a Function variable of the type: its loads and stores follow
          auto ptr = pointer_type.find(ins.operands[0]);
          if (ptr == pointer_type.end() || ptr->second.first != kStorageClassFunction || ptr->second.second != type)
            refuse(id, "is a variable other than a Function variable of the type");
          auto [it, fresh] = function_pointer_clone.emplace(clone, 0);
          if (fresh) it->second = bound++;
          ins.operands[0] = it->second;
          for (uint32_t v : loads_from[id]) work.push_back(v);
          for (uint32_t v : stores_to[id]) work.push_back(v);
          continue;
        }
        auto need = required_use.find(id);
        if (need != required_use.end() && need->second != *u) refuse(id, "flows into an operand of the other use");
        if (type_of[id] != type) refuse(id, "is not of the type");
        switch (ins.opcode) {
          case kOpCooperativeMatrixLoadNV: case kOpFConvert: case kOpCompositeConstruct: case kOpUndef: break;
          case kOpLoad: work.push_back(ins.operands[2]); break;
          case kOpCompositeInsert: work.push_back(ins.operands[3]); break;
          default: refuse(id, "is made by opcode " + std::to_string(ins.opcode));
        }
        ins.operands[0] = clone;
        type_of[id] = clone;
        for (uint32_t var : stored_into[id]) work.push_back(var);
        for (uint32_t v : inserted_into[id]) work.push_back(v);
      }
    }
  }
  if (uint_type == 0) fail("the module declares no 32-bit unsigned integer type");
  auto use_or_accumulator = [&](uint32_t type) {
    auto it = use_of.find(type);
    return it == use_of.end() ? kUseAccumulator : it->second;
  };
  // A conversion between matrices of different uses (an fp32 accumulator to an fp16 operand) needs
  // SPV_NV_cooperative_matrix2's CooperativeMatrixConversionsNV.
  bool use_conversion = false;
  std::map<uint32_t, bool> is_matrix_type;
  for (const Instruction& ins : module)
    if (ins.opcode == kOpTypeCooperativeMatrixNV) is_matrix_type[ins.operands[0]] = true;
  for (const Instruction& ins : module) {
    if (ins.opcode != kOpFConvert || !is_matrix_type.count(ins.operands[0])) continue;
    auto from = type_of.find(ins.operands[2]);
    if (from != type_of.end() && use_or_accumulator(ins.operands[0]) != use_or_accumulator(from->second))
      use_conversion = true;
  }

  // Unsigned constants for uses and layouts, declared right after the uint type so that they precede every
  // matrix type (a module's own constants of the same values may come later; duplicates are valid).
  std::vector<Instruction> new_constants;
  std::map<uint32_t, uint32_t> uint_constant;  // value -> id
  auto constant = [&](uint32_t value) {
    auto it = uint_constant.find(value);
    if (it == uint_constant.end()) fail("no constant was made for " + std::to_string(value));
    return it->second;
  };
  for (uint32_t v : {kUseMatrixA, kUseMatrixB, kUseAccumulator}) {  // RowMajor = A, ColumnMajor = B
    uint32_t id = bound++;
    new_constants.push_back({kOpConstant, {uint_type, id, v}});
    uint_constant[v] = id;
  }
  auto layout = [&](uint32_t bool_id) {
    auto it = bool_constant.find(bool_id);
    if (it == bool_constant.end()) fail("a load/store's column-major operand is not a boolean constant");
    return constant(it->second ? kLayoutColumnMajor : kLayoutRowMajor);
  };

  // Tensor-addressed loads: the loads from storage buffers, and the tensor layout and view types they need
  // (declared at the end of the types and constants, before the first function).
  auto from_storage_buffer = [&](const Instruction& load) {
    auto pointer = type_of.find(load.operands[2]);
    return pointer != type_of.end() && storage_buffer_pointer_type.count(pointer->second);
  };
  bool any_tensor_load = false;
  for (const Instruction& ins : module)
    any_tensor_load = any_tensor_load || (tensor_loads && ins.opcode == kOpCooperativeMatrixLoadNV &&
                                          from_storage_buffer(ins));
  std::vector<Instruction> tensor_types;
  uint32_t layout_type = 0, view_type = 0;
  if (any_tensor_load) {
    if (bool_type == 0) {
      bool_type = bound++;
      tensor_types.push_back({kOpTypeBool, {bool_type}});
    }
    const uint32_t false_constant = bound++;
    layout_type = bound++;
    view_type = bound++;
    tensor_types.push_back({kOpConstantFalse, {bool_type, false_constant}});
    tensor_types.push_back({kOpTypeTensorLayoutNV, {layout_type, constant(kTensorDimensions),
                                                    constant(kTensorClampModeUndefined)}});
    // A view of the layout with its two dimensions swapped (HasDimensions false: the layout's own extent).
    tensor_types.push_back({kOpTypeTensorViewNV, {view_type, constant(kTensorDimensions), false_constant,
                                                  constant(1), constant(0)}});
  }
  const bool adds_matrix2 = use_conversion || any_tensor_load;

  std::vector<Instruction> out;
  bool converted = false;
  for (Instruction ins : module) {
    if (ins.opcode == kOpFunction && !tensor_types.empty()) {
      out.insert(out.end(), tensor_types.begin(), tensor_types.end());
      tensor_types.clear();
    }
    switch (ins.opcode) {
      case kOpCapability:
        if (ins.operands[0] == kCapabilityCooperativeMatrixNV) {
          ins.operands[0] = kCapabilityCooperativeMatrixKHR;
          if (use_conversion) out.push_back({kOpCapability, {kCapabilityCooperativeMatrixConversionsNV}});
          if (any_tensor_load) {
            out.push_back({kOpCapability, {kCapabilityTensorAddressingNV}});
            out.push_back({kOpCapability, {kCapabilityCooperativeMatrixTensorAddressingNV}});
          }
        }
        break;
      case kOpExtension:
        if (decode_string(ins.operands, 0) == "SPV_NV_cooperative_matrix") {
          ins.operands = encode_string("SPV_KHR_cooperative_matrix");
          if (adds_matrix2) out.push_back({kOpExtension, encode_string("SPV_NV_cooperative_matrix2")});
          if (any_tensor_load) out.push_back({kOpExtension, encode_string("SPV_NV_tensor_addressing")});
        }
        break;
      case kOpTypeCooperativeMatrixNV: {
        ins.opcode = kOpTypeCooperativeMatrixKHR;
        ins.operands.push_back(constant(use_or_accumulator(ins.operands[0])));
        converted = true;
        break;
      }
      case kOpCooperativeMatrixLoadNV: {  // rt, id, pointer, stride, column-major, [memory access]
        if (tensor_loads && from_storage_buffer(ins)) {
          // A row-major R×C matrix at the pointer is the tensor of dimensions (R, C) and strides (stride, 1);
          // a column-major one the tensor (C, R) read through the transposing view.
          const uint32_t type = ins.operands[0], stride = ins.operands[3];
          auto shape = matrix_shape.find(type);
          if (shape == matrix_shape.end()) fail("a matrix load's type is not a matrix type");
          auto column_major = bool_constant.find(ins.operands[4]);
          if (column_major == bool_constant.end()) fail("a load's column-major operand is not a boolean constant");
          const auto [rows, columns] = shape->second;
          const uint32_t created = bound++, sized = bound++, strided = bound++, object = bound++;
          out.push_back({kOpCreateTensorLayoutNV, {layout_type, created}});
          if (column_major->second)
            out.push_back({kOpTensorLayoutSetDimensionNV, {layout_type, sized, created, columns, rows}});
          else
            out.push_back({kOpTensorLayoutSetDimensionNV, {layout_type, sized, created, rows, columns}});
          out.push_back({kOpTensorLayoutSetStrideNV, {layout_type, strided, sized, stride, constant(1)}});
          out.push_back({kOpUndef, {type, object}});
          std::vector<uint32_t> o = {type, ins.operands[1], ins.operands[2], object, strided, kMemoryAccessNone};
          if (column_major->second) {
            const uint32_t view = bound++;
            out.push_back({kOpCreateTensorViewNV, {view_type, view}});
            o.push_back(kTensorAddressingTensorView);
            o.push_back(view);
          } else {
            o.push_back(kTensorAddressingNone);
          }
          ins = {kOpCooperativeMatrixLoadTensorNV, o};
          break;
        }
        std::vector<uint32_t> o = {ins.operands[0], ins.operands[1], ins.operands[2], layout(ins.operands[4]),
                                   ins.operands[3]};
        o.insert(o.end(), ins.operands.begin() + 5, ins.operands.end());
        ins = {kOpCooperativeMatrixLoadKHR, o};
        break;
      }
      case kOpCooperativeMatrixStoreNV: {  // pointer, object, stride, column-major, [memory access]
        std::vector<uint32_t> o = {ins.operands[0], ins.operands[1], layout(ins.operands[3]), ins.operands[2]};
        o.insert(o.end(), ins.operands.begin() + 4, ins.operands.end());
        ins = {kOpCooperativeMatrixStoreKHR, o};
        break;
      }
      case kOpCooperativeMatrixMulAddNV: ins.opcode = kOpCooperativeMatrixMulAddKHR; break;
      case kOpCooperativeMatrixLengthNV: ins.opcode = kOpCooperativeMatrixLengthKHR; break;
      default: break;
    }
    const bool matrix_type = ins.opcode == kOpTypeCooperativeMatrixKHR;
    out.push_back(std::move(ins));
    if (matrix_type) {  // the type's clones for its other uses (same component type, scope and shape)
      const std::vector<uint32_t> type = out.back().operands;
      for (const auto& [clone, use] : clones[type[0]]) {
        std::vector<uint32_t> o = type;
        o[0] = clone;
        o.back() = constant(use);
        out.push_back({kOpTypeCooperativeMatrixKHR, o});
        auto ptr = function_pointer_clone.find(clone);
        if (ptr != function_pointer_clone.end())
          out.push_back({kOpTypePointer, {ptr->second, kStorageClassFunction, clone}});
      }
    }
    if (out.back().opcode == kOpTypeInt && out.back().operands[0] == uint_type) {
      // New constants go right after the type they are of, before any matrix type that names them.
      out.insert(out.end(), new_constants.begin(), new_constants.end());
      new_constants.clear();
    }
  }
  if (!converted) fail("the module has no NV cooperative matrix type");

  header[3] = bound;
  std::vector<uint32_t> result = header;
  for (const Instruction& ins : out) {
    result.push_back(uint32_t(ins.operands.size() + 1) << 16 | ins.opcode);
    result.insert(result.end(), ins.operands.begin(), ins.operands.end());
  }
  std::ofstream o(out_path, std::ios::binary);
  o.write(reinterpret_cast<const char*>(result.data()), std::streamsize(result.size() * 4));
  if (!o) fail(std::string("cannot write ") + out_path);
  return 0;
}
