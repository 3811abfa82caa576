// Prices travel as decimal numbers of currency units (20.5 is twenty dollars
// fifty). The client only shows and reads them; the services convert to cents.

export const CURRENCY = 'USD'

const formatter = new Intl.NumberFormat('en-US', { style: 'currency', currency: CURRENCY })

/** formatPrice(20.5) === "$20.50" */
export function formatPrice(price: number): string {
  if (!Number.isFinite(price)) return '—'
  return formatter.format(price)
}

export type PriceInput =
  | { kind: 'empty' }
  | { kind: 'number'; value: number }
  | { kind: 'invalid' }

// A plain decimal: optional minus (the API owns the "must be positive" rule and
// says so next to the field), digits, an optional fraction. No exponents, hex,
// thousands separators or currency signs, which Number() would half-accept.
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/

/**
 * parsePriceInput reads what a person typed into a price field. A leading "$"
 * and surrounding spaces are forgiven; anything else that is not a plain
 * decimal is "invalid", so the form can say so without a round trip.
 */
export function parsePriceInput(text: string): PriceInput {
  const trimmed = text.trim().replace(/^\$\s*/, '')
  if (trimmed === '') return { kind: 'empty' }
  if (!DECIMAL.test(trimmed)) return { kind: 'invalid' }
  const value = Number(trimmed)
  if (!Number.isFinite(value)) return { kind: 'invalid' }
  return { kind: 'number', value }
}

/** priceInputValue shows a stored price in an edit field: 20.5 -> "20.50". */
export function priceInputValue(price: number): string {
  return Number.isInteger(price) ? String(price) : price.toFixed(2)
}
