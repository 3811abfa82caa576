'use client'

import { usePathname, useRouter } from 'next/navigation'
import { useState, type FormEvent } from 'react'

import { send } from '@/lib/browser-api'
import { parsePriceInput, priceInputValue } from '@/lib/money'
import { signInPath } from '@/lib/paths'
import type { Ticket } from '@/lib/types'

import Field from './Field'
import PageAlert from './PageAlert'
import SubmitButton from './SubmitButton'
import { useFormErrors } from './useFormErrors'

const FIELDS = ['title', 'price'] as const

// Lists a new ticket, or changes the title and price of one of the seller's
// own unreserved listings. The API decides what is valid; the one check made
// here is that the price is a number at all, since there is nothing sensible
// to send otherwise.
export default function TicketForm({ ticket }: { ticket?: Ticket }) {
  const router = useRouter()
  const pathname = usePathname()
  const editing = Boolean(ticket)
  const [title, setTitle] = useState(ticket?.title ?? '')
  const [price, setPrice] = useState(ticket ? priceInputValue(ticket.price) : '')
  const [busy, setBusy] = useState(false)
  const { errors, setErrors, fromApi, ref, clear, hasFieldErrors } = useFormErrors(FIELDS)

  async function submit(e: FormEvent) {
    e.preventDefault()
    clear()
    const parsed = parsePriceInput(price)
    if (parsed.kind === 'invalid') {
      setErrors({ fields: { price: 'Enter a price as a number, like 20 or 20.50' }, general: [] })
      return
    }
    const body: { title: string; price?: number } = { title }
    if (parsed.kind === 'number') body.price = parsed.value
    setBusy(true)
    const res = editing
      ? await send<Ticket>('PUT', `/api/tickets/${encodeURIComponent(ticket!.id)}`, body)
      : await send<Ticket>('POST', '/api/tickets', body)
    if (res.ok) {
      router.push(`/tickets/${encodeURIComponent(res.data.id)}?${editing ? 'updated' : 'listed'}=1`)
      return
    }
    setBusy(false)
    if (res.status === 401) {
      router.push(signInPath(pathname))
      return
    }
    if (res.status === 409) {
      fromApi([{ message: 'Someone is buying this ticket (or has bought it), so it can no longer be changed.' }])
      return
    }
    fromApi(res.errors)
  }

  return (
    <form onSubmit={submit} noValidate>
      <PageAlert messages={errors.general} focus={!hasFieldErrors} />
      <Field
        name="title"
        label="Event"
        placeholder="e.g. The National — Friday, Row F"
        autoComplete="off"
        value={title}
        onChange={(e) => setTitle(e.target.value)}
        error={errors.fields.title}
        hint="What buyers see: the event, the date, where the seat is."
        inputRef={ref('title')}
        autoFocus={!editing}
      />
      <Field
        name="price"
        label="Price"
        prefix="$"
        inputMode="decimal"
        autoComplete="off"
        placeholder="20.00"
        value={price}
        onChange={(e) => setPrice(e.target.value)}
        error={errors.fields.price}
        hint="In US dollars."
        inputRef={ref('price')}
        className="price-input"
      />
      <div className="d-flex gap-2 flex-wrap">
        <SubmitButton busy={busy} busyLabel={editing ? 'Saving…' : 'Listing…'}>
          {editing ? 'Save changes' : 'List ticket for sale'}
        </SubmitButton>
        <button type="button" className="btn btn-outline-secondary" onClick={() => router.back()} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  )
}
