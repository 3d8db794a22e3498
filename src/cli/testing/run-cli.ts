// Runs the CLI from source in a child process (tests): `node --import tsx run-cli.ts ARGS...`.
import { main } from '../main.js';

process.exitCode = await main(process.argv.slice(2));
