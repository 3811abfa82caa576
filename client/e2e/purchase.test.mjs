// The storefront's main promises, in a real browser against the running
// system (BASE_URL). Each person has their own browser context and account.
import assert from 'node:assert/strict'

import { EVENTUAL_MS, eventually, listTicket, purchase, shot, signUp, stories, uniqueTitle } from './helpers.mjs'

// The expiry test waits for a real reservation window to run out; the system
// must run with a short ORDER_EXPIRATION_WINDOW (the local runner's test mode).
const MAX_EXPIRY_WAIT_MS = Number(process.env.E2E_MAX_EXPIRY_WAIT_MS ?? 150_000)

const story = stories()

function parseCountdown(text) {
  const parts = text.trim().split(':').map(Number)
  assert.ok(parts.length >= 2 && parts.every(Number.isFinite), `countdown reads "${text}"`)
  return parts.reduce((acc, n) => acc * 60 + n, 0) * 1000
}

const ticketLink = (page, title) => page.getByRole('link', { name: title, exact: true })

story('a seller lists a ticket, a buyer buys it with the test card, and it is sold', async (join) => {
  const seller = await join()
  const buyer = await join()
  const title = uniqueTitle('Arctic Monkeys, Row K')

  // The seller lists a ticket and sees it on the home page.
  await signUp(seller.page)
  const ticketId = await listTicket(seller.page, title, '25.50')
  await shot(seller.page, 'ticket-listed')
  await seller.page.goto('/')
  await ticketLink(seller.page, title).waitFor()
  await shot(seller.page, 'home')

  // A buyer finds it, opens it and purchases it.
  await signUp(buyer.page)
  await buyer.page.goto('/')
  await ticketLink(buyer.page, title).click()
  await buyer.page.waitForURL(`**/tickets/${ticketId}`)
  await buyer.page.getByText('$25.50').first().waitFor()
  await shot(buyer.page, 'ticket')
  await buyer.page.getByRole('button', { name: 'Purchase for $25.50' }).click()
  await buyer.page.waitForURL(/\/orders\/[^/]+$/)

  // The order page shows the amount and a countdown that ticks.
  assert.equal((await buyer.page.getByTestId('order-amount').textContent()).trim(), '$25.50')
  const timer = buyer.page.getByRole('timer')
  const first = await timer.textContent()
  assert.ok(parseCountdown(first) > 0, `countdown starts above zero, reads ${first}`)
  await buyer.page.waitForFunction((before) => document.querySelector('[role=timer]')?.textContent !== before, first, {
    timeout: 5_000,
  })
  assert.ok(parseCountdown(await timer.textContent()) < parseCountdown(first), 'the countdown went down')
  await shot(buyer.page, 'order')

  // Paying with the test card completes the order.
  await buyer.page.getByRole('button', { name: 'Pay $25.50 with test card' }).click()
  await buyer.page.getByTestId('order-complete').waitFor({ timeout: 30_000 })
  await assert.doesNotReject(buyer.page.getByText('Paid — the ticket is yours.').waitFor())
  assert.equal(await buyer.page.getByRole('timer').count(), 0, 'a paid order shows no countdown')
  await shot(buyer.page, 'order-complete')

  // The ticket is gone from the home page...
  await buyer.page.goto('/')
  await eventually(buyer.page, async () => (await ticketLink(buyer.page, title).count()) === 0, {
    what: 'the sold ticket to leave the home page',
  })

  // ...and the seller's listing says sold.
  await seller.page.goto('/listings')
  const listing = seller.page.getByTestId('listing').filter({ hasText: title })
  await eventually(seller.page, async () => (await listing.getAttribute('data-state')) === 'sold', {
    what: "the seller's listing to show sold",
  })
  assert.equal((await listing.locator('.badge').textContent()).trim(), 'Sold')
  await shot(seller.page, 'listings')

  // The buyer's orders list it as paid.
  await buyer.page.goto('/orders')
  const order = buyer.page.getByTestId('order').filter({ hasText: title })
  assert.equal(await order.getAttribute('data-phase'), 'complete')
  await shot(buyer.page, 'orders')
})

story('a second buyer cannot purchase a reserved ticket and is told why', async (join) => {
  const seller = await join()
  const first = await join()
  const second = await join()
  const title = uniqueTitle('Hamilton, Stalls B')

  await signUp(seller.page)
  const ticketId = await listTicket(seller.page, title, 80)
  await signUp(first.page)
  await signUp(second.page)

  // The second buyer has the page open while the ticket is still for sale.
  await second.page.goto(`/tickets/${ticketId}`)
  const secondButton = second.page.getByRole('button', { name: 'Purchase for $80.00' })
  await secondButton.waitFor()

  await purchase(first.page, ticketId)

  await secondButton.click()
  const alert = second.page.getByRole('alert').filter({ hasText: 'This ticket is already reserved by another buyer.' })
  await alert.waitFor()
  assert.match(await alert.textContent(), /goes back on sale/)
  assert.match(second.page.url(), new RegExp(`/tickets/${ticketId}$`), 'the second buyer stays on the ticket page')
  assert.equal(await second.page.getByRole('button', { name: /^Purchase/ }).count(), 0, 'no second attempt is offered')
  await shot(second.page, 'ticket-reserved-conflict')

  // Opened afresh once tickets knows of the reservation, the page says so and offers no purchase.
  await eventually(
    second.page,
    async () => (await second.page.getByText('This ticket is reserved by another buyer.').count()) === 1,
    { what: 'the ticket page to show the reservation' },
  )
  assert.equal(await second.page.getByRole('button', { name: /^Purchase/ }).count(), 0)
  await shot(second.page, 'ticket-reserved')
})

story('an unpaid order expires on the order page and the ticket is back for sale', async (join) => {
  const seller = await join()
  const buyer = await join()
  const title = uniqueTitle('Wimbledon Court 1')

  await signUp(seller.page)
  const ticketId = await listTicket(seller.page, title, 120)
  await signUp(buyer.page)
  const orderId = await purchase(buyer.page, ticketId)

  const left = parseCountdown(await buyer.page.getByRole('timer').textContent())
  assert.ok(
    left <= MAX_EXPIRY_WAIT_MS,
    `the reservation window is ${left / 1000}s; run the system with a short ORDER_EXPIRATION_WINDOW (e.g. 30s) for this test`,
  )

  // No reload: the open page itself notices the window close.
  const expired = buyer.page.getByTestId('order-expired')
  await expired.waitFor({ timeout: left + 15_000 })
  assert.match(await expired.textContent(), /This order expired\./)
  assert.equal(await buyer.page.getByRole('button', { name: /with test card/ }).count(), 0, 'nothing to pay')
  assert.equal(await buyer.page.getByRole('timer').count(), 0)
  await shot(buyer.page, 'order-expired')

  // The server agrees once the expiration service has cancelled the order, and
  // a fresh load of the page says the same.
  const deadline = Date.now() + EVENTUAL_MS
  let status
  while (Date.now() < deadline) {
    status = (await (await buyer.page.request.get(`/api/orders/${orderId}`)).json()).status
    if (status === 'cancelled') break
    await buyer.page.waitForTimeout(500)
  }
  assert.equal(status, 'cancelled', 'the expiration service cancelled the order')
  await buyer.page.reload()
  await buyer.page.getByTestId('order-expired').waitFor()

  // The ticket is for sale again: on the home page, and purchasable.
  await buyer.page.goto('/')
  await eventually(buyer.page, async () => (await ticketLink(buyer.page, title).count()) === 1, {
    what: 'the released ticket to be back on the home page',
  })
  await buyer.page.goto(`/tickets/${ticketId}`)
  await buyer.page.getByRole('button', { name: 'Purchase for $120.00' }).waitFor()
  await seller.page.goto('/listings')
  const listing = seller.page.getByTestId('listing').filter({ hasText: title })
  await eventually(seller.page, async () => (await listing.getAttribute('data-state')) === 'for-sale', {
    what: "the seller's listing to be for sale again",
  })
})
