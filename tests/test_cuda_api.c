/* test_cuda_api.c - the CUDA backend's host-side contract, on any machine
 * (label unit): options and precision names, config and environment
 * errors before any device is touched, and without a device a clean
 * PE_ERR_UNSUPPORTED (no crash, no leak, *out NULL). The numerical tests
 * are in test_cuda.c (label gpu). */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_backend.h"
#include "pe_test.h"

/* A structurally valid tiny model whose every tensor is the same zero
 * buffer (enough for the checks here; test_cuda.c runs real numbers). */
typedef struct tiny {
    pe_encoder_config cfg;
    pe_encoder_weights w;
    pe_encoder_layer_weights layer;
    float *zeros;
} tiny;

static void tiny_make(tiny *t)
{
    memset(t, 0, sizeof *t);
    t->cfg = (pe_encoder_config){.vocab_size = 5, .hidden = 8, .layers = 1, .heads = 2, .intermediate = 16,
                                 .max_position = 8, .type_vocab = 2, .layer_norm_eps = 1e-12f, .has_pooler = 1};
    t->zeros = calloc(1024, sizeof(float));
    const float *z = t->zeros;
    t->layer = (pe_encoder_layer_weights){z, z, z, z, z, z, z, z, z, z, z, z};
    t->w = (pe_encoder_weights){.word_emb = z, .pos_emb = z, .type_emb = z, .emb_ln_g = z, .emb_ln_b = z,
                                .layer = &t->layer, .pooler_w = z, .pooler_b = z};
}

static void test_precision_names(void)
{
    pe_error err;
    pe_error_clear(&err);
    pe_cuda_precision p = PE_CUDA_BF16;
    PE_CHECK_EQ_INT(enc_cuda_precision_parse("fp32", &p, &err), PE_OK);
    PE_CHECK_EQ_INT(p, PE_CUDA_FP32);
    PE_CHECK_EQ_INT(enc_cuda_precision_parse("TF32", &p, &err), PE_OK);
    PE_CHECK_EQ_INT(p, PE_CUDA_TF32);
    PE_CHECK_EQ_INT(enc_cuda_precision_parse("bf16", &p, &err), PE_OK);
    PE_CHECK_EQ_INT(p, PE_CUDA_BF16);
    PE_CHECK_EQ_INT(enc_cuda_precision_parse("fp16", &p, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "\"fp16\"") != NULL);
    PE_CHECK_EQ_INT(p, PE_CUDA_BF16); /* unchanged on error */
    PE_CHECK_EQ_INT(enc_cuda_precision_parse(NULL, &p, &err), PE_ERR_INVALID);
    for (int i = PE_CUDA_FP32; i <= PE_CUDA_BF16; i++) {
        PE_CHECK_EQ_INT(enc_cuda_precision_parse(enc_cuda_precision_name((pe_cuda_precision)i), &p, &err), PE_OK);
        PE_CHECK_EQ_INT(p, i);
    }
    pe_cuda_options o = enc_cuda_options_default();
    PE_CHECK_EQ_INT(o.device, 0);
    PE_CHECK_EQ_INT(o.precision, PE_CUDA_FP32);
}

static void test_bad_config(void)
{
    tiny t;
    tiny_make(&t);
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_cuda *cu = (pe_encoder_cuda *)&t; /* must be reset to NULL */
    t.cfg.hidden = 9; /* not a multiple of 2 heads */
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&t.cfg, &t.w, NULL, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(cu == NULL);
    PE_CHECK(strstr(err.msg, "hidden 9") != NULL);
    t.cfg.hidden = 8;
    t.layer.ffn_out_w = NULL;
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&t.cfg, &t.w, NULL, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "layer 0") != NULL);
    t.layer.ffn_out_w = t.zeros;
    t.w.pooler_b = NULL;
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&t.cfg, &t.w, NULL, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "pooler") != NULL);
    t.w.pooler_b = t.zeros;
    pe_cuda_options o = enc_cuda_options_default();
    o.precision = (pe_cuda_precision)7;
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&t.cfg, &t.w, &o, &cu, &err), PE_ERR_INVALID);
    free(t.zeros);
}

static void test_environment(void)
{
    tiny t;
    tiny_make(&t);
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_cuda *cu = NULL;
    setenv("PE_CUDA_PRECISION", "int4", 1);
    PE_CHECK_EQ_INT(enc_cuda_new(&t.cfg, &t.w, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "int4") != NULL);
    PE_CHECK(cu == NULL);
    unsetenv("PE_CUDA_PRECISION");
    setenv("PE_CUDA_DEVICE", "gpu0", 1);
    PE_CHECK_EQ_INT(enc_cuda_new(&t.cfg, &t.w, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "PE_CUDA_DEVICE") != NULL);
    unsetenv("PE_CUDA_DEVICE");
    /* enc_cuda_options_env: what pe_encoder_load applies over its options */
    pe_cuda_options o = enc_cuda_options_default();
    o.precision = PE_CUDA_TF32;
    o.device = 1;
    setenv("PE_CUDA_PRECISION", "", 1); /* empty: not set */
    PE_CHECK_EQ_INT(enc_cuda_options_env(&o, &err), PE_OK);
    PE_CHECK_EQ_INT(o.precision, PE_CUDA_TF32);
    PE_CHECK_EQ_INT(o.device, 1);
    setenv("PE_CUDA_PRECISION", "BF16", 1);
    setenv("PE_CUDA_DEVICE", "3", 1);
    PE_CHECK_EQ_INT(enc_cuda_options_env(&o, &err), PE_OK);
    PE_CHECK_EQ_INT(o.precision, PE_CUDA_BF16);
    PE_CHECK_EQ_INT(o.device, 3);
    setenv("PE_CUDA_PRECISION", "fp8", 1);
    PE_CHECK_EQ_INT(enc_cuda_options_env(&o, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "PE_CUDA_PRECISION") != NULL && strstr(err.msg, "fp8") != NULL);
    unsetenv("PE_CUDA_PRECISION");
    unsetenv("PE_CUDA_DEVICE");
    free(t.zeros);
}

/* Without a device: unavailable, and asking anyway fails cleanly. With
 * one: the tiny model loads, and a device that does not exist is named. */
static void test_device_presence(void)
{
    tiny t;
    tiny_make(&t);
    pe_error why, err;
    pe_error_clear(&why);
    pe_error_clear(&err);
    const int n = enc_cuda_probe(&why);
    pe_encoder_cuda *cu = NULL;
    if (n <= 0) {
        fprintf(stderr, "  no usable CUDA device: %s\n", why.msg);
        PE_CHECK(why.msg[0] != '\0');
        PE_CHECK_EQ_INT(enc_cuda_available(), 0);
        PE_CHECK_EQ_INT(enc_cuda_new(&t.cfg, &t.w, &cu, &err), PE_ERR_UNSUPPORTED);
        PE_CHECK(cu == NULL);
        PE_CHECK(strstr(err.msg, "unavailable") != NULL);
        enc_cuda_free(NULL);
        /* twice: the failed probe must not leave a sticky error behind */
        PE_CHECK_EQ_INT(enc_cuda_available(), 0);
    } else {
        PE_CHECK_EQ_INT(enc_cuda_available(), 1);
        PE_CHECK_MSG(enc_cuda_new(&t.cfg, &t.w, &cu, &err) == PE_OK, "%s", err.msg);
        enc_cuda_free(cu);
        cu = NULL;
        pe_cuda_options o = enc_cuda_options_default();
        o.device = 999;
        PE_CHECK_EQ_INT(enc_cuda_new_ex(&t.cfg, &t.w, &o, &cu, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "999") != NULL);
        PE_CHECK(cu == NULL);
    }
    free(t.zeros);
}

int main(void)
{
    PE_RUN(test_precision_names);
    PE_RUN(test_bad_config);
    PE_RUN(test_environment);
    PE_RUN(test_device_presence);
    PE_TEST_EXIT();
}
