# End-to-end checks of the persona command.
if(TARGET persona_cli)
  add_test(NAME cli_demo COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_demo.sh $<TARGET_FILE:persona_cli>)
  set_tests_properties(cli_demo PROPERTIES LABELS unit TIMEOUT 120)
endif()
if(TARGET persona_cli)
  add_test(NAME cli_train_eval_extract COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train_cli.sh
           $<TARGET_FILE:persona_cli> ${PE_FIXTURES} ${PROJECT_SOURCE_DIR}/models)
  set_tests_properties(cli_train_eval_extract PROPERTIES LABELS unit TIMEOUT 300)
endif()
# Start-up cost: kg commands load neither OpenBLAS nor CUDA libraries
# (skipped, after the OpenBLAS check, on a build without PE_CUDA).
if(TARGET persona_cli)
  add_test(NAME cli_startup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_startup.sh $<TARGET_FILE:persona_cli>
           ${PE_FIXTURES} ${PE_CUDA})
  set_tests_properties(cli_startup PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
# Every command: --help lists the exit codes, unknown options and bad values
# are usage errors (2), a missing store, file or model is 5.
if(TARGET persona_cli)
  add_test(NAME cli_conventions COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_conventions.sh $<TARGET_FILE:persona_cli>)
  set_tests_properties(cli_conventions PROPERTIES LABELS unit TIMEOUT 120)
endif()
# The option parser and exit-code mapping of cli/common.c, unit by unit.
if(TARGET persona_cli)
  pe_add_test(test_cli_parse SOURCES test_cli_parse.c ${PROJECT_SOURCE_DIR}/cli/common.c
              LIBS pe_importers pe_kgstore pe_util pe_dep_cjson LABELS unit)
  target_include_directories(test_cli_parse PRIVATE ${PROJECT_SOURCE_DIR}/cli)
  target_compile_options(test_cli_parse PRIVATE -Wno-missing-field-initializers)
endif()
