import { describe } from 'node:test';
import { runAnnouncerContract } from './contract.js';
import { FakeAnnouncer } from './fake.js';

describe('FakeAnnouncer', () => {
  const fake = new FakeAnnouncer();
  runAnnouncerContract('fake', async () => ({
    announcer: fake,
    v4: ['198.18.99.1', '198.18.99.2'],
    v6: '2001:db8::1',
    observe: async () => {
      const st = await fake.status();
      return new Map(st.addresses.map((a) => [a, { gracefulShutdown: st.attributes?.gracefulShutdown ?? false }]));
    },
  }), async () => {});
});
