import test from 'ava';
import { hopByHopHeaders } from '../../src/proxy.js';

test('the hop-by-hop headers of RFC 9110 section 7.6.1 are dropped whatever Connection says', (t) => {
  const names = hopByHopHeaders(undefined);
  for (const name of [
    'connection',
    'keep-alive',
    'proxy-connection',
    'te',
    'transfer-encoding',
    'upgrade',
    'proxy-authenticate',
    'proxy-authorization',
    'trailer',
  ]) {
    t.true(names.has(name), name);
  }
  t.false(names.has('authorization'));
  t.false(names.has('content-type'));
});

test('every header Connection names is dropped too, in lower case, repeated headers included', (t) => {
  const names = hopByHopHeaders(['keep-alive, X-Secret ,x-other', 'Upgrade,, X-Third']);
  for (const name of ['x-secret', 'x-other', 'x-third', 'upgrade', 'keep-alive']) t.true(names.has(name), name);
});

test('Host and the headers the gateway sets itself are never dropped, even when Connection names them', (t) => {
  const names = hopByHopHeaders('host, x-request-id, traceparent, x-forwarded-for, x-forwarded-proto, close');
  for (const kept of ['host', 'x-request-id', 'traceparent', 'x-forwarded-for', 'x-forwarded-proto']) t.false(names.has(kept), kept);
  t.true(names.has('close'));
});
