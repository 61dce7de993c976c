import { fileURLToPath } from 'node:url';

/** The test event schemas (sources, not compiled output). */
export const schemaDir = fileURLToPath(new URL('../../../test/fixtures/schemas', import.meta.url));
