import assert from 'node:assert/strict'
import { test } from 'node:test'

import { pageNumber, safeNextPath, signInPath, signUpPath } from './paths'

test('safeNextPath only returns to paths on this site', () => {
  const cases: [string | string[] | undefined | null, string][] = [
    ['/orders/abc', '/orders/abc'],
    ['/tickets/1?x=1#y', '/tickets/1?x=1#y'],
    [['/listings', '/other'], '/listings'],
    ['//evil.example/path', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['orders', '/'],
    ['/orders\n/x', '/'],
    ['/auth/signout', '/'],
    ['', '/'],
    [undefined, '/'],
    [null, '/'],
  ]
  for (const [next, want] of cases) assert.equal(safeNextPath(next), want, JSON.stringify(next))
})

test('signInPath and signUpPath carry the way back', () => {
  assert.equal(signInPath('/orders/abc'), '/auth/signin?next=%2Forders%2Fabc')
  assert.equal(signUpPath('/tickets/new'), '/auth/signup?next=%2Ftickets%2Fnew')
  assert.equal(signInPath('//evil.example'), '/auth/signin')
})

test('pageNumber reads ?page= and falls back to 1', () => {
  const cases: [string | string[] | undefined, number][] = [
    ['2', 2],
    [['3', '4'], 3],
    [undefined, 1],
    ['0', 1],
    ['-1', 1],
    ['1.5', 1],
    ['abc', 1],
    ['99999999999', 1],
  ]
  for (const [raw, want] of cases) assert.equal(pageNumber(raw), want, JSON.stringify(raw))
})
