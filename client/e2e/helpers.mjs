// Shared set-up for the browser tests: Debian's Chromium driven by
// playwright-core, against the running system at BASE_URL (the gateway that
// serves the client and the APIs on one origin).
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

import { after, before, test } from 'node:test'

import { chromium } from 'playwright-core'

export const BASE_URL = (process.env.BASE_URL ?? '').replace(/\/+$/, '')
if (!BASE_URL) {
  throw new Error('BASE_URL is required: the URL the local runner prints, e.g. BASE_URL=http://127.0.0.1:8080')
}

export const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots')
mkdirSync(SCREENSHOTS, { recursive: true })

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

// E2E_IGNORE_HTTPS_ERRORS=1 accepts a certificate no CA vouches for: the
// deployment workflow's throwaway self-signed one for ticketing.dev.
const IGNORE_HTTPS_ERRORS = process.env.E2E_IGNORE_HTTPS_ERRORS === '1'

// How long the system may take to carry an event from one service to the
// next (reserved, sold, released) before a test gives up.
export const EVENTUAL_MS = Number(process.env.E2E_EVENTUAL_MS ?? 20_000)

/** launch starts a headless Chromium with a fresh, throwaway profile. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  })
}

export const DESKTOP = { width: 1280, height: 860 }
export const PHONE = { width: 390, height: 844 }

/**
 * person opens a browser context of its own (its own cookies: one person, one
 * session) and reports any page error or failed request to the console, so a
 * failing test says what the page saw.
 */
export async function person(browser, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ baseURL: BASE_URL, viewport, deviceScaleFactor: 1, ignoreHTTPSErrors: IGNORE_HTTPS_ERRORS })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`))
  page.on('console', (msg) => {
    // An API answering 4xx is logged by the browser as a failed resource; the
    // tests assert on what the page shows instead.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      console.error(`[console error] ${page.url()}: ${msg.text()}`)
    }
  })
  return { context, page }
}

export function uniqueEmail(role) {
  return `${role}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}@example.test`
}

export function uniqueTitle(what) {
  return `${what} ${randomBytes(3).toString('hex').toUpperCase()}`
}

export const PASSWORD = 'correct horse battery'

/** signUp creates an account through the sign-up page and waits to be signed in. */
export async function signUp(page, email = uniqueEmail('user'), password = PASSWORD) {
  await page.goto('/auth/signup')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Create account' }).click()
  // Attached rather than visible: on a phone the header folds it into the menu.
  await page.getByText(`Signed in as ${email}`).waitFor({ state: 'attached' })
  return email
}

/** listTicket sells a ticket through the sell page and returns its id. */
export async function listTicket(page, title, price) {
  await page.goto('/tickets/new')
  await page.getByLabel('Event').fill(title)
  await page.getByLabel('Price').fill(String(price))
  await page.getByRole('button', { name: 'List ticket for sale' }).click()
  await page.waitForURL(/\/tickets\/[^/?]+\?listed=1$/)
  await page.getByRole('heading', { level: 1, name: title }).waitFor()
  return new URL(page.url()).pathname.split('/').pop()
}

/** purchase reserves a ticket from its page and returns the order id. */
export async function purchase(page, ticketId) {
  await page.goto(`/tickets/${ticketId}`)
  await page.getByRole('button', { name: /^Purchase for/ }).click()
  await page.waitForURL(/\/orders\/[^/?]+$/)
  return new URL(page.url()).pathname.split('/').pop()
}

/**
 * eventually reloads the page until check() passes: the system is eventually
 * consistent (tickets learns of an order through an event), so a page may
 * need a moment to reflect what just happened.
 */
export async function eventually(page, check, { timeout = EVENTUAL_MS, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let lastError
  for (;;) {
    try {
      if (await check()) return
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`)
    }
    await page.waitForTimeout(500)
    await page.reload()
  }
}

export async function shot(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage })
}

/**
 * scenario runs one test's story with a cast of people (browser contexts). If
 * it fails, every person's page is saved as failed-<test>-<n>.png, showing
 * what each of them saw; either way their contexts are closed.
 */
export function scenario(browser, name, story) {
  return async () => {
    const cast = []
    const join = async (options) => {
      const p = await person(browser(), options)
      cast.push(p)
      return p
    }
    try {
      await story(join)
    } catch (err) {
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40)
      for (const [i, p] of cast.entries()) {
        await p.page.screenshot({ path: path.join(SCREENSHOTS, `failed-${slug}-${i + 1}.png`), fullPage: true }).catch(() => {})
        console.error(`[failed] person ${i + 1} was at ${p.page.url()}`)
      }
      throw err
    } finally {
      for (const p of cast) await p.context.close().catch(() => {})
    }
  }
}

/**
 * stories gives a test file one browser, launched before its first test and
 * closed after its last, and returns story(name, fn): a test acted by the
 * people fn lets join (see scenario).
 */
export function stories() {
  let browser
  before(async () => {
    browser = await launch()
  })
  after(async () => {
    await browser?.close()
  })
  return (name, fn) => test(name, scenario(() => browser, name, fn))
}
