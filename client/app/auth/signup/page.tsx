import type { Metadata } from 'next'

import AuthForm from '@/components/AuthForm'
import type { SearchParams } from '@/lib/query'
import { returnPath } from '@/lib/server-api'

export const metadata: Metadata = { title: 'Sign up' }

export default async function SignUpPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const next = await returnPath(searchParams)
  return (
    <div className="auth-card card shadow-sm mx-auto">
      <div className="card-body p-4">
        <h1 className="h3 mb-3">Create an account</h1>
        <p className="text-body-secondary">One account to buy and to sell.</p>
        <AuthForm mode="signup" next={next} />
      </div>
    </div>
  )
}
