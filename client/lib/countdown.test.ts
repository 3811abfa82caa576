import assert from 'node:assert/strict'
import { test } from 'node:test'

import { describeCountdown, formatCountdown, milestone, msUntil } from './countdown'

test('formatCountdown rounds up to whole seconds', () => {
  const cases: [number, string][] = [
    [15 * 60_000, '15:00'],
    [15 * 60_000 - 1, '15:00'],
    [15 * 60_000 - 1000, '14:59'],
    [61_000, '1:01'],
    [59_001, '1:00'],
    [9_000, '0:09'],
    [1, '0:01'],
    [0, '0:00'],
    [-5_000, '0:00'],
    [3_600_000, '1:00:00'],
    [3_600_000 + 65_000, '1:01:05'],
  ]
  for (const [ms, want] of cases) assert.equal(formatCountdown(ms), want, `${ms} ms`)
})

test('describeCountdown says it in words', () => {
  assert.equal(describeCountdown(14 * 60_000 + 59_000), '14 minutes 59 seconds')
  assert.equal(describeCountdown(60_000), '1 minute')
  assert.equal(describeCountdown(1_000), '1 second')
  assert.equal(describeCountdown(0), '0 seconds')
  assert.equal(describeCountdown(3_600_000 + 1_000), '1 hour 1 second')
})

test('msUntil counts from now and never goes negative', () => {
  const now = Date.parse('2030-01-01T00:00:00Z')
  assert.equal(msUntil('2030-01-01T00:15:00Z', now), 15 * 60_000)
  assert.equal(msUntil('2030-01-01T00:15:00.250+00:00', now), 15 * 60_000 + 250)
  assert.equal(msUntil('2029-12-31T23:59:00Z', now), 0)
  assert.equal(msUntil('not a date', now), 0)
})

test('milestone announces crossings only, once each', () => {
  assert.equal(milestone(5 * 60_000 + 500, 5 * 60_000 - 500), '5 minutes left to pay')
  assert.equal(milestone(61_000, 60_000), '1 minute left to pay')
  assert.equal(milestone(30_500, 29_500), '30 seconds left to pay')
  assert.equal(milestone(500, 0), 'Time is up: this order has expired')
  assert.equal(milestone(4 * 60_000, 4 * 60_000 - 1000), null)
  assert.equal(milestone(0, 0), null)
})
