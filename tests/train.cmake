# Encoder training: each op's backward and the whole encoder's gradients
# against central differences, gradients and AdamW steps against PyTorch
# (tests/fixtures/train from scripts/gen_train_fixtures.py), dropout,
# save and reload.
pe_add_test(test_train SOURCES test_train.c LIBS pe_encoder LABELS unit golden)
# The training loop shared by every objective, the MLM head and masking,
# token shards, exact resumption after a kill.
pe_add_test(test_trainer SOURCES test_trainer.c LIBS pe_encoder LABELS unit)
