import test from 'ava';
import { debPrefix } from '../../src/debian.js';

test('the .deb of a pinned version is told apart from other versions and from packages whose name starts the same', (t) => {
  const prometheus = debPrefix('prometheus', '2.42.0+ds-5+deb12u1');
  t.is(prometheus, 'prometheus_2.42.0+ds-5+deb12u1_');
  t.true('prometheus_2.42.0+ds-5+deb12u1_amd64.deb'.startsWith(prometheus));
  t.false('prometheus_2.42.0+ds-5_amd64.deb'.startsWith(prometheus), 'an older pin left in the folder');
  t.false('prometheus-mysqld-exporter_0.14.0-3+b5_amd64.deb'.startsWith(prometheus));
  t.true('prometheus-mysqld-exporter_0.14.0-3+b5_amd64.deb'.startsWith(debPrefix('prometheus-mysqld-exporter', '0.14.0-3+b5')));
  t.is(debPrefix('golang', '2:1.19~1'), 'golang_2%3a1.19~1_', 'an epoch, as apt-get download writes it');
});
