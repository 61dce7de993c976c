import test from 'ava';
import { loadSettings } from '../../src/start.js';

// node-config reads the environment when first loaded, which happens in loadSettings: set it before.
process.env.PORT = '0';
process.env.CONFIG_GIT_SEARCH_PATHS = '/conf/services/';
process.env.CONFIG_GIT_DEFAULT_LABEL = 'release/1.0';
process.env.CONFIG_GIT_REFRESH_SECONDS = '30';
delete process.env.CONFIG_GIT_URI;
delete process.env.HTTP_HOST;
// Were it asked, this would fail the test: nothing listens there.
process.env.CONFIG_SERVER_URL = 'http://127.0.0.1:9';

test("settings: the package defaults with the platform's under them, environment variables over both", async (t) => {
  const settings = await loadSettings();
  t.like(settings, {
    service: { name: 'config-server' },
    http: { host: '127.0.0.1', port: 0 },
    git: { uri: '', cloneDir: '', searchPaths: 'conf/services', defaultLabel: 'release/1.0', refreshSeconds: 30, timeoutSeconds: 10 },
  });
  // Eureka's timings come from the platform's defaults.
  t.true(settings.eureka.renewalIntervalSeconds > 0);
  // Keys of the platform this service has no use for are dropped.
  t.false('db' in settings);
  t.is(process.env.CONFIG_SERVER_URL, '');
});
