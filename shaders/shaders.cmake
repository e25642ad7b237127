# Shader variants compiled into the binary (see cmake/Shaders.cmake for qi_shader()). Names are
# <op>[_<implementation>][_<weight format>]; the dispatch code in src/backend/vulkan/vk_<op>.cpp builds them.

# Element-wise, norms, layout, embedding, image, guidance.
qi_shader(NAME scale SOURCE scale.comp)
qi_shader(NAME unary SOURCE unary.comp)
qi_shader(NAME binary SOURCE binary.comp)
qi_shader(NAME rms_norm SOURCE rms_norm.comp)
qi_shader(NAME layer_norm_modulate SOURCE layer_norm_modulate.comp)
qi_shader(NAME channel_rms_norm SOURCE channel_rms_norm.comp)
qi_shader(NAME rope SOURCE rope.comp)
qi_shader(NAME rms_norm_rope SOURCE rms_norm_rope.comp)
qi_shader(NAME upsample_nearest2x SOURCE upsample_nearest2x.comp)
qi_shader(NAME concat SOURCE concat.comp)
qi_shader(NAME concat_vec4 SOURCE concat.comp DEFINES VEC4=1)
qi_shader(NAME slice SOURCE slice.comp)
qi_shader(NAME slice_vec4 SOURCE slice.comp DEFINES VEC4=1)
qi_shader(NAME chunk SOURCE chunk.comp)
qi_shader(NAME transpose SOURCE transpose.comp)
qi_shader(NAME pack_patches SOURCE patches.comp DEFINES PACK=1)
qi_shader(NAME unpack_patches SOURCE patches.comp)
qi_shader(NAME timestep_embedding SOURCE timestep_embedding.comp)
qi_shader(NAME to_rgb8 SOURCE to_rgb8.comp)
qi_shader(NAME guided_euler_step SOURCE guided_euler_step.comp)

# The row reductions (segment_reduce.glsl) once more with subgroup operations: "<name>_subgroup", run where
# the device has subgroup arithmetic and shuffles in compute shaders (row_reduce_shader in vk_op_checks.cpp).
foreach(n rms_norm rms_norm_rope layer_norm_modulate guided_euler_step matmul_pack_rows attention_pack)
  qi_shader(NAME ${n}_subgroup SOURCE ${n}.comp DEFINES SEGMENT_SUBGROUP=1)
endforeach()
qi_shader(NAME matmul_pack_rows_modulate_subgroup SOURCE matmul_pack_rows.comp DEFINES SEGMENT_SUBGROUP=1 MODULATE=1)

# matmul: scalar tiled GEMM per weight format, and the bandwidth-bound kernel for few rows (every variant).
foreach(w f32 f16 bf16)
  string(TOUPPER ${w} W)
  qi_shader(NAME matmul_scalar_${w} SOURCE matmul.comp DEFINES W_${W}=1)
  qi_shader(NAME matmul_gemv_${w} SOURCE matmul_gemv.comp DEFINES W_${W}=1)
  qi_shader(NAME conv3d_scalar_${w} SOURCE conv3d.comp DEFINES W_${W}=1)
endforeach()

# attention: scalar flash attention per head-dimension class (D_MAX), with query rows (BR) and keys per tile
# (BC) sized so the tiles fit 32 KiB of shared memory.
qi_shader(NAME attention_scalar_d64 SOURCE attention.comp DEFINES D_MAX=64u BR=32u BC=32u)
qi_shader(NAME attention_scalar_d128 SOURCE attention.comp DEFINES D_MAX=128u BR=16u BC=32u)
qi_shader(NAME attention_scalar_d384 SOURCE attention.comp DEFINES D_MAX=384u BR=8u BC=8u)

# matmul on tensor cores (NVIDIA): activations packed to fp16 with per-row power-of-two scales
# (matmul_pack_rows), fp32 accumulation; one variant per tile configuration (name, BM, BN, BK, SG_M, SG_N,
# STAGES, WG_THREADS), mirrored by kCoopmatConfigs in vk_matmul.cpp. Each is compiled for K a multiple of 8
# (suffix _k8: every model shape); the 64x64x32 one also for any K. F32 weights always run the scalar kernel
# (fp32 arithmetic asked for), so only F16 and BF16 variants.
qi_shader(NAME matmul_pack_rows SOURCE matmul_pack_rows.comp)
# The same packing of layer_norm_modulate's output (the modulated_matmul op: LN-modulate fused into the GEMMs'
# input pass).
qi_shader(NAME matmul_pack_rows_modulate SOURCE matmul_pack_rows.comp DEFINES MODULATE=1)
# Split-K for small output grids on the workgroup-scope tile: the tiles write fp32 partial products, this sums
# them and applies the epilogue.
qi_shader(NAME matmul_split_k_reduce SOURCE matmul_split_k_reduce.comp)
# modulated_mlp: the up-projection weights' largest row norm and bias, which size its fp16 hidden activations.
foreach(w f32 f16 bf16)
  string(TOUPPER ${w} W)
  qi_shader(NAME matmul_weight_bound_${w} SOURCE matmul_weight_bound.comp DEFINES W_${W}=1)
endforeach()
set(QI_COOPMAT_CONFIGS
    "128x128x64 128 128 64 64 32 1 256"
    "256x128x32 256 128 32 64 64 1 256"
    "64x64x32 64 64 32 32 32 2 128")
set(QI_COOPMAT_ANY_K 64x64x32)
# A configuration "name BM BN BK SG_M SG_N STAGES WG_THREADS" as its name and the defines of
# coopmat_gemm_tile.glsl.
function(qi_coopmat_tile cfg name_var defines_var)
  qi_config_fields("${cfg}" name bm bn bk sgm sgn stages threads)
  set(${name_var} ${name} PARENT_SCOPE)
  set(${defines_var} BM=${bm}u BN=${bn}u BK=${bk}u SG_M=${sgm}u SG_N=${sgn}u STAGES=${stages} WG_THREADS=${threads}
      PARENT_SCOPE)
endfunction()
foreach(cfg ${QI_COOPMAT_CONFIGS})
  qi_coopmat_tile("${cfg}" name tile)
  foreach(w f16 bf16)
    string(TOUPPER ${w} W)
    qi_shader(NAME matmul_coopmat_nv_${name}_${w}_k8 SOURCE matmul_coopmat_nv.comp
              DEFINES W_${W}=1 ${tile} K_MULTIPLE_OF_8=1 REQUIRES GL_NV_cooperative_matrix)
    if(name STREQUAL QI_COOPMAT_ANY_K)
      qi_shader(NAME matmul_coopmat_nv_${name}_${w} SOURCE matmul_coopmat_nv.comp
                DEFINES W_${W}=1 ${tile} REQUIRES GL_NV_cooperative_matrix)
    endif()
  endforeach()
endforeach()

# matmul on workgroup-scope cooperative matrices (VK_NV_cooperative_matrix2; coopmat_workgroup_gemm_tile.glsl),
# SPIR-V rewritten to SPV_KHR_cooperative_matrix: configuration "name BM BN BK SPLIT WG_THREADS", mirrored by
# kWorkgroupConfigs in vk_matmul.cpp; K a multiple of 8 only (other K run the subgroup tiles).
set(QI_COOPMAT_WORKGROUP_CONFIGS "wg128x128x32 128 128 32 4 128")
foreach(cfg ${QI_COOPMAT_WORKGROUP_CONFIGS})
  qi_config_fields("${cfg}" name bm bn bk split threads)
  foreach(w f16 bf16)
    string(TOUPPER ${w} W)
    qi_shader(NAME matmul_coopmat_nv_${name}_${w}_k8 SOURCE matmul_coopmat_nv.comp KHR_COOPMAT
              DEFINES W_${W}=1 WORKGROUP_SCOPE=1 BM=${bm}u BN=${bn}u BK=${bk}u SPLIT=${split}u
                      WG_THREADS=${threads} K_MULTIPLE_OF_8=1
              REQUIRES GL_NV_cooperative_matrix)
    qi_shader(NAME matmul_coopmat_nv_${name}_${w}_k8_split_k SOURCE matmul_coopmat_nv.comp KHR_COOPMAT
              DEFINES W_${W}=1 WORKGROUP_SCOPE=1 BM=${bm}u BN=${bn}u BK=${bk}u SPLIT=${split}u
                      WG_THREADS=${threads} K_MULTIPLE_OF_8=1 SPLIT_K=1
              REQUIRES GL_NV_cooperative_matrix)
    qi_shader(NAME matmul_coopmat_nv_${name}_${w}_k8_packed_out SOURCE matmul_coopmat_nv.comp KHR_COOPMAT
              DEFINES W_${W}=1 WORKGROUP_SCOPE=1 BM=${bm}u BN=${bn}u BK=${bk}u SPLIT=${split}u
                      WG_THREADS=${threads} K_MULTIPLE_OF_8=1 PACKED_OUTPUT=1
              REQUIRES GL_NV_cooperative_matrix)
  endforeach()
endforeach()

# conv3d on tensor cores (NVIDIA) as an implicit GEMM with the same tile machinery (coopmat_gemm_tile.glsl):
# conv3d_pack_max_<format> (largest |x|, |w|), conv3d_pack_x (x to scaled fp16 channels-last with the padding
# materialised), conv3d_pack_w_<format> (w to scaled fp16 [Cout, taps, Cin]), then conv3d_coopmat_nv_<tile>.
# Tile configurations mirrored by kConfigs in vk_conv3d.cpp: 128x128x64 as matmul's general one; 128x96x64
# (8 subgroups of 32×48) where 96-wide tiles pad Cout less than 128-wide ones (the VAE's 96 and 192); 128x32x32
# (4 subgroups of 32×32, two stages) for few output channels (conv_out: 3).
qi_shader(NAME conv3d_pack_x SOURCE conv3d_pack.comp DEFINES PACK_X=1)
foreach(w f32 f16 bf16)
  string(TOUPPER ${w} W)
  qi_shader(NAME conv3d_pack_max_${w} SOURCE conv3d_pack.comp DEFINES PACK_MAX=1 W_${W}=1)
  qi_shader(NAME conv3d_pack_w_${w} SOURCE conv3d_pack.comp DEFINES PACK_W=1 W_${W}=1)
endforeach()
set(QI_CONV3D_COOPMAT_CONFIGS
    "128x128x64 128 128 64 64 32 1 256"
    "128x96x64 128 96 64 32 48 1 256"
    "128x32x32 128 32 32 32 32 2 128")
foreach(cfg ${QI_CONV3D_COOPMAT_CONFIGS})
  qi_coopmat_tile("${cfg}" name tile)
  qi_shader(NAME conv3d_coopmat_nv_${name} SOURCE conv3d_coopmat_nv.comp DEFINES ${tile}
            REQUIRES GL_NV_cooperative_matrix)
endforeach()

# attention on tensor cores (NVIDIA), head dim 128: operands packed to fp16 with power-of-two scales
# (attention_pack: Q and K per row, V per head), fp32 online softmax and accumulation.
qi_shader(NAME attention_pack SOURCE attention_pack.comp)
qi_shader(NAME attention_coopmat_nv SOURCE attention_coopmat_nv.comp REQUIRES GL_NV_cooperative_matrix)
# The same with the online softmax on the score accumulators in registers (no shared-memory round trip for
# scores and weights). It addresses accumulator components through the layout that coopmat_layout_probe finds
# at start-up (coopmat_accumulator_layout.glsl) and runs only where that layout is one it handles.
# Configurations "name SUBGROUPS BC PREFETCH" (16 query rows per subgroup, BC keys per tile, the next tile
# fetched into registers during the current one or not), mirrored by kRegisterSoftmaxConfigs in vk_attention.cpp.
qi_shader(NAME coopmat_layout_probe SOURCE coopmat_layout_probe.comp REQUIRES GL_NV_cooperative_matrix)
set(QI_ATTENTION_REGISTER_SOFTMAX_CONFIGS
    "br64_bc32 4 32 1"
    "br128_bc64 8 64 1")
# Each also as <name>_causal, with causal masking (the text encoder's attention).
foreach(cfg ${QI_ATTENTION_REGISTER_SOFTMAX_CONFIGS})
  qi_config_fields("${cfg}" name subgroups bc prefetch)
  qi_shader(NAME attention_coopmat_nv_register_softmax_${name} SOURCE attention_coopmat_nv_register_softmax.comp
            DEFINES SUBGROUPS=${subgroups}u BC=${bc}u PREFETCH=${prefetch} CAUSAL=0 REQUIRES GL_NV_cooperative_matrix)
  qi_shader(NAME attention_coopmat_nv_register_softmax_${name}_causal SOURCE attention_coopmat_nv_register_softmax.comp
            DEFINES SUBGROUPS=${subgroups}u BC=${bc}u PREFETCH=${prefetch} CAUSAL=1 REQUIRES GL_NV_cooperative_matrix)
endforeach()
# On workgroup-scope matrices (VK_NV_cooperative_matrix2, rewritten to SPV_KHR_cooperative_matrix): Sᵀ = K·Qᵀ
# and Oᵀ += Vᵀ·Pᵀ, the softmax on accumulator elements through the layout coopmat_workgroup_layout_probe finds
# for Sᵀ (BC×BR) and Oᵀ (128×BR); GRID_COLS is the subgroup-grid width the kernel is compiled for (the host
# runs it only where the probe found that grid for both). Mirrored by kWorkgroupAttention in vk_attention.cpp.
set(QI_ATTENTION_WORKGROUP_CONFIGS
    "br128_bc64 128 64 256 4"
    "br64_bc32 64 32 128 2")
foreach(cfg ${QI_ATTENTION_WORKGROUP_CONFIGS})
  qi_config_fields("${cfg}" name br bc threads grid_cols)
  qi_shader(NAME attention_coopmat_nv_workgroup_${name} SOURCE attention_coopmat_workgroup.comp KHR_COOPMAT
            DEFINES BR=${br}u BC=${bc}u WG_THREADS=${threads} GRID_COLS=${grid_cols}u REQUIRES GL_NV_cooperative_matrix)
  foreach(shape "${bc} ${br}" "128 ${br}")
    qi_config_fields("${shape}" rows cols)
    set(probe coopmat_workgroup_layout_probe_${rows}x${cols}_t${threads})
    if(NOT probe IN_LIST QI_SHADER_VARIANTS)
      qi_shader(NAME ${probe} SOURCE coopmat_workgroup_layout_probe.comp KHR_COOPMAT
                DEFINES ROWS=${rows}u COLS=${cols}u WG_THREADS=${threads} REQUIRES GL_NV_cooperative_matrix)
    endif()
  endforeach()
endforeach()

# Wide heads (the VAE's single head of 384): the head dimension split over D_SPLIT subgroups per 16 query
# rows, partial scores summed through shared memory, the register softmax of the register-softmax kernel
# (same layout condition). Configurations "name HEAD_DIM ROW_GROUPS D_SPLIT BC", mirrored by kWideHeadConfigs
# in vk_attention.cpp.
set(QI_ATTENTION_WIDE_HEAD_CONFIGS
    "d384_r4_s2 384 4 2 16"
    "d384_r2_s4 384 2 4 16")
foreach(cfg ${QI_ATTENTION_WIDE_HEAD_CONFIGS})
  qi_config_fields("${cfg}" name head_dim row_groups d_split bc)
  qi_shader(NAME attention_coopmat_nv_wide_head_${name} SOURCE attention_coopmat_nv_wide_head.comp
            DEFINES HEAD_DIM=${head_dim} ROW_GROUPS=${row_groups} D_SPLIT=${d_split} BC=${bc}
            REQUIRES GL_NV_cooperative_matrix)
endforeach()

# Benchmark kernels (bench kernels' "ceiling" lines, not model ops; vk_tensor_core_peak.cpp): the tensor-core
# multiply-add rate with operands in registers (fp32 and fp16 accumulators), then fed from shared memory as the
# GEMM's inner loop is, with 64×32 (4x2 fragments) and 64×64 (4x4) per subgroup, and with the GEMM's slice
# barrier and staging stores added.
foreach(bits 32 16)
  qi_shader(NAME coopmat_mma_peak_f${bits}acc SOURCE coopmat_mma_peak.comp DEFINES ACC_BITS=${bits} FM=2u FN=4u
            REQUIRES GL_NV_cooperative_matrix)
endforeach()
qi_shader(NAME coopmat_mma_peak_shared_4x2 SOURCE coopmat_mma_peak.comp
          DEFINES ACC_BITS=32 FM=4u FN=2u FROM_SHARED=1 REQUIRES GL_NV_cooperative_matrix)
qi_shader(NAME coopmat_mma_peak_shared_4x4 SOURCE coopmat_mma_peak.comp
          DEFINES ACC_BITS=32 FM=4u FN=4u FROM_SHARED=1 REQUIRES GL_NV_cooperative_matrix)
qi_shader(NAME coopmat_mma_peak_shared_4x2_barrier SOURCE coopmat_mma_peak.comp
          DEFINES ACC_BITS=32 FM=4u FN=2u FROM_SHARED=1 SLICE_SYNC=1 REQUIRES GL_NV_cooperative_matrix)
qi_shader(NAME coopmat_mma_peak_shared_4x2_staged SOURCE coopmat_mma_peak.comp
          DEFINES ACC_BITS=32 FM=4u FN=2u FROM_SHARED=1 SLICE_SYNC=2 REQUIRES GL_NV_cooperative_matrix)
# The same ladder for the workgroup-scope GEMM tile (128×128×32, 4 accumulators of 128×32, 128 threads):
# registers, shared-fed, + slice barrier, + staging stores, + global loads (cached / a GEMM's addresses).
# Mirrored by kPeakKernels in vk_tensor_core_peak.cpp.
foreach(level 0 1 2 3 4_cached 4_spread)
  string(REGEX REPLACE "_.*" "" number ${level})
  set(spread 0)
  if(level STREQUAL 4_spread)
    set(spread 1)
  endif()
  qi_shader(NAME coopmat_workgroup_mma_peak_l${level} SOURCE coopmat_workgroup_mma_peak.comp KHR_COOPMAT
            DEFINES LEVEL=${number} SPREAD=${spread} WG_THREADS=128 BM=128u BK=32u BNP=32u SPLIT=4u
            REQUIRES GL_NV_cooperative_matrix)
endforeach()
# Level 5: no shared stage of the shader's own; the driver loads every slice from the GEMM's operands, through
# KHR loads or tensor-addressed ones, for three tiles: "<threads> <BM> <BK> <BNP> <SPLIT>".
# Mirrored by kDriverLoadSlices in vk_tensor_core_peak.cpp.
set(QI_WORKGROUP_DRIVER_LOAD_TILES
    "128 128 32 32 4 0"    # the workgroup GEMM tile's slice, as levels 0-4
    "128 128 64 32 4 0"    # the same with twice the K per slice
    "256 128 64 32 4 0"    # 128×128 on 256 threads
    "256 128 128 32 4 0"   # the same with twice the K per slice again
    "128 128 32 32 4 1")   # the first, with the next slice loaded before the current one's multiply-adds
foreach(cfg IN LISTS QI_WORKGROUP_DRIVER_LOAD_TILES)
  qi_config_fields("${cfg}" threads bm bk bnp split prefetch)
  set(tile t${threads}_${bm}x${bk}x${bnp}x${split})
  if(prefetch)
    set(tile ${tile}_prefetch)
  endif()
  set(defines LEVEL=5 SPREAD=1 PREFETCH=${prefetch} WG_THREADS=${threads} BM=${bm}u BK=${bk}u BNP=${bnp}u
              SPLIT=${split}u)
  qi_shader(NAME coopmat_workgroup_mma_peak_l5_khr_loads_${tile} SOURCE coopmat_workgroup_mma_peak.comp KHR_COOPMAT
            DEFINES ${defines} REQUIRES GL_NV_cooperative_matrix)
  qi_shader(NAME coopmat_workgroup_mma_peak_l5_tensor_loads_${tile} SOURCE coopmat_workgroup_mma_peak.comp
            KHR_COOPMAT TENSOR_LOADS DEFINES ${defines} REQUIRES GL_NV_cooperative_matrix)
endforeach()
