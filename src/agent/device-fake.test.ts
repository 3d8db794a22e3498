import { runDeviceContract } from './device-contract.js';
import { FakeDevice } from './device-fake.js';

runDeviceContract('fake', async () => new FakeDevice(), async () => {});
