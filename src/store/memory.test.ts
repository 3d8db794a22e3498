import { runStoreContract } from './contract.js';
import { MemoryStore } from './memory.js';

runStoreContract('memory', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});
