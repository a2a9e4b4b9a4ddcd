# CPU fast paths (encoder/kernels*.c) against the OpenBLAS reference.
pe_add_test(test_kernels SOURCES test_kernels.c LIBS pe_encoder LABELS unit)
# Same program with the environment override: dispatch must report "blas".
add_test(NAME test_kernels_force_blas COMMAND test_kernels --expect-blas)
set_tests_properties(test_kernels_force_blas PROPERTIES SKIP_RETURN_CODE 77 LABELS unit
                     ENVIRONMENT "PE_LINEAR_FORCE_BLAS=1")
# Tiny K and row blocks (tuning knobs of kernels_avx512.c): every shape
# of the test then runs through the K-block accumulation and row blocking.
add_test(NAME test_kernels_small_blocks COMMAND test_kernels)
set_tests_properties(test_kernels_small_blocks PROPERTIES SKIP_RETURN_CODE 77 LABELS unit
                     ENVIRONMENT "PE_K512_KC=64;PE_K512_MC=28")
