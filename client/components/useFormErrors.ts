'use client'

import { useCallback, useEffect, useRef, useState } from 'react'

import { noErrors, splitErrors, type FormErrors } from '@/lib/errors'
import type { ApiErrorItem } from '@/lib/types'

/**
 * useFormErrors keeps a form's errors and, when they change, moves focus to
 * the first field that has one (a page-level alert focuses itself).
 */
export function useFormErrors<F extends string>(fieldOrder: readonly F[]) {
  const [errors, setErrors] = useState<FormErrors>(noErrors)
  const refs = useRef<Partial<Record<F, HTMLInputElement | null>>>({})

  useEffect(() => {
    const first = fieldOrder.find((f) => errors.fields[f])
    if (first) refs.current[first]?.focus()
    // fieldOrder is a constant list per form.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [errors])

  const fromApi = useCallback((items: ApiErrorItem[]) => setErrors(splitErrors(items, fieldOrder)), [fieldOrder])
  const ref = useCallback((field: F) => (el: HTMLInputElement | null) => {
    refs.current[field] = el
  }, [])
  const clear = useCallback(() => setErrors(noErrors), [])
  const hasFieldErrors = Object.keys(errors.fields).length > 0

  return { errors, setErrors, fromApi, ref, clear, hasFieldErrors }
}
