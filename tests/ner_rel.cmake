# NER and persona relations: the token-classification head's gradients,
# CoNLL and PersonaExt data, scoring, and a tiny end-to-end fine-tuning
# read back through a .pem.
pe_add_test(test_ner_rel SOURCES test_ner_rel.c LIBS pe_ner pe_relation LABELS unit)
