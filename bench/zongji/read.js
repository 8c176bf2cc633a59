// Count the row changes in one binlog range with ZongJi (@vlasky/zongji), for bench/readers.py.
//
//   node read.js HOST PORT USER PASSWORD START_FILE START_POS END_FILE END_POS SERVER_ID
//
// Connects over the replication protocol, decodes every row of the row events from START_FILE:START_POS on
// (a write or delete row counts 1, an update's before/after pair counts 1) and stops at the first event that
// ends at or after END_FILE:END_POS (the range's last commit), or at a rotation past END_FILE. Prints
// {"rows": N} and exits 0; any error goes to stderr with exit 1.
import ZongJi from '@vlasky/zongji';

const [host, port, user, password, startFile, startPos, endFile, endPos, serverId] = process.argv.slice(2);
if (serverId === undefined) {
  process.stderr.write('usage: node read.js HOST PORT USER PASSWORD START_FILE START_POS END_FILE END_POS SERVER_ID\n');
  process.exit(2);
}
const end = Number(endPos);

const zongji = new ZongJi({ host, port: Number(port), user, password });
let file = startFile;
let rows = 0;
let done = false;

function finish() {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify({ rows }) + '\n');
  zongji.stop();
}

zongji.on('binlog', (event) => {
  if (done) return;
  switch (event.getEventName()) {
    case 'writerows':
    case 'deleterows':
    case 'updaterows': // rows are {before, after} pairs
      rows += event.rows.length;
      break;
    case 'rotate':
      file = event.binlogName;
      if (file > endFile) finish(); // names are binlog.NNNNNN: same width, so they sort as text
      return;
    default:
      break;
  }
  if (file === endFile && event.nextPosition >= end) finish();
});

zongji.on('error', (error) => {
  // After the end: events the server had already sent past it are still being decoded while the connection
  // closes, and decoding without a connection fails; the count is printed by then.
  if (done) process.exit(0);
  process.stderr.write(`zongji error: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});

zongji.on('stopped', () => process.exit(0));

zongji.start({
  serverId: Number(serverId),
  filename: startFile,
  position: Number(startPos),
  // xid too: a range ends with its last transaction's commit (Xid) event
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows', 'rotate', 'xid'],
});
