import assert from 'node:assert/strict'
import { test } from 'node:test'

import { API_SERVICES, ConfigError, apiUrl, readConfig } from './config'

test('one base URL: every path goes to it, as the gateway routes by path', () => {
  const config = readConfig({ API_BASE_URL: 'http://127.0.0.1:8080' })
  assert.equal(apiUrl(config, '/api/users/currentuser').href, 'http://127.0.0.1:8080/api/users/currentuser')
  assert.equal(apiUrl(config, '/api/orders/abc').href, 'http://127.0.0.1:8080/api/orders/abc')
})

test('a {service} template reaches each API through its own service', () => {
  const config = readConfig({ API_BASE_URL: 'http://{service}:3000' })
  assert.equal(apiUrl(config, '/api/users/currentuser').href, 'http://auth:3000/api/users/currentuser')
  assert.equal(apiUrl(config, '/api/tickets?limit=20').href, 'http://tickets:3000/api/tickets?limit=20')
  assert.equal(apiUrl(config, '/api/tickets/6650f1').href, 'http://tickets:3000/api/tickets/6650f1')
  assert.equal(apiUrl(config, '/api/orders').href, 'http://orders:3000/api/orders')
  assert.equal(apiUrl(config, '/api/payments').href, 'http://payments:3000/api/payments')
  assert.deepEqual(Object.values(API_SERVICES).sort(), ['auth', 'orders', 'payments', 'tickets'])
})

test('a template refuses a path no API serves, and a prefix that only looks alike', () => {
  const config = readConfig({ API_BASE_URL: 'http://{service}.ticketing.svc.cluster.local:3000' })
  assert.throws(() => apiUrl(config, '/metrics'), ConfigError)
  assert.throws(() => apiUrl(config, '/api/ticketsale'), ConfigError)
})

test('a missing, malformed or misplaced API_BASE_URL is refused with its name', () => {
  assert.throws(() => readConfig({}), /API_BASE_URL is required/)
  assert.throws(() => readConfig({ API_BASE_URL: 'not a url' }), /API_BASE_URL is not a URL/)
  assert.throws(() => readConfig({ API_BASE_URL: 'ftp://gateway' }), /must be http or https/)
  assert.throws(() => readConfig({ API_BASE_URL: 'http://gateway/{service}' }), /in its host only/)
})
