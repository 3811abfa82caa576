// Command orders owns orders (reservations) and its own replica of tickets.
package main

import (
	"ticketing.dev/common/server"
	"ticketing.dev/orders/internal/app"
)

func main() { server.Main("orders", app.Service.Run) }
