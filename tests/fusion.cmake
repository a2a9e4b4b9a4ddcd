# Fusion: schema, timestamps, patterns, policy, and the fusion rules against
# the demo graph and a persona store (hand-made triples, no model), with the
# exact lookup and with the entity linker.
pe_add_test(test_fusion SOURCES test_fusion.c LIBS pe_fusion pe_importers pe_kgstore pe_personastore pe_util LABELS unit)
target_compile_definitions(test_fusion PRIVATE PE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# persona enrich / audit / forget / demo end to end (trains a tiny model first)
if(TARGET persona_cli)
  add_test(NAME cli_enrich COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_enrich.sh
           $<TARGET_FILE:persona_cli> ${PE_FIXTURES} ${PROJECT_SOURCE_DIR}/models ${PROJECT_SOURCE_DIR})
  set_tests_properties(cli_enrich PROPERTIES LABELS unit TIMEOUT 300)
endif()
