import { runAsProcess } from '@cdc-outbox-saga/platform';
import { loadSettings, start } from './start.js';

await runAsProcess(async () => start(await loadSettings()));
