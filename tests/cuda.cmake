# CUDA backend (encoder/cuda/).
# test_cuda_api (with -DPE_CUDA=ON) runs anywhere: host-side contract and the
# no-device errors of the real runtime.
# test_cuda (with -DPE_CUDA=ON) compares CUDA with the CPU reference and
# exits 77 without a GPU.
# test_cuda_emu runs cuda_backend.c against an emulation of the CUDA
# runtime, cuBLAS and the kernels: it needs only the CUDA headers, so it is
# built wherever the toolkit is found, with or without PE_CUDA (CI's
# sanitizer build included), and never links the CUDA libraries.
if(PE_CUDA)
  pe_add_test(test_cuda_api SOURCES test_cuda_api.c LIBS pe_encoder LABELS unit)
  pe_add_test(test_cuda SOURCES test_cuda.c LIBS pe_encoder Threads::Threads LABELS gpu)
  # cuBLAS is opened on the first call (encoder/cuda/cublas_lazy.c), not at start-up
  pe_add_test(test_cublas_lazy SOURCES test_cublas_lazy.c LIBS pe_encoder LABELS unit)
endif()
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  pe_add_test(test_cuda_emu SOURCES test_cuda_emu.c ${PROJECT_SOURCE_DIR}/encoder/cuda/cuda_backend.c
              LIBS pe_util Threads::Threads LABELS unit)
  target_include_directories(test_cuda_emu PRIVATE ${PROJECT_SOURCE_DIR}/encoder ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_definitions(test_cuda_emu PRIVATE PE_HAVE_CUDA=1)
endif()
