import assert from 'node:assert/strict'
import { test } from 'node:test'

import { pagePath, readPage } from './paging'

test('pagePath asks for one page, after a cursor when there is one', () => {
  assert.equal(pagePath('/api/tickets'), '/api/tickets?limit=12')
  assert.equal(pagePath('/api/tickets', 'MTcw+/=', 5), '/api/tickets?limit=5&after=MTcw%2B%2F%3D')
  assert.equal(pagePath('/api/orders', 'abc'), '/api/orders?limit=12&after=abc')
})

test('readPage reads the envelope and survives a malformed one', () => {
  const t = { id: '1' }
  assert.deepEqual(readPage({ tickets: [t], next: 'c2' }, 'tickets'), { items: [t], next: 'c2' })
  assert.deepEqual(readPage({ orders: [t], next: null }, 'orders'), { items: [t], next: null })
  assert.deepEqual(readPage({ tickets: [], next: '' }, 'tickets'), { items: [], next: null })
  assert.deepEqual(readPage({ orders: [t] }, 'tickets'), { items: [], next: null })
  assert.deepEqual(readPage(null, 'tickets'), { items: [], next: null })
  assert.deepEqual(readPage([t], 'tickets'), { items: [], next: null })
})
