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
# The ranker file loader (pe_link_model_load) on hostile files: the saved
# fuzz inputs replayed (label fuzz); with PE_BUILD_FUZZERS the libFuzzer
# target, e.g.
#   build-fuzz/tests/fuzz_link_ranker -jobs=1 -workers=1 -max_total_time=300 \
#       -max_len=65536 /tmp/new tests/fuzz/corpus/link_ranker
pe_add_test(fuzz_link_ranker_corpus SOURCES fuzz/fuzz_link_ranker.c fuzz/replay.c LIBS pe_fusion pe_util LABELS fuzz
            ARGS ${PE_TEST_DIR}/fuzz/corpus/link_ranker)
pe_add_fuzzer(fuzz_link_ranker SOURCES fuzz/fuzz_link_ranker.c ${CMAKE_SOURCE_DIR}/fusion/link_model.c
              INCLUDES ${CMAKE_SOURCE_DIR}/fusion LIBS pe_fusion pe_util)
