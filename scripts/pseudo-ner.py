#!/usr/bin/env python3
"""Pseudo-labelled NER training text (self-training): a teacher model's
confident entity mentions in shippable comment and chat text.

  pseudo-ner.py lines OUT.jsonl            the texts, one JSON line each
  persona extract --model TEACHER < OUT.jsonl > EXT.jsonl
  pseudo-ner.py conll EXT.jsonl OUT.conll  the chosen texts, CoNLL

`lines` reads the Reddit comments of GoEmotions (Apache-2.0) and the Topical
Chat turns (CDLA-Sharing-1.0) from ../shared/data/corpus, both marked
shippable in ../shared/data/README.md; skips lines GoEmotions masked
("[NAME]", "[RELIGION]") and repeated lines; splits each into words as the
BERT pre-tokeniser does (runs of word characters, single other characters)
and keeps those of 5 to 40 words, joined by single spaces, so that the
teacher's mention spans fall on word boundaries.

`conll` keeps the texts in which the teacher found at least one mention and
every mention has a score of at least 0.9 (6,000 of them, drawn with a fixed
seed) and half as many in which it found none, in corpus order, one word a
line with its BIO tag (B-TYPE, I-TYPE, O).
"""
import gzip
import json
import os
import random
import re
import sys

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'corpus')
FILES = ['chat_emotion__goemotions_reddit_comments.txt.gz', 'topical_chat__topicalchat_valid_test.txt.gz']
N_MENTIONS, MIN_SCORE, SEED = 6000, 0.9, 16


def lines(out_path):
    n = 0
    with open(out_path, 'w', encoding='utf-8') as out:
        for name in FILES:
            path = os.path.join(CORPUS, name)
            if not os.path.exists(path):
                sys.exit('pseudo-ner.py: %s is absent (../shared/data)' % path)
            seen = set()
            for line in gzip.open(path, 'rt', encoding='utf-8'):
                line = line.strip()
                if not line or line in seen or '[NAME]' in line or '[RELIGION]' in line:
                    continue
                seen.add(line)
                words = re.findall(r"\w+|[^\w\s]", line)
                if 5 <= len(words) <= 40:
                    out.write(json.dumps({'id': n, 'text': ' '.join(words)}) + '\n')
                    n += 1
    print('pseudo-ner.py: %d texts' % n, file=sys.stderr)


def conll(ext_path, out_path):
    rows = [json.loads(l) for l in open(ext_path, encoding='utf-8')]
    bad = [r for r in rows if 'error' in r]
    if bad:
        sys.exit('pseudo-ner.py: %s: %d lines are errors, the first: %s' % (ext_path, len(bad), bad[0]))
    with_m = [r for r in rows if r['mentions'] and all(m['score'] >= MIN_SCORE for m in r['mentions'])]
    without = [r for r in rows if not r['mentions']]
    random.seed(SEED)
    random.shuffle(with_m)
    random.shuffle(without)
    pick = sorted(with_m[:N_MENTIONS] + without[:N_MENTIONS // 2], key=lambda r: r['id'])
    written = misaligned = mentions = 0
    with open(out_path, 'w', encoding='utf-8') as out:
        for r in pick:
            spans, p = [], 0
            for w in r['text'].split(' '):
                spans.append((p, p + len(w)))
                p += len(w) + 1
            tags = ['O'] * len(spans)
            ok = True
            for m in r['mentions']:
                ws = [i for i, (a, b) in enumerate(spans) if a >= m['start'] and b <= m['end']]
                if not ws or spans[ws[0]][0] != m['start'] or spans[ws[-1]][1] != m['end']:
                    ok = False
                    break
                tags[ws[0]] = 'B-' + m['type']
                for i in ws[1:]:
                    tags[i] = 'I-' + m['type']
            if not ok:
                misaligned += 1
                continue
            for (a, b), t in zip(spans, tags):
                out.write(r['text'][a:b] + '\t' + t + '\n')
            out.write('\n')
            written += 1
            mentions += sum(t.startswith('B-') for t in tags)
    print('pseudo-ner.py: %d texts with confident mentions; %d written (%d mentions), %d left out (a span off word '
          'boundaries)' % (len(with_m), written, mentions, misaligned), file=sys.stderr)


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'lines':
        lines(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == 'conll':
        conll(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
