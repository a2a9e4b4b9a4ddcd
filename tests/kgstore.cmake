pe_add_test(test_kgstore SOURCES test_kgstore.c LIBS pe_kgstore pe_util LABELS unit)
# persona kg stats|lookup|entity|types through the built CLI (skips without it)
pe_add_test(test_kgstore_cli SOURCES test_kgstore_cli.c LIBS pe_kgstore pe_util pe_dep_cjson LABELS unit)

# The store's record decoders (issue 7: a damaged store gives
# PE_ERR_CORRUPT, never a read outside a record): the saved fuzz inputs
# replayed as an ordinary test (label fuzz), and the libFuzzer target with
# PE_BUILD_FUZZERS (clang), e.g.
#   build-fuzz/tests/fuzz_kg_records -max_total_time=60 tests/fuzz/corpus/kg_records
pe_add_test(fuzz_kg_records_corpus SOURCES fuzz/fuzz_kg_records.c fuzz/replay.c LIBS pe_kgstore pe_util LABELS fuzz
            ARGS ${PE_TEST_DIR}/fuzz/corpus/kg_records)
target_include_directories(fuzz_kg_records_corpus PRIVATE ${CMAKE_SOURCE_DIR}/kgstore)
pe_add_fuzzer(fuzz_kg_records SOURCES fuzz/fuzz_kg_records.c ${CMAKE_SOURCE_DIR}/kgstore/kg_decode.c
              INCLUDES ${CMAKE_SOURCE_DIR}/kgstore LIBS pe_util pe_dep_lmdb)
