# Encoder training: each op's backward and the whole encoder's gradients
# against central differences, gradients and AdamW steps against PyTorch
# (tests/fixtures/train from scripts/gen_train_fixtures.py), dropout,
# save and reload.
pe_add_test(test_train SOURCES test_train.c LIBS pe_encoder LABELS unit golden)
# The training loop shared by every objective, the MLM head and masking,
# token shards, exact resumption after a kill.
pe_add_test(test_trainer SOURCES test_trainer.c LIBS pe_encoder LABELS unit)
# One MLM step (forward, MLM head loss, backward, clipping, AdamW over the
# encoder and the head) against PyTorch on the same weights and batch
# (tests/fixtures/train/mlm_step.safetensors from scripts/gen_mlm_fixtures.py).
pe_add_test(test_train_mlm SOURCES test_train_mlm.c LIBS pe_encoder LABELS unit golden)
