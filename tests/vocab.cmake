# WordPiece vocabulary trainer (encoder/pe_vocab.h), pe_tokenizer_pre_tokenize
# and `persona vocab`. unit: expected merges worked out by hand, a brute-force
# reference trainer, the CLI end to end.
pe_add_test(test_vocab SOURCES test_vocab.c LIBS pe_encoder pe_dep_zlib LABELS unit)
if(TARGET persona_cli)
  add_dependencies(test_vocab persona_cli) # the CLI part runs build/cli/persona
endif()
# The saved fuzz inputs replayed (label fuzz); with PE_BUILD_FUZZERS the
# libFuzzer target, e.g.
#   build-fuzz/tests/fuzz_vocab -jobs=1 -workers=1 -max_total_time=300 \
#       -max_len=4096 /tmp/new tests/fuzz/corpus/vocab
pe_add_test(fuzz_vocab_corpus SOURCES fuzz/fuzz_vocab.c fuzz/replay.c LIBS pe_encoder pe_dep_utf8proc
            LABELS fuzz ARGS ${PE_TEST_DIR}/fuzz/corpus/vocab)
pe_add_fuzzer(fuzz_vocab SOURCES fuzz/fuzz_vocab.c ${CMAKE_SOURCE_DIR}/encoder/vocab_train.c
              ${CMAKE_SOURCE_DIR}/encoder/tokenizer.c LIBS pe_encoder pe_util pe_dep_utf8proc)
