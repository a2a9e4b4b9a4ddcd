# The shipped model loads and extract runs on it (skipped, 77, without it).
if(TARGET persona_cli)
  add_test(NAME cli_shipped_model COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_shipped_model.sh
           $<TARGET_FILE:persona_cli> ${PROJECT_SOURCE_DIR}/models/persona-small.pem)
  set_tests_properties(cli_shipped_model PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()
