// The shapes the API answers with (DESIGN.md §2). Prices are decimal numbers
// of currency units, as the API serialises them.

export interface User {
  id: string
  email: string
}

export interface Ticket {
  id: string
  title: string
  price: number
  userId: string
  version: number
  /** An order holds it while its buyer pays. */
  reserved: boolean
  sold: boolean
  createdAt?: string
}

export type OrderStatus = 'created' | 'cancelled' | 'complete'

export interface Order {
  id: string
  status: OrderStatus
  expiresAt: string
  ticket: { id: string; title: string; price: number }
  version: number
  userId: string
  createdAt?: string
}

export interface ApiErrorItem {
  message: string
  field?: string
}

/** The outcome of one API call, success or the common error body. */
export type ApiResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; errors: ApiErrorItem[] }
