# Importers: parsing layers without a store, pe_import_file into a store,
# the kill -9 / --resume test through the CLI, and the fuzz corpora.

pe_add_test(test_import_parse SOURCES test_import_parse.c LIBS pe_importers LABELS unit)
target_include_directories(test_import_parse PRIVATE ${CMAKE_SOURCE_DIR}/importers)
target_link_libraries(test_import_parse PRIVATE pe_dep_zlib pe_dep_bz2 pe_kgstore m)

pe_add_test(test_import SOURCES test_import.c LIBS pe_importers LABELS unit)
target_link_libraries(test_import PRIVATE pe_dep_zlib pe_kgstore m)

pe_add_test(test_import_crash SOURCES test_import_crash.c LIBS pe_kgstore LABELS unit)
if(TARGET persona_cli)
  add_dependencies(test_import_crash persona_cli)
endif()

# Saved fuzz inputs replayed as ordinary tests (label fuzz).
foreach(t wikidata rdf)
  pe_add_test(fuzz_${t}_corpus SOURCES fuzz/fuzz_${t}.c fuzz/replay.c LIBS pe_importers LABELS fuzz
              ARGS ${PE_TEST_DIR}/fuzz/corpus/${t})
  target_include_directories(fuzz_${t}_corpus PRIVATE ${CMAKE_SOURCE_DIR}/importers ${PE_TEST_DIR}/fuzz)
endforeach()

# libFuzzer targets: clang only. The importer sources are compiled into
# each target so that they are coverage-instrumented. Run e.g.
#   build-fuzz/tests/fuzz_wikidata -max_total_time=60 tests/fuzz/corpus/wikidata
file(GLOB pe_fuzz_imp_src ${CMAKE_SOURCE_DIR}/importers/imp_*.c)
foreach(t wikidata rdf)
  pe_add_fuzzer(fuzz_${t} SOURCES fuzz/fuzz_${t}.c ${pe_fuzz_imp_src} INCLUDES ${CMAKE_SOURCE_DIR}/importers ${PE_TEST_DIR}/fuzz
                LIBS pe_kgstore pe_util pe_dep_cjson pe_dep_raptor pe_dep_zlib pe_dep_bz2)
endforeach()
