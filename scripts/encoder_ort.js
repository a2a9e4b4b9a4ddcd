#!/usr/bin/env node
// ONNX Runtime side of the encoder benchmark (scripts/bench-encoder.sh).
//   node scripts/encoder_ort.js DIR SHAPES [THREADS] [MIN_TIME_S] [wall|cpu]
// cpu: time by process CPU time (user + system, all threads).
// DIR/model.onnx from `encoder_peers.py export`; SHAPES like 1x32,8x128.
// Prints one JSON line per shape: {"peer": "ort", "batch", "seq", "sec"}.
// onnxruntime-node is looked up in NODE_PATH or /opt/persona-peers
// (installed by ../shared/tools/install-peers.sh).
'use strict';
const path = require('path');
let ort;
for (const p of [process.env.NODE_PATH, '/opt/persona-peers/node_modules'].filter(Boolean)) {
  try { ort = require(path.join(p, 'onnxruntime-node')); break; } catch (e) { /* next */ }
}
if (!ort) { console.error('encoder_ort.js: onnxruntime-node not found (run ../shared/tools/install-peers.sh)'); process.exit(3); }

async function main() {
  const [dir, shapes, threads = '2', minTime = '1.0', clock = 'wall'] = process.argv.slice(2);
  const now = clock === 'cpu' ? () => { const u = process.cpuUsage(); return (u.user + u.system) * 1e-6; }
                              : () => Number(process.hrtime.bigint()) * 1e-9;
  if (!dir || !shapes) { console.error('usage: encoder_ort.js DIR SHAPES [THREADS] [MIN_TIME_S]'); process.exit(2); }
  const cfg = JSON.parse(require('fs').readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const sess = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all',
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
  });
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
  for (const s of shapes.split(',')) {
    const [b, t] = s.split('x').map(Number);
    const ids = new BigInt64Array(b * t);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rnd() % cfg.vocab_size);
    const feeds = { input_ids: new ort.Tensor('int64', ids, [b, t]) };
    await sess.run(feeds); // warm-up
    // fastest single run over >= 5 runs and MIN_TIME_S seconds (as ours and torch)
    let best = Infinity;
    const tEnd = Date.now() + Number(minTime) * 1000;
    for (let n = 0; n < 5 || Date.now() < tEnd; n++) {
      const t0 = now();
      await sess.run(feeds);
      best = Math.min(best, now() - t0);
    }
    console.log(JSON.stringify({ peer: 'ort', threads: Number(threads), clock, batch: b, seq: t, sec: best }));
  }
}
main().catch((e) => { console.error('encoder_ort.js: ' + e.message); process.exit(1); });
