'use client'

import Link from 'next/link'
import { usePathname } from 'next/navigation'
import { useEffect, useState } from 'react'

import { send } from '@/lib/browser-api'
import type { User } from '@/lib/types'

import Icon from './Icon'

// The site header. On a phone the links fold behind a menu button; the button
// is a real <button> with aria-expanded, so keyboards and screen readers
// operate it like any other.
export default function NavBar({ user }: { user: User | null }) {
  const pathname = usePathname()
  const [open, setOpen] = useState(false)
  const [signingOut, setSigningOut] = useState(false)

  // A navigation closes the phone menu.
  useEffect(() => setOpen(false), [pathname])

  async function signOut() {
    setSigningOut(true)
    await send('POST', '/api/users/signout', {})
    // A full load, so every server-rendered part forgets the session.
    window.location.assign('/')
  }

  const links = user
    ? [
        { href: '/', label: 'Tickets for sale' },
        { href: '/tickets/new', label: 'Sell a ticket' },
        { href: '/listings', label: 'My listings' },
        { href: '/orders', label: 'My orders' },
      ]
    : [{ href: '/', label: 'Tickets for sale' }]

  return (
    <header className="site-header">
      <nav className="navbar navbar-expand-md navbar-dark" aria-label="Main">
        <div className="container">
          <Link className="navbar-brand fw-bold" href="/">
            <Icon name="ticket" size={26} className="brand-mark me-2" />
            Ticketing
          </Link>
          <button
            type="button"
            className="navbar-toggler"
            aria-controls="main-menu"
            aria-expanded={open}
            aria-label={open ? 'Close menu' : 'Open menu'}
            onClick={() => setOpen((o) => !o)}
          >
            <span className="navbar-toggler-icon" />
          </button>
          <div id="main-menu" className={`collapse navbar-collapse${open ? ' show' : ''}`}>
            <ul className="navbar-nav me-auto">
              {links.map((l) => (
                <li className="nav-item" key={l.href}>
                  <Link
                    className={`nav-link${pathname === l.href ? ' active' : ''}`}
                    aria-current={pathname === l.href ? 'page' : undefined}
                    href={l.href}
                  >
                    {l.label}
                  </Link>
                </li>
              ))}
            </ul>
            <div className="d-flex flex-column flex-md-row align-items-md-center gap-2 pb-3 pb-md-0">
              {user ? (
                <>
                  <span className="navbar-text text-truncate user-email" title={user.email}>
                    Signed in as <strong>{user.email}</strong>
                  </span>
                  <button type="button" className="btn btn-outline-light btn-sm" onClick={signOut} disabled={signingOut}>
                    {signingOut ? 'Signing out…' : 'Sign out'}
                  </button>
                </>
              ) : (
                <>
                  <Link className="btn btn-outline-light btn-sm" href="/auth/signin">
                    Sign in
                  </Link>
                  <Link className="btn btn-warning btn-sm" href="/auth/signup">
                    Sign up
                  </Link>
                </>
              )}
            </div>
          </div>
        </div>
      </nav>
    </header>
  )
}
