# CPU fast paths (encoder/kernels*.c) against the OpenBLAS reference.
if(TARGET pe_encoder)
  pe_add_test(test_kernels SOURCES test_kernels.c LIBS pe_encoder LABELS unit)
  # Same program with the environment override: dispatch must report "blas".
  add_test(NAME test_kernels_force_blas COMMAND test_kernels --expect-blas)
  set_tests_properties(test_kernels_force_blas PROPERTIES SKIP_RETURN_CODE 77 LABELS unit
                       ENVIRONMENT "PE_LINEAR_FORCE_BLAS=1")
endif()
