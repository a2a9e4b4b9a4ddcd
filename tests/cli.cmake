# End-to-end checks of the persona command.
if(TARGET persona_cli)
  add_test(NAME cli_demo COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_demo.sh $<TARGET_FILE:persona_cli>)
  set_tests_properties(cli_demo PROPERTIES LABELS unit TIMEOUT 120)
endif()
