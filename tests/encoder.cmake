# Encoder model: golden parity with the PyTorch reference, model files, bad
# input, the encode / model commands.
pe_add_test(test_encoder SOURCES test_encoder.c LIBS pe_encoder LABELS golden)
pe_add_test(test_encoder_files SOURCES test_encoder_files.c LIBS pe_encoder LABELS unit)
set_tests_properties(test_encoder test_encoder_files PROPERTIES TIMEOUT 300)
if(TARGET persona_cli)
  pe_add_test(test_encoder_cli SOURCES test_encoder_cli.c LIBS pe_dep_cjson LABELS unit)
  add_dependencies(test_encoder_cli persona_cli)
  if(PE_CUDA)
    target_compile_definitions(test_encoder_cli PRIVATE PE_HAVE_CUDA=1) # persona's backend set
  endif()
  set_tests_properties(test_encoder_cli PROPERTIES TIMEOUT 300)
endif()
