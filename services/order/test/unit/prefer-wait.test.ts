import test from 'ava';
import { preferredWaitSeconds } from '../../src/domain/prefer-wait.js';
import { requestHash } from '../../src/domain/place-order.js';

test('Prefer: wait=N is read in seconds and capped', (t) => {
  t.is(preferredWaitSeconds('wait=10', 60), 10);
  t.is(preferredWaitSeconds('respond-async, wait=5', 60), 5);
  t.is(preferredWaitSeconds('WAIT = 3', 60), 3);
  t.is(preferredWaitSeconds('wait=600', 60), 60);
  t.is(preferredWaitSeconds('wait=0', 60), 0);
});

test('without a usable wait preference the request does not wait', (t) => {
  for (const header of [undefined, '', 'respond-async', 'wait=-1', 'wait=1.5', 'wait=soon', 'handling=strict']) {
    t.is(preferredWaitSeconds(header, 60), undefined, String(header));
  }
});

test('the same order always has the same fingerprint; another order has another', (t) => {
  const order = { userId: 'u', items: [{ productId: 'p', quantity: 1 }] };
  t.is(requestHash(order), requestHash({ ...order }));
  t.not(requestHash(order), requestHash({ ...order, items: [{ productId: 'p', quantity: 2 }] }));
});
