# WordPiece tokenizer (encoder/pe_tokenizer.h): hand-written expectations.
pe_add_test(test_tokenizer SOURCES test_tokenizer.c LIBS pe_encoder LABELS unit)
