// Forms, errors, sign-in redirects, keyboard use and phone-sized screens.
import assert from 'node:assert/strict'

import { PASSWORD, PHONE, shot, signUp, stories, uniqueEmail, uniqueTitle } from './helpers.mjs'

const story = stories()

/**
 * fieldError is the error shown for one input, checked to be the one the
 * input itself points at (aria-describedby) and marked invalid.
 */
async function fieldError(page, label) {
  const input = page.getByLabel(label, { exact: true })
  await page.waitForFunction(
    (id) => document.getElementById(id)?.getAttribute('aria-invalid') === 'true',
    await input.getAttribute('id'),
  )
  const describedBy = (await input.getAttribute('aria-describedby')) ?? ''
  const errorId = describedBy.split(' ').find((id) => id.endsWith('-error'))
  assert.ok(errorId, `${label} is described by its error`)
  return (await page.locator(`#${errorId}`).textContent()).trim()
}

story('validation errors from the API appear next to the field they name', async (join) => {
  const { context, page } = await join()

  // Sign-up: the API rejects both fields; each message sits under its own input.
  await page.goto('/auth/signup')
  await page.getByLabel('Email').fill('not-an-email')
  await page.getByLabel('Password').fill('short')
  await page.getByRole('button', { name: 'Create account' }).click()
  const emailError = await fieldError(page, 'Email')
  const passwordError = await fieldError(page, 'Password')
  assert.match(emailError, /email/i)
  assert.match(passwordError, /8|characters|short|least/i)
  assert.notEqual(emailError, passwordError)
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'field-email', 'focus moves to the first field in error')
  await shot(page, 'signup-errors')

  // An email already in use is a page-level message (the API names no field).
  const email = uniqueEmail('taken')
  await signUp(page, email)
  await context.clearCookies()
  await page.goto('/auth/signup')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('alert').filter({ hasText: /in use/i }).waitFor()

  // Wrong credentials: one page-level message, no field blamed.
  await page.goto('/auth/signin')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill('wrong password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').filter({ hasText: /invalid credentials/i }).waitFor()
  assert.equal(await page.locator('[aria-invalid=true]').count(), 0)

  // Selling: an empty title and a negative price are each reported by the
  // tickets API next to their own field.
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByText(`Signed in as ${email}`).waitFor()
  await page.goto('/tickets/new')
  await page.getByLabel('Price').fill('-5')
  await page.getByRole('button', { name: 'List ticket for sale' }).click()
  const titleError = await fieldError(page, 'Event')
  const priceError = await fieldError(page, 'Price')
  assert.ok(titleError.length > 0)
  assert.ok(priceError.length > 0)
  assert.notEqual(titleError, priceError)
  assert.match(page.url(), /\/tickets\/new$/, 'nothing was listed')
  await shot(page, 'sell-errors')

  // A price that is not a number at all is caught before any request.
  await page.getByLabel('Event').fill('Something')
  await page.getByLabel('Price').fill('twenty')
  await page.getByRole('button', { name: 'List ticket for sale' }).click()
  assert.match(await fieldError(page, 'Price'), /number/)
})

story('a signed-out visitor is sent to sign in and then back where they were going', async (join) => {
  const { context, page } = await join()
  const email = await signUp(page)
  await context.clearCookies()

  for (const path of ['/orders', '/listings', '/tickets/new']) {
    await page.goto(path)
    await page.waitForURL(`**/auth/signin?next=${encodeURIComponent(path)}`)
  }
  await page.goto('/orders')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL('**/orders')
  await page.getByRole('heading', { level: 1, name: 'My orders' }).waitFor()
  await page.getByText('No orders yet').waitFor()
  await shot(page, 'orders-empty')

  // A next= pointing at another site is ignored.
  await context.clearCookies()
  await page.goto(`/auth/signin?next=${encodeURIComponent('//evil.example/')}`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByText(`Signed in as ${email}`).waitFor()
  assert.equal(new URL(page.url()).pathname, '/')

  // Signing out from the header ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('link', { name: 'Sign in' }).waitFor()
  await page.goto('/orders')
  await page.waitForURL(/\/auth\/signin/)
})

story('the keyboard alone can sign up and list a ticket', async (join) => {
  const { page } = await join()
  await page.goto('/')

  // The first Tab reaches the skip link, which moves focus to the content.
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to main content')

  await page.goto('/auth/signup')
  // The email field has focus on arrival.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'field-email')
  const email = uniqueEmail('keys')
  await page.keyboard.type(email)
  await page.keyboard.press('Tab')
  await page.keyboard.type(PASSWORD)
  await page.keyboard.press('Enter')
  await page.getByText(`Signed in as ${email}`).waitFor()

  await page.goto('/tickets/new')
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'field-title')
  const title = uniqueTitle('Keyboard Cats, Balcony')
  await page.keyboard.type(title)
  await page.keyboard.press('Tab')
  await page.keyboard.type('12')
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { level: 1, name: title }).waitFor()
})

story('a phone-sized screen shows every page without sideways scrolling', async (join) => {
  const { page } = await join({ viewport: PHONE })
  const noSideScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)

  await page.goto('/')
  assert.ok(await noSideScroll(), 'home fits')
  // The links fold behind a menu button that says whether it is open.
  const menu = page.getByRole('button', { name: 'Open menu' })
  assert.equal(await menu.getAttribute('aria-expanded'), 'false')
  await menu.click()
  assert.equal(await page.getByRole('button', { name: 'Close menu' }).getAttribute('aria-expanded'), 'true')
  await page.getByRole('link', { name: 'Sign up' }).waitFor()
  await shot(page, 'phone-menu', { fullPage: false })

  const email = await signUp(page)
  assert.ok(email)
  for (const path of ['/', '/tickets/new', '/listings', '/orders']) {
    await page.goto(path)
    assert.ok(await noSideScroll(), `${path} fits a phone`)
  }
  await page.goto('/')
  await shot(page, 'phone-home')
})
