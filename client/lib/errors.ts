import type { ApiErrorItem } from './types'

// Every service answers failures with {"errors":[{"message","field?"}]}.
// A form shows an error next to the field it names, and everything else (no
// field, or a field the form does not have) as one message above the form.

export interface FormErrors {
  fields: Record<string, string>
  general: string[]
}

export const noErrors: FormErrors = { fields: {}, general: [] }

export function hasErrors(e: FormErrors): boolean {
  return e.general.length > 0 || Object.keys(e.fields).length > 0
}

/**
 * splitErrors sorts API errors between the form's fields and the page-level
 * message. Only the first error per field is kept: one clear sentence beats a
 * stack of them under an input.
 */
export function splitErrors(items: ApiErrorItem[], formFields: readonly string[]): FormErrors {
  const fields: Record<string, string> = {}
  const general: string[] = []
  for (const item of items) {
    const field = item.field && formFields.includes(item.field) ? item.field : undefined
    if (field) {
      if (!(field in fields)) fields[field] = item.message
    } else if (!general.includes(item.message)) {
      general.push(item.message)
    }
  }
  return { fields, general }
}

/**
 * readErrorBody turns whatever came back with a failed response into the
 * common error items. A body that is not the common shape (a proxy's HTML
 * page, an empty 502) becomes one message chosen by status.
 */
export function readErrorBody(status: number, body: unknown): ApiErrorItem[] {
  if (isErrorBody(body) && body.errors.length > 0) {
    return body.errors.map((e) => (e.field ? { message: e.message, field: e.field } : { message: e.message }))
  }
  return [{ message: messageForStatus(status) }]
}

function isErrorBody(body: unknown): body is { errors: ApiErrorItem[] } {
  if (typeof body !== 'object' || body === null) return false
  const errors = (body as { errors?: unknown }).errors
  return (
    Array.isArray(errors) &&
    errors.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as ApiErrorItem).message === 'string' &&
        ((e as ApiErrorItem).field === undefined || typeof (e as ApiErrorItem).field === 'string'),
    )
  )
}

export function messageForStatus(status: number): string {
  switch (true) {
    case status === 0:
      return 'Could not reach the server. Check your connection and try again.'
    case status === 401:
      return 'Please sign in to continue.'
    case status === 403:
      return 'This belongs to another account.'
    case status === 404:
      return 'Not found.'
    case status === 429:
      return 'Too many attempts. Wait a minute and try again.'
    case status === 502 || status === 503 || status === 504:
      return 'The service is temporarily unavailable. Try again in a moment.'
    case status >= 500:
      return 'Something went wrong on our side. Try again in a moment.'
    default:
      return `The request failed (status ${status}).`
  }
}

/**
 * fieldMessage makes the API's per-field fragment ("is required", "must be a
 * valid email address") a sentence about the field as the form labels it. A
 * message that is already a sentence is left alone.
 */
export function fieldMessage(label: string, message: string): string {
  return /^[a-z]/.test(message) ? `${label} ${message}` : message
}
