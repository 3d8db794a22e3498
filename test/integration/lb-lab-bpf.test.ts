/**
 * The LB lab tests (lb-lab.test.ts: spread, drain, out of sync, weights, settings change, kill)
 * again with `lb run --dataplane bpf`, unchanged, with 10 clients to keep CI short.
 */
process.env.WGF_LB_DATAPLANE = 'bpf';
process.env.WGF_LB_LAB_CLIENTS ??= '10';
await import('./lb-lab.test.js');
