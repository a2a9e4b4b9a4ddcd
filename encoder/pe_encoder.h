/*
 * pe_encoder.h - BERT-compatible transformer encoder: model files, CPU
 * (OpenBLAS) and CUDA (cuBLAS) backends. The tokenizer's API is in
 * pe_tokenizer.h, included here.
 *
 * (The model API is being written; see the encoder issue.)
 */
#ifndef PE_ENCODER_H
#define PE_ENCODER_H

#include "pe_util.h"

#endif
