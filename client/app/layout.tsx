import 'bootstrap/dist/css/bootstrap.min.css'
import './globals.css'

import type { Metadata, Viewport } from 'next'
import type { ReactNode } from 'react'

import NavBar from '@/components/NavBar'
import { currentUser } from '@/lib/server-api'

export const metadata: Metadata = {
  title: { default: 'Ticketing — buy and sell tickets', template: '%s · Ticketing' },
  description: 'Buy and resell tickets for concerts, sport and theatre.',
}

export const viewport: Viewport = {
  width: 'device-width',
  initialScale: 1,
  themeColor: '#1f2a44',
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const { user } = await currentUser()
  return (
    <html lang="en">
      <body>
        <a className="skip-link visually-hidden-focusable" href="#main">
          Skip to main content
        </a>
        <NavBar user={user} />
        <main id="main" className="container py-4 py-md-5" tabIndex={-1}>
          {children}
        </main>
        <footer className="site-footer border-top py-4 mt-auto">
          <div className="container small text-body-secondary">
            Tickets are held for the buyer while they pay; unpaid reservations go back on sale.
          </div>
        </footer>
      </body>
    </html>
  )
}
