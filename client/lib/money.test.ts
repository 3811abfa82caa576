import assert from 'node:assert/strict'
import { test } from 'node:test'

import { formatPrice, parsePriceInput, priceInputValue } from './money'

test('formatPrice shows dollars and cents', () => {
  const cases: [number, string][] = [
    [20.5, '$20.50'],
    [20, '$20.00'],
    [0.1 + 0.2, '$0.30'],
    [1234.5, '$1,234.50'],
    [0, '$0.00'],
    [Number.NaN, '—'],
  ]
  for (const [price, want] of cases) assert.equal(formatPrice(price), want, String(price))
})

test('parsePriceInput reads plain decimals and rejects what Number() would half-accept', () => {
  const cases: [string, ReturnType<typeof parsePriceInput>][] = [
    ['20.50', { kind: 'number', value: 20.5 }],
    [' 20 ', { kind: 'number', value: 20 }],
    ['$15', { kind: 'number', value: 15 }],
    ['.5', { kind: 'number', value: 0.5 }],
    ['5.', { kind: 'number', value: 5 }],
    // The API owns its price rules ("must be at least 0.5") and says so next to the field.
    ['-5', { kind: 'number', value: -5 }],
    ['0', { kind: 'number', value: 0 }],
    ['', { kind: 'empty' }],
    ['   ', { kind: 'empty' }],
    ['abc', { kind: 'invalid' }],
    ['1e3', { kind: 'invalid' }],
    ['0x10', { kind: 'invalid' }],
    ['1,000', { kind: 'invalid' }],
    ['20.5.1', { kind: 'invalid' }],
    ['Infinity', { kind: 'invalid' }],
  ]
  for (const [text, want] of cases) assert.deepEqual(parsePriceInput(text), want, JSON.stringify(text))
})

test('priceInputValue shows cents only when there are some', () => {
  assert.equal(priceInputValue(20), '20')
  assert.equal(priceInputValue(20.5), '20.50')
  assert.equal(priceInputValue(0.07), '0.07')
})
