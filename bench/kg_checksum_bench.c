/* kg_checksum_bench.c - what a per-record checksum would cost the graph
 * store (issue 7): walks every database of a store (LMDB directly,
 * read-only) three times: reading each record, reading it and computing a
 * CRC-32C over key and value (SSE4.2 instruction), and the same with
 * zlib's CRC-32; prints records, bytes, the time of each walk, and the
 * size a 4-byte checksum per record would add. Also times random entity
 * reads through pe_kg_entity_get against the CRC-32C of the records they
 * read. Usage: pe_bench_kg_checksum STORE_DIR [ENTITY_SAMPLES] */
#include <lmdb.h>
#include <nmmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "pe_kg.h"
#include "pe_util.h"

static const char *const dbs[] = {"meta", "term2id", "id2term", "lit2id", "id2lit", "entity", "text", "alias",
                                  "sitelink", "spo", "pos", "osp", "triple_src", "same", "redirect", "source"};

static uint32_t crc32c(uint32_t c, const unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = (uint32_t)_mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}

/* mode 0: read bytes; 1: CRC-32C; 2: zlib CRC-32. Returns seconds. */
static double walk(MDB_env *env, int mode, uint64_t *records, uint64_t *bytes, uint32_t *acc)
{
    MDB_txn *txn;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) return -1;
    double t0 = pe_now();
    *records = *bytes = 0;
    uint32_t a = 0;
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        MDB_dbi dbi;
        MDB_cursor *c;
        if (mdb_dbi_open(txn, dbs[i], 0, &dbi) || mdb_cursor_open(txn, dbi, &c)) continue;
        MDB_val k, d;
        for (int rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            (*records)++;
            *bytes += k.mv_size + d.mv_size;
            if (mode == 0) {
                const unsigned char *kb = k.mv_data, *vb = d.mv_data;
                a += kb[0] + kb[k.mv_size - 1] + (d.mv_size ? vb[0] + vb[d.mv_size - 1] : 0);
            } else if (mode == 1) {
                a ^= crc32c(crc32c(0, k.mv_data, k.mv_size), d.mv_data, d.mv_size);
            } else {
                a ^= (uint32_t)crc32(crc32(0, k.mv_data, (uInt)k.mv_size), d.mv_data, (uInt)d.mv_size);
            }
        }
        mdb_cursor_close(c);
    }
    double t = pe_now() - t0;
    mdb_txn_abort(txn);
    *acc = a;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s STORE_DIR [ENTITY_SAMPLES]\n", argv[0]);
        return 2;
    }
    long samples = argc > 2 ? atol(argv[2]) : 200000;
    MDB_env *env;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 32) ||
        mdb_env_open(env, argv[1], MDB_RDONLY | MDB_NOLOCK, 0644)) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &st);
    uint64_t store = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    uint64_t rec = 0, bytes = 0;
    uint32_t acc;
    walk(env, 0, &rec, &bytes, &acc); /* warm the page cache */
    double best[3] = {1e9, 1e9, 1e9};
    for (int rep = 0; rep < 3; rep++)
        for (int m = 0; m < 3; m++) {
            double t = walk(env, m, &rec, &bytes, &acc);
            if (t < best[m]) best[m] = t;
        }
    mdb_env_close(env);
    printf("store %s: %.1f MiB in use, %llu records (keys + duplicate values), %.1f MiB of keys and values\n",
           argv[1], store / 1048576.0, (unsigned long long)rec, bytes / 1048576.0);
    printf("walk reading every record:   %.3f s\n", best[0]);
    printf("walk + CRC-32C (SSE4.2):     %.3f s  (+%.0f%%, %.2f GB/s)\n", best[1],
           100.0 * (best[1] - best[0]) / best[0], bytes / (best[1] - best[0] > 0 ? best[1] - best[0] : 1e-9) / 1e9);
    printf("walk + CRC-32 (zlib):        %.3f s  (+%.0f%%)\n", best[2], 100.0 * (best[2] - best[0]) / best[0]);
    printf("4-byte checksum per record:  +%.1f MiB (+%.1f%% of the store's pages in use)\n",
           rec * 4 / 1048576.0, 100.0 * rec * 4 / store);

    /* random entity reads: the public API's cost against the CRC-32C of
     * the bytes each read decodes */
    pe_kg *kg;
    pe_kg_options o = pe_kg_options_default();
    o.read_only = 1;
    o.create = 0;
    if (pe_kg_open(argv[1], &o, &kg, NULL) != PE_OK) return 1;
    pe_kg_reader *r;
    pe_kg_stats s;
    if (pe_kg_reader_begin(kg, &r) != PE_OK || pe_kg_stats_get(r, &s) != PE_OK || s.terms == 0) return 1;
    srand(7);
    uint64_t got = 0, ebytes = 0;
    double t0 = pe_now();
    for (long i = 0; i < samples; i++) {
        pe_kg_id id = 1 + (pe_kg_id)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) % s.terms);
        pe_kg_entity *e;
        if (pe_kg_entity_get(r, id, &e) != PE_OK) continue;
        got++;
        ebytes += strlen(e->term) + 12;
        for (size_t j = 0; j < e->n_texts; j++) ebytes += strlen(e->texts[j].text) + strlen(e->texts[j].lang) + 24;
        pe_kg_entity_free(e);
    }
    double te = pe_now() - t0;
    unsigned char *buf = calloc(1, 4096);
    double t1 = pe_now();
    uint32_t c = 0;
    for (uint64_t done = 0; done < ebytes; done += 4096) c ^= crc32c(c, buf, 4096);
    double tc = pe_now() - t1;
    free(buf);
    printf("pe_kg_entity_get: %llu entities in %.3f s (%.2f us each), %.0f bytes of records each;\n"
           "  CRC-32C of those bytes: %.3f us each (+%.1f%%) [%u]\n",
           (unsigned long long)got, te, 1e6 * te / (got ? got : 1), (double)ebytes / (got ? got : 1),
           1e6 * tc / (got ? got : 1), 100.0 * tc / te, c & 1);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return 0;
}
