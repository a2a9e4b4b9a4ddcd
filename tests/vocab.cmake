# WordPiece vocabulary trainer (encoder/pe_vocab.h), pe_tokenizer_pre_tokenize
# and `persona vocab`. unit: expected merges worked out by hand.
if(TARGET pe_encoder)
  pe_add_test(test_vocab SOURCES test_vocab.c LIBS pe_encoder pe_dep_zlib LABELS unit)
  if(TARGET persona_cli)
    add_dependencies(test_vocab persona_cli) # the CLI part runs build/cli/persona
  endif()
endif()
