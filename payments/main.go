// Command payments charges buyers through Stripe for the orders they reserved,
// and refunds a payment that arrives for an order cancelled meanwhile.
package main

import (
	"ticketing.dev/common/server"
	"ticketing.dev/payments/internal/app"
)

func main() { server.Main("payments", app.Service.Run) }
