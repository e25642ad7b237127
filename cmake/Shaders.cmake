# Compiles the GLSL compute shaders in shaders/ to SPIR-V with glslc at build time and embeds them in the
# qi_shaders library (Debian's libshaderc cannot be linked, so nothing is compiled at run time).
#
# Variants: qi_shader(NAME <variant> SOURCE <file.comp> [DEFINES A=1 ...] [REQUIRES <GL extension> ...]).
# A variant whose REQUIRES extensions this glslc cannot compile is skipped at configure time, so variants
# written for a newer glslang (REQUIRES GL_KHR_cooperative_matrix, GL_NV_cooperative_matrix2,
# GL_EXT_bfloat16) can stand beside today's and are built only where the compiler has them. None is written
# yet: today's glslc reaches KHR and workgroup-scope matrices, and coopmat2's tensor-addressed loads, through
# the SPIR-V rewrite below (KHR_COOPMAT, TENSOR_LOADS).
# The runtime picks among the compiled variants from the device's features.

find_program(GLSLC glslc REQUIRED)

set(QI_SHADER_DIR "${CMAKE_SOURCE_DIR}/shaders")
set(QI_SHADER_OUT "${CMAKE_BINARY_DIR}/shaders")
file(MAKE_DIRECTORY "${QI_SHADER_OUT}" "${QI_SHADER_OUT}/probe")

# Probes whether glslc accepts `#extension <ext> : require` (with the capabilities it implies).
function(qi_probe_glsl_extension ext out_var)
  string(MAKE_C_IDENTIFIER "${ext}" id)
  if(DEFINED QI_GLSLC_HAS_${id})
    set(${out_var} ${QI_GLSLC_HAS_${id}} PARENT_SCOPE)
    return()
  endif()
  set(src "${QI_SHADER_OUT}/probe/${id}.comp")
  file(WRITE "${src}" "#version 460\n#extension ${ext} : require\nlayout(local_size_x = 32) in;\nvoid main() {}\n")
  execute_process(COMMAND "${GLSLC}" --target-env=vulkan1.3 -fshader-stage=compute "${src}"
                          -o "${QI_SHADER_OUT}/probe/${id}.spv"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(ok ON)
  else()
    set(ok OFF)
  endif()
  set(QI_GLSLC_HAS_${id} ${ok} CACHE INTERNAL "glslc supports ${ext}")
  message(STATUS "glslc supports ${ext}: ${ok}")
  set(${out_var} ${ok} PARENT_SCOPE)
endfunction()

set(QI_SHADER_VARIANTS "" CACHE INTERNAL "")
set(QI_SHADER_SPV "" CACHE INTERNAL "")

# KHR_COOPMAT: the shader is written with GL_NV_cooperative_matrix types (which this glslc parses, any scope
# and size) and its SPIR-V is rewritten to SPV_KHR_cooperative_matrix by coopmat_nv_to_khr (built here for
# the build machine): how the workgroup-scope matrices of VK_NV_cooperative_matrix2 are reached without a
# glslang that compiles GL_KHR_cooperative_matrix / GL_NV_cooperative_matrix2. TENSOR_LOADS (with KHR_COOPMAT)
# also turns its matrix loads from storage buffers into tensor-addressed loads (SPV_NV_tensor_addressing).
add_executable(qi_coopmat_nv_to_khr "${CMAKE_SOURCE_DIR}/tools/shader_build/coopmat_nv_to_khr.cpp")

# qi_config_fields("<v1> <v2> ..." var1 var2 ...): splits a space-separated shader configuration (as the
# lists in shaders/shaders.cmake hold them) into the named variables of the caller, in order.
macro(qi_config_fields cfg)
  string(REPLACE " " ";" _qi_fields "${cfg}")
  set(_qi_index 0)
  foreach(_qi_var ${ARGN})
    list(GET _qi_fields ${_qi_index} ${_qi_var})
    math(EXPR _qi_index "${_qi_index} + 1")
  endforeach()
endmacro()

function(qi_shader)
  cmake_parse_arguments(S "KHR_COOPMAT;TENSOR_LOADS" "NAME;SOURCE" "DEFINES;REQUIRES" ${ARGN})
  foreach(ext IN LISTS S_REQUIRES)
    qi_probe_glsl_extension(${ext} ok)
    if(NOT ok)
      message(STATUS "shader variant ${S_NAME}: skipped (glslc lacks ${ext})")
      return()
    endif()
  endforeach()
  set(defs "")
  foreach(d IN LISTS S_DEFINES)
    list(APPEND defs "-D${d}")
  endforeach()
  set(spv "${QI_SHADER_OUT}/${S_NAME}.spv")
  file(GLOB includes "${QI_SHADER_DIR}/*.glsl")
  set(rewrite_options "")
  if(S_TENSOR_LOADS)
    set(rewrite_options --tensor-loads)
  endif()
  if(S_KHR_COOPMAT)
    add_custom_command(
      OUTPUT "${spv}"
      COMMAND "${GLSLC}" --target-env=vulkan1.3 -fshader-stage=compute -O -I "${QI_SHADER_DIR}" ${defs}
              "${QI_SHADER_DIR}/${S_SOURCE}" -o "${spv}.nv"
      COMMAND qi_coopmat_nv_to_khr ${rewrite_options} "${spv}.nv" "${spv}"
      DEPENDS "${QI_SHADER_DIR}/${S_SOURCE}" ${includes} qi_coopmat_nv_to_khr
      COMMENT "glslc ${S_NAME} (NV cooperative matrix types rewritten to KHR)"
      VERBATIM)
  else()
    add_custom_command(
      OUTPUT "${spv}"
      COMMAND "${GLSLC}" --target-env=vulkan1.3 -fshader-stage=compute -O -I "${QI_SHADER_DIR}" ${defs}
              "${QI_SHADER_DIR}/${S_SOURCE}" -o "${spv}"
      DEPENDS "${QI_SHADER_DIR}/${S_SOURCE}" ${includes}
      COMMENT "glslc ${S_NAME}"
      VERBATIM)
  endif()
  set(QI_SHADER_VARIANTS ${QI_SHADER_VARIANTS} ${S_NAME} CACHE INTERNAL "")
  set(QI_SHADER_SPV ${QI_SHADER_SPV} ${spv} CACHE INTERNAL "")
endfunction()

# The list of variants lives beside the shaders.
include("${QI_SHADER_DIR}/shaders.cmake")

# Embed every compiled variant into one generated C++ file.
set(QI_SHADER_EMBED_CPP "${QI_SHADER_OUT}/embedded_shaders.cpp")
add_custom_command(
  OUTPUT "${QI_SHADER_EMBED_CPP}"
  COMMAND "${CMAKE_COMMAND}" "-DOUT=${QI_SHADER_EMBED_CPP}" "-DNAMES=${QI_SHADER_VARIANTS}"
          "-DDIR=${QI_SHADER_OUT}" -P "${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake"
  DEPENDS ${QI_SHADER_SPV} "${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake"
  COMMENT "embedding SPIR-V"
  VERBATIM)
add_library(qi_shaders STATIC "${QI_SHADER_EMBED_CPP}")
target_include_directories(qi_shaders PUBLIC "${CMAKE_SOURCE_DIR}/src")
