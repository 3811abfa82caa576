import assert from 'node:assert/strict'
import { test } from 'node:test'

import { nextPaymentStep } from './payments'

test('a paid order and an intent Stripe settles both wait for the order to complete', () => {
  assert.deepEqual(nextPaymentStep(201, { id: 'c1', status: 'completed' }), { kind: 'confirming' })
  assert.deepEqual(nextPaymentStep(202, { id: 'pi_1', status: 'processing', clientSecret: 's' }), { kind: 'confirming' })
})

test('3-D Secure hands the client secret to Stripe.js', () => {
  assert.deepEqual(nextPaymentStep(202, { id: 'pi_1', status: 'requires_action', clientSecret: 'pi_1_secret_x' }), {
    kind: 'authenticate',
    clientSecret: 'pi_1_secret_x',
  })
  assert.deepEqual(nextPaymentStep(202, { id: 'pi_1', status: 'requires_action' }), { kind: 'confirming' }, 'no secret, nothing to run')
  assert.deepEqual(nextPaymentStep(201, { status: 'requires_action', clientSecret: 's' }), { kind: 'confirming' })
})
