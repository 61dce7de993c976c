import { loadSettings, start } from './start.js';

const gateway = await start(await loadSettings()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void gateway.stop().then(() => process.exit(0));
  });
}
