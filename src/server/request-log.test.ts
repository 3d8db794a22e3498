import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestLogLevel } from './request-log.js';

test('request log level: polls, watches, heartbeats and reports at debug; changes at info; 5xx at error', () => {
  const cases: [string, string, number, string][] = [
    ['GET', '/v1/pools/:pool/changes', 200, 'debug'],
    ['GET', '/v1/pools/:pool/watch', 200, 'debug'],
    ['GET', '/metrics', 200, 'debug'],
    ['PUT', '/v1/pools/:pool/nodes/:node/status', 204, 'debug'],
    ['PUT', '/v1/pools/:pool/lbs/:instance/status', 204, 'debug'],
    ['PUT', '/v1/pools/:pool/nodes/:node/sessions', 204, 'debug'],
    ['POST', '/v1/pools/:pool/peers', 201, 'info'],
    ['PATCH', '/v1/pools/:pool/nodes/:node', 400, 'info'],
    ['PUT', '/v1/pools/:pool/nodes/:node/status', 500, 'error'],
    ['GET', '/v1/pools', 503, 'error'],
  ];
  for (const [method, route, status, want] of cases) assert.equal(requestLogLevel(method, route, status), want, `${method} ${route} ${status}`);
});
