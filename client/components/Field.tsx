import type { InputHTMLAttributes, Ref } from 'react'

import { fieldMessage } from '@/lib/errors'

// One labelled input with its hint and the error the API gave for it. The
// error is tied to the input with aria-describedby and aria-invalid, so a
// screen reader reads it when the field gets focus.
export interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'name'> {
  name: string
  label: string
  error?: string
  hint?: string
  prefix?: string
  inputRef?: Ref<HTMLInputElement>
}

export default function Field({ name, label, error, hint, prefix, inputRef, className, ...input }: FieldProps) {
  const id = `field-${name}`
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined
  const control = (
    <input
      {...input}
      ref={inputRef}
      id={id}
      name={name}
      className={`form-control${error ? ' is-invalid' : ''}${className ? ` ${className}` : ''}`}
      aria-invalid={error ? true : undefined}
      aria-describedby={describedBy}
    />
  )
  const feedback = error ? (
    <div id={`${id}-error`} className="invalid-feedback" data-field-error={name}>
      {fieldMessage(label, error)}
    </div>
  ) : null
  return (
    <div className="mb-3">
      <label htmlFor={id} className="form-label fw-semibold">
        {label}
      </label>
      {prefix ? (
        // Bootstrap shows invalid-feedback only as a sibling of the input.
        <div className={`input-group${error ? ' has-validation' : ''}`}>
          <span className="input-group-text" aria-hidden="true">
            {prefix}
          </span>
          {control}
          {feedback}
        </div>
      ) : (
        <>
          {control}
          {feedback}
        </>
      )}
      {hint ? (
        <div id={`${id}-hint`} className="form-text">
          {hint}
        </div>
      ) : null}
    </div>
  )
}
