import assert from 'node:assert/strict'
import { test } from 'node:test'

import { orderPhase } from './orders'
import { ticketState } from './tickets'

test('orderPhase follows the status and the clock', () => {
  const expiresAt = '2030-01-01T00:15:00Z'
  const before = Date.parse('2030-01-01T00:10:00Z')
  const after = Date.parse('2030-01-01T00:15:01Z')
  const cases: [string, number, string][] = [
    ['created', before, 'awaiting-payment'],
    // The expiration service may not have cancelled it yet; the buyer has lost it anyway.
    ['created', after, 'expired'],
    ['cancelled', before, 'cancelled'],
    ['cancelled', after, 'expired'],
    ['complete', before, 'complete'],
    ['complete', after, 'complete'],
  ]
  for (const [status, now, want] of cases) {
    assert.equal(orderPhase({ status: status as 'created', expiresAt }, now), want, `${status} at ${now}`)
  }
})

test('ticketState reads the reserved and sold flags', () => {
  assert.equal(ticketState({ reserved: false, sold: false }), 'for-sale')
  assert.equal(ticketState({ reserved: true, sold: false }), 'reserved')
  assert.equal(ticketState({ reserved: false, sold: true }), 'sold')
  // A sold ticket's order still holds it; sold wins.
  assert.equal(ticketState({ reserved: true, sold: true }), 'sold')
})
