# WordPiece tokenizer (encoder/pe_tokenizer.h).
# unit: expectations written by hand from the rules.
pe_add_test(test_tokenizer SOURCES test_tokenizer.c LIBS pe_encoder pe_dep_cjson LABELS unit)
# golden: the same program replaying encodings made by Hugging Face's own
# tokenizers library (fixtures/tokenizer/hf_golden.jsonl, gen_hf_golden.js).
add_test(NAME test_tokenizer_hf COMMAND test_tokenizer --hf-golden)
set_tests_properties(test_tokenizer_hf PROPERTIES SKIP_RETURN_CODE 77 LABELS golden
                     ENVIRONMENT "PE_FIXTURES=${PE_FIXTURES};PE_BINARY_DIR=${CMAKE_BINARY_DIR}")
