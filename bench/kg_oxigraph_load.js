// Peer measurement for scripts/bench-kg.sh: loads N-Triples files into the
// npm `oxigraph` package's in-memory Store (default options), timing the load.
//   node bench/kg_oxigraph_load.js NODE_MODULES_DIR FILE.nt...
// Prints one JSON line: files, bytes, triples (store size), read_s, load_s.
'use strict';
const fs = require('fs');
const path = require('path');
const [modDir, ...files] = process.argv.slice(2);
if (!modDir || files.length === 0) {
  console.error('usage: node kg_oxigraph_load.js NODE_MODULES_DIR FILE.nt...');
  process.exit(2);
}
const oxigraph = require(path.join(modDir, 'oxigraph'));
const store = new oxigraph.Store();
let bytes = 0, readS = 0, loadS = 0;
for (const f of files) {
  let t = process.hrtime.bigint();
  const data = fs.readFileSync(f, 'utf8');
  readS += Number(process.hrtime.bigint() - t) / 1e9;
  bytes += Buffer.byteLength(data);
  t = process.hrtime.bigint();
  store.load(data, { format: 'application/n-triples' });
  loadS += Number(process.hrtime.bigint() - t) / 1e9;
}
console.log(JSON.stringify({ files: files.length, bytes, triples: store.size, read_s: readS, load_s: loadS }));
