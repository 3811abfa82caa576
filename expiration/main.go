// Command expiration lapses unpaid orders: it holds one delayed job per open
// order and announces expiration:complete when the job comes due.
package main

import (
	"ticketing.dev/common/server"
	"ticketing.dev/expiration/internal/app"
)

func main() { server.Main("expiration", app.Service.Run) }
