import assert from 'node:assert/strict'
import { test } from 'node:test'

import { fieldMessage, hasErrors, messageForStatus, readErrorBody, splitErrors } from './errors'

test('splitErrors puts each error next to the field it names, the rest above the form', () => {
  const got = splitErrors(
    [
      { message: 'is required', field: 'title' },
      { message: 'must be greater than 0', field: 'price' },
      { message: 'a second complaint about price', field: 'price' },
      { message: 'about a field this form lacks', field: 'version' },
      { message: 'Not authorized' },
      { message: 'Not authorized' },
    ],
    ['title', 'price'],
  )
  assert.deepEqual(got, {
    fields: { title: 'is required', price: 'must be greater than 0' },
    general: ['about a field this form lacks', 'Not authorized'],
  })
  assert.equal(hasErrors(got), true)
  assert.equal(hasErrors(splitErrors([], ['title'])), false)
})

test('readErrorBody keeps the common body and replaces anything else', () => {
  assert.deepEqual(readErrorBody(400, { errors: [{ message: 'must be a valid email', field: 'email' }] }), [
    { message: 'must be a valid email', field: 'email' },
  ])
  assert.deepEqual(readErrorBody(409, { errors: [{ message: 'Email in use' }] }), [{ message: 'Email in use' }])
  assert.deepEqual(readErrorBody(502, null), [{ message: messageForStatus(502) }])
  assert.deepEqual(readErrorBody(500, '<html>oops</html>'), [{ message: messageForStatus(500) }])
  assert.deepEqual(readErrorBody(400, { errors: [] }), [{ message: messageForStatus(400) }])
  assert.deepEqual(readErrorBody(400, { errors: [{ msg: 'wrong shape' }] }), [{ message: messageForStatus(400) }])
})

test('messageForStatus never leaks detail and says what to do', () => {
  assert.match(messageForStatus(0), /reach the server/)
  assert.match(messageForStatus(503), /temporarily unavailable/)
  assert.match(messageForStatus(500), /Try again/)
  assert.match(messageForStatus(429), /Too many/)
})

test('fieldMessage names the field the way the form labels it', () => {
  assert.equal(fieldMessage('Event', 'is required'), 'Event is required')
  assert.equal(fieldMessage('Email', 'must be a valid email address'), 'Email must be a valid email address')
  assert.equal(fieldMessage('Price', 'Enter a price as a number'), 'Enter a price as a number')
})
