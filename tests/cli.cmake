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
