# CUDA backend (encoder/cuda/): only in builds with -DPE_CUDA=ON.
# test_cuda_api runs anywhere (host-side contract, no-device errors);
# test_cuda compares CUDA with the CPU reference and exits 77 without a GPU.
if(PE_CUDA)
  pe_add_test(test_cuda_api SOURCES test_cuda_api.c LIBS pe_encoder LABELS unit)
  pe_add_test(test_cuda SOURCES test_cuda.c LIBS pe_encoder LABELS gpu)
endif()
