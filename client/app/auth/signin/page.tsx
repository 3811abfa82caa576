import type { Metadata } from 'next'

import AuthForm from '@/components/AuthForm'
import type { SearchParams } from '@/lib/query'
import { returnPath } from '@/lib/server-api'

export const metadata: Metadata = { title: 'Sign in' }

export default async function SignInPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const next = await returnPath(searchParams)
  return (
    <div className="auth-card card shadow-sm mx-auto">
      <div className="card-body p-4">
        <h1 className="h3 mb-3">Sign in</h1>
        {next !== '/' ? <p className="text-body-secondary">Sign in to continue where you left off.</p> : null}
        <AuthForm mode="signin" next={next} />
      </div>
    </div>
  )
}
