'use client'

import Link from 'next/link'
import { useState, type FormEvent } from 'react'

import { send } from '@/lib/browser-api'
import { signInPath, signUpPath } from '@/lib/paths'
import type { User } from '@/lib/types'

import Field from './Field'
import PageAlert from './PageAlert'
import SubmitButton from './SubmitButton'
import { useFormErrors } from './useFormErrors'

const FIELDS = ['email', 'password'] as const

// Sign up and sign in share one form. The API validates (email format,
// password length) and its messages appear next to the fields they name; the
// browser's own validation is off so that it never hides them.
export default function AuthForm({ mode, next }: { mode: 'signup' | 'signin'; next: string }) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const { errors, fromApi, ref, clear, hasFieldErrors } = useFormErrors(FIELDS)
  const signingUp = mode === 'signup'

  async function submit(e: FormEvent) {
    e.preventDefault()
    setBusy(true)
    clear()
    const res = await send<User>('POST', `/api/users/${mode}`, { email, password })
    if (res.ok) {
      // A full load, so every server-rendered part sees the new session.
      window.location.assign(next)
      return
    }
    fromApi(res.errors)
    setBusy(false)
  }

  return (
    <form onSubmit={submit} noValidate aria-describedby="auth-help">
      <PageAlert messages={errors.general} focus={!hasFieldErrors} />
      <Field
        name="email"
        label="Email"
        type="email"
        autoComplete="email"
        inputMode="email"
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        error={errors.fields.email}
        inputRef={ref('email')}
        autoFocus
      />
      <Field
        name="password"
        label="Password"
        type="password"
        autoComplete={signingUp ? 'new-password' : 'current-password'}
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={errors.fields.password}
        hint={signingUp ? 'At least 8 characters.' : undefined}
        inputRef={ref('password')}
      />
      <SubmitButton busy={busy} busyLabel={signingUp ? 'Creating account…' : 'Signing in…'} className="btn btn-primary w-100">
        {signingUp ? 'Create account' : 'Sign in'}
      </SubmitButton>
      <p id="auth-help" className="mt-3 mb-0 text-center">
        {signingUp ? (
          <>
            Already have an account? <Link href={signInPath(next)}>Sign in</Link>
          </>
        ) : (
          <>
            New here? <Link href={signUpPath(next)}>Create an account</Link>
          </>
        )}
      </p>
    </form>
  )
}
