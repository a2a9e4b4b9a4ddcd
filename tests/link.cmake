# Entity linker (fusion/pe_link.h) on a fixture graph imported in the test.
pe_add_test(test_link SOURCES test_link.c LIBS pe_fusion pe_importers pe_kgstore pe_util LABELS unit)
# persona link index|train, persona link, persona eval link through the built CLI (skips without it)
pe_add_test(test_link_cli SOURCES test_link_cli.c LIBS pe_util pe_dep_cjson LABELS unit)
if(TARGET persona_cli)
  add_dependencies(test_link_cli persona_cli)
  # persona link through a model's NER head (trains a tiny model first)
  add_test(NAME cli_link_ner COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_link_ner_cli.sh
           $<TARGET_FILE:persona_cli> ${PE_FIXTURES} ${PROJECT_SOURCE_DIR}/models)
  set_tests_properties(cli_link_ner PROPERTIES LABELS unit TIMEOUT 300)
endif()
