# Encoder input parsers (issue 3: bad model files and bad texts give clear
# errors, never a crash): the saved fuzz inputs replayed as ordinary tests
# (label fuzz), and the libFuzzer targets with PE_BUILD_FUZZERS (clang).

foreach(t tokenizer model_files)
  pe_add_test(fuzz_${t}_corpus SOURCES fuzz/fuzz_${t}.c fuzz/replay.c LIBS pe_encoder pe_dep_cjson pe_dep_utf8proc
              LABELS fuzz ARGS ${PE_TEST_DIR}/fuzz/corpus/${t})
  target_include_directories(fuzz_${t}_corpus PRIVATE ${CMAKE_SOURCE_DIR}/encoder)
endforeach()

# libFuzzer targets: clang only. The parsers' sources are compiled into
# each target so that they are coverage-instrumented; the rest (forward,
# kernels) comes from pe_encoder. One core, e.g.
#   build-fuzz/tests/fuzz_model_files -jobs=1 -workers=1 -max_total_time=300 \
#       -max_len=65536 /tmp/new tests/fuzz/corpus/model_files
set(pe_fuzz_enc_tokenizer ${CMAKE_SOURCE_DIR}/encoder/tokenizer.c)
set(pe_fuzz_enc_model_files ${CMAKE_SOURCE_DIR}/encoder/tokenizer.c ${CMAKE_SOURCE_DIR}/encoder/safetensors.c
    ${CMAKE_SOURCE_DIR}/encoder/pemodel.c ${CMAKE_SOURCE_DIR}/encoder/model_config.c
    ${CMAKE_SOURCE_DIR}/encoder/model_load.c ${CMAKE_SOURCE_DIR}/encoder/model_text.c)
foreach(t tokenizer model_files)
  pe_add_fuzzer(fuzz_${t} SOURCES fuzz/fuzz_${t}.c ${pe_fuzz_enc_${t}} INCLUDES ${CMAKE_SOURCE_DIR}/encoder
                LIBS pe_encoder pe_util pe_dep_cjson pe_dep_utf8proc)
endforeach()
