import assert from 'node:assert/strict'
import { test } from 'node:test'

import { first, listPosition } from './query'

test('first takes one value of a repeated parameter', () => {
  assert.equal(first(['a', 'b']), 'a')
  assert.equal(first('a'), 'a')
  assert.equal(first(undefined), undefined)
})

test('listPosition reads the cursor and the page shown', () => {
  assert.deepEqual(listPosition({}), { after: undefined, page: 1 })
  assert.deepEqual(listPosition({ after: 'c', page: '3' }), { after: 'c', page: 3 })
  // Without a cursor it is the first page whatever page says.
  assert.deepEqual(listPosition({ page: '3' }), { after: undefined, page: 1 })
  assert.deepEqual(listPosition({ after: '', page: '3' }), { after: undefined, page: 1 })
  assert.deepEqual(listPosition({ after: 'c', page: 'x' }), { after: 'c', page: 1 })
})
