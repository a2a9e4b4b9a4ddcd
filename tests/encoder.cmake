# Encoder model: golden parity with the PyTorch reference, model files, bad input.
if(TARGET pe_encoder)
  pe_add_test(test_encoder SOURCES test_encoder.c LIBS pe_encoder LABELS golden)
  set_tests_properties(test_encoder PROPERTIES TIMEOUT 300)
  pe_add_test(test_encoder_files SOURCES test_encoder_files.c LIBS pe_encoder LABELS unit)
  set_tests_properties(test_encoder_files PROPERTIES TIMEOUT 300)
endif()
