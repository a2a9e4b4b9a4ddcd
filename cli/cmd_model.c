/* cmd_model.c - `persona model convert` (Hugging Face checkpoint -> .pem),
 * `persona model info` (config, metadata, tensors as JSON) and `persona
 * model average` (a model soup of checkpoint folders). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "pe_encoder.h"
#include "pe_train.h"

static void convert_usage(FILE *f)
{
    fprintf(f,
            "usage: persona model convert HF_DIR OUT.pem [options]\n"
            "\n"
            "Converts a Hugging Face BERT checkpoint folder (config.json, model.safetensors\n"
            "in F32/F16/BF16, vocab.txt or tokenizer.json) to the project's .pem model file\n"
            "(one memory-mapped file: config, vocabulary, label maps, metadata, tensors).\n"
            "\n"
            "options:\n"
            "  --f16                  store the tensors as f16 (half the size) instead of f32\n"
            "  --model-id ID          metadata model id (default: the folder's name)\n"
            "  --model-version V      metadata model version\n"
            "  --training-data TEXT   metadata: what the model was trained on\n"
            "  --labels FILE.json     label maps of heads: {\"ner\": [...], \"relation\": [...]}\n"
            "  --no-extra             drop tensors the encoder does not use (heads, cls.*)\n");
}

int pe_cmd_model_convert(int argc, char **argv)
{
    const char *labels_path = NULL;
    pe_encoder_convert_options o = pe_encoder_convert_options_default();
    int no_extra = 0;
    const pe_cli_opt opts[] = {
        {"--f16", PE_CLI_FLAG, &o.f16},
        {"--no-extra", PE_CLI_FLAG, &no_extra},
        {"--model-id", PE_CLI_STRING, &o.model_id},
        {"--model-version", PE_CLI_STRING, &o.model_version},
        {"--training-data", PE_CLI_STRING, &o.training_data},
        {"--labels", PE_CLI_STRING, &labels_path},
        {0}};
    const pe_cli_spec spec = {"model convert", convert_usage, opts, 2, 2, NULL};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    if (no_extra) o.keep_extra = 0;
    const char *pos[2] = {argv[1], argv[2]};
    if ((rc = pe_cli_need_file("checkpoint folder", pos[0])) != PE_EXIT_OK) return rc;
    if (labels_path && (rc = pe_cli_need_file("label file", labels_path)) != PE_EXIT_OK) return rc;
    struct stat sb;
    char *labels = NULL;
    if (labels_path) {
        pe_error lerr;
        pe_status lst = pe_file_read(labels_path, 64u << 20, &labels, NULL, &lerr);
        if (lst >= PE_ERR_FIRST) return pe_cli_fail(lst, "%s", lerr.msg);
        o.labels_json = labels;
    }
    pe_error err;
    pe_error_clear(&err);
    double t0 = pe_now();
    pe_status st = pe_encoder_convert_hf(pos[0], pos[1], &o, &err);
    free(labels);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    if (stat(pos[1], &sb) == 0)
        fprintf(stderr, "persona: wrote %s (%.1f MiB, %s) in %.1f s\n", pos[1], sb.st_size / 1048576.0,
                o.f16 ? "f16" : "f32", pe_now() - t0);
    return PE_EXIT_OK;
}

static void average_usage(FILE *f)
{
    fprintf(f,
            "usage: persona model average OUT_DIR DIR DIR [DIR...]\n"
            "\n"
            "A model soup (Wortsman et al. 2022): OUT_DIR gets the element-wise mean of the\n"
            "weights of checkpoint folders that `persona train` wrote (RUN/best, RUN/ckpt-N)\n"
            "for runs fine-tuned from one start (other seeds, or checkpoints of one run),\n"
            "with the first folder's config, vocabulary and labels. The folders must hold\n"
            "the same model (tensors, shapes, config.json, labels.json). Then make a model\n"
            "file of it: persona model convert OUT_DIR OUT.pem --labels OUT_DIR/labels.json\n");
}

int pe_cmd_model_average(int argc, char **argv)
{
    const pe_cli_opt opts[] = {{0}};
    const pe_cli_spec spec = {"model average", average_usage, opts, 3, -1, NULL};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    for (int i = 2; i <= np; i++)
        if ((rc = pe_cli_need_file("checkpoint folder", argv[i])) != PE_EXIT_OK) return rc;
    pe_error err;
    pe_error_clear(&err);
    double t0 = pe_now();
    pe_status st = pe_train_average_checkpoints((const char *const *)argv + 2, np - 1, argv[1], &err);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    fprintf(stderr, "persona: wrote %s, the mean of %d checkpoints, in %.1f s (make a model file with: persona model "
                    "convert %s OUT.pem --labels %s/labels.json)\n",
            argv[1], np - 1, pe_now() - t0, argv[1], argv[1]);
    return PE_EXIT_OK;
}

static void info_usage(FILE *f)
{
    fprintf(f,
            "usage: persona model info PATH [--verify] [--no-tensors]\n"
            "\n"
            "Prints a model's config, metadata, tokenizer, label maps and tensors as one\n"
            "JSON object. PATH: a Hugging Face folder, a .safetensors file (config.json\n"
            "beside it) or a .pem file.\n"
            "\n"
            "options:\n"
            "  --verify       .pem: check the SHA-256 of the tensor data against the header\n"
            "  --no-tensors   leave out the per-tensor list\n");
}

int pe_cmd_model_info(int argc, char **argv)
{
    int verify = 0, no_tensors = 0;
    const pe_cli_opt opts[] = {{"--verify", PE_CLI_FLAG, &verify}, {"--no-tensors", PE_CLI_FLAG, &no_tensors}, {0}};
    const pe_cli_spec spec = {"model info", info_usage, opts, 1, 1,
                              "            (1: bad model file, checksum mismatch)\n"};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    const char *path = argv[1];
    int tensors = !no_tensors;
    if ((rc = pe_cli_need_file("model", path)) != PE_EXIT_OK) return rc;
    pe_encoder_options lo = pe_encoder_options_default();
    lo.backend = PE_ENCODER_CPU;
    lo.threads = 1;
    lo.verify_checksum = verify;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_encoder_load(path, &lo, &enc, &err);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    pe_encoder_info in;
    pe_encoder_get_info(enc, &in);
    const pe_encoder_config *c = &in.config;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", in.path);
    cJSON_AddStringToObject(o, "format", in.format);
    cJSON_AddStringToObject(o, "dtype", in.dtype);
    cJSON *cfg = cJSON_AddObjectToObject(o, "config");
    cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(cfg, "hidden_size", c->hidden);
    cJSON_AddNumberToObject(cfg, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(cfg, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(cfg, "intermediate_size", c->intermediate);
    cJSON_AddNumberToObject(cfg, "max_position_embeddings", c->max_position);
    cJSON_AddNumberToObject(cfg, "type_vocab_size", c->type_vocab);
    char eps[32];
    snprintf(eps, sizeof eps, "%.6g", (double)c->layer_norm_eps);
    cJSON_AddNumberToObject(cfg, "layer_norm_eps", strtod(eps, NULL));
    cJSON_AddStringToObject(cfg, "hidden_act", "gelu");
    cJSON_AddBoolToObject(cfg, "pooler", c->has_pooler);
    cJSON_AddBoolToObject(cfg, "persona_case_types", c->case_types);
    cJSON_AddNumberToObject(o, "parameters", (double)in.n_params);
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "model_id", in.model_id);
    cJSON_AddStringToObject(meta, "model_version", in.model_version);
    cJSON_AddStringToObject(meta, "training_data", in.training_data);
    cJSON_AddStringToObject(meta, "created", in.created);
    cJSON_AddStringToObject(meta, "tensor_sha256", in.tensor_sha256);
    if (verify) cJSON_AddBoolToObject(meta, "verified", strcmp(in.format, "pem") == 0);
    const pe_tokenizer *tok = pe_encoder_tokenizer(enc);
    if (tok) {
        const pe_tokenizer_options *to = pe_tokenizer_get_options(tok);
        cJSON *t = cJSON_AddObjectToObject(o, "tokenizer");
        cJSON_AddNumberToObject(t, "vocab_size", (double)pe_tokenizer_vocab_size(tok));
        cJSON_AddBoolToObject(t, "do_lower_case", to->do_lower_case);
        cJSON_AddBoolToObject(t, "strip_accents", to->strip_accents < 0 ? to->do_lower_case : to->strip_accents);
    } else {
        cJSON_AddNullToObject(o, "tokenizer");
    }
    cJSON *labels = cJSON_AddObjectToObject(o, "labels");
    for (int h = 0; h < pe_encoder_n_heads(enc); h++) {
        const char *name;
        const char *const *l;
        int n;
        if (pe_encoder_head_at(enc, h, &name, &l, &n) != PE_OK) continue;
        cJSON *a = cJSON_AddArrayToObject(labels, name);
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(l[i]));
    }
    cJSON *tj = cJSON_AddObjectToObject(o, "tensors");
    cJSON_AddNumberToObject(tj, "count", in.n_tensors);
    cJSON *ex = cJSON_AddArrayToObject(tj, "extra");
    for (int i = 0; i < in.n_extra; i++) cJSON_AddItemToArray(ex, cJSON_CreateString(in.extra[i]));
    if (tensors) {
        cJSON *list = cJSON_AddArrayToObject(tj, "list");
        pe_encoder_tensor_desc d;
        for (int i = 0; pe_encoder_tensor_at(enc, i, &d) == PE_OK; i++) {
            cJSON *x = cJSON_CreateObject(), *sh = cJSON_CreateArray();
            cJSON_AddStringToObject(x, "name", d.name);
            cJSON_AddStringToObject(x, "dtype", d.dtype);
            for (int k = 0; k < d.ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)d.shape[k]));
            cJSON_AddItemToObject(x, "shape", sh);
            cJSON_AddItemToArray(list, x);
        }
    }
    char *s = cJSON_Print(o);
    rc = PE_EXIT_OK;
    if (!s) rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
    else if (puts(s) < 0 || fflush(stdout) != 0) rc = pe_cli_fail(PE_ERR_IO, "%s", "cannot write to stdout");
    free(s);
    cJSON_Delete(o);
    pe_encoder_free(enc);
    return rc;
}
