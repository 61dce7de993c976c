import { loadSettings, start } from './start.js';

const server = await start(await loadSettings()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void server.stop().then(() => process.exit(0));
  });
}
